/// JSON text written straight into UTF-8 bytes, for the one document made on every call
/// (the audit record, `AuditRecord.json`): one buffer sized first, no intermediate strings.
/// Its string escaper is also `JSONText.appendString`'s, for strings that need escaping.
public struct JSONBytes {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int) {
        bytes.reserveCapacity(capacity)
    }

    /// The text made so far.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Appends `text` as it is (already JSON: punctuation, a key with its quotes, a literal).
    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends `text` as it is (already JSON).
    public mutating func raw(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// Appends `value` as a JSON string literal, quotes included.
    public mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            // Most values (ids, names, numbers as text) need no escaping: copied whole.
            guard utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
                bytes.append(contentsOf: utf8)
                return
            }
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\""): raw("\\\"")
                case UInt8(ascii: "\\"): raw("\\\\")
                case UInt8(ascii: "\n"): raw("\\n")
                case UInt8(ascii: "\r"): raw("\\r")
                case UInt8(ascii: "\t"): raw("\\t")
                case 0..<0x20:
                    raw("\\u00")
                    bytes.append(Self.hexDigits[Int(byte >> 4)])
                    bytes.append(Self.hexDigits[Int(byte & 0xf)])
                default: bytes.append(byte)  // any other byte of UTF-8, as it is
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends `value` in decimal.
    public mutating func int(_ value: Int) {
        int(Int64(value))
    }

    /// Appends `value` in decimal.
    public mutating func int(_ value: Int64) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        Self.appendDecimal(value.magnitude, to: &bytes)
    }

    /// Appends `value` in decimal to `out`, most significant digit first (no string, and no
    /// reversal of a slice, which would copy it).
    public static func appendDecimal(_ value: UInt64, to out: inout [UInt8]) {
        guard value >= 10 else { return out.append(UInt8(ascii: "0") + UInt8(value)) }
        var divisor: UInt64 = 10
        while divisor <= value / 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    /// Appends `value` (≥ 0) in decimal, zero-padded to `width` digits.
    public mutating func padded(_ value: Int64, width: Int) {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        for _ in digits..<max(digits, width) { bytes.append(UInt8(ascii: "0")) }
        int(value)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}
