/// Lower-case hexadecimal text of bytes (digests, checksums).
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// `bytes` as lower-case hex, two digits a byte.
    public static func lower<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        // A digest says nothing of its length (`underestimatedCount` 0): room for 32 bytes
        // (SHA-256) up front, not six reallocations on the way there.
        out.reserveCapacity(max(bytes.underestimatedCount, 32) * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
