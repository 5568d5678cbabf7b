/// Building URL paths from values (model ids, deployment names) that may hold `:` or `/`.
public enum URLPath {
    /// `value` as one path segment: every byte except the unreserved `A-Z a-z 0-9 - _ . ~`
    /// percent-encoded, so `anthropic.claude-v2:1` becomes `anthropic.claude-v2%3A1` and an
    /// ARN's `/` stays inside the segment (`%2F`), as the AWS SDKs send model ids.
    public static func segment(_ value: String) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                 UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
