/// Writing JSON text by hand, for the few small bodies the gateway makes itself
/// (errors, model lists). Bodies that pass through are never re-encoded.
public enum JSONText {
    /// Appends `value` as a JSON string literal (quotes included) to `out`.
    public static func appendString(_ value: String, to out: inout String) {
        // Most values (ids, names, numbers as text) need no escaping: copied whole.
        guard value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
            out.append("\"")
            out.append(value)
            out.append("\"")
            return
        }
        // The rest by the escaper the audit record's bytes use (`JSONBytes.string`).
        var bytes = JSONBytes(capacity: value.utf8.count + 16)
        bytes.string(value)
        out.append(bytes.text)
    }

    /// `value` as a JSON string literal.
    public static func quoted(_ value: String) -> String {
        var out = ""
        appendString(value, to: &out)
        return out
    }
}
