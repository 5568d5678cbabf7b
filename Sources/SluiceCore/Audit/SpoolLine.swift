import Crypto

/// One line of the local audit spool: the exact `AuditScripts.append` call (keys and
/// arguments) that could not reach Redis, with a checksum so a torn or damaged line is
/// recognised and skipped instead of replayed.
///
/// Format: `<first 16 hex of SHA-256 of the rest> <key count> <JSON array of strings>\n`.
public enum SpoolLine {
    public static func encode(keys: [String], arguments: [String]) -> String {
        let body = String(keys.count) + " [" + (keys + arguments).map(JSONText.quoted).joined(separator: ",") + "]"
        return checksum(body) + " " + body + "\n"
    }

    /// The call a line holds; `nil` for a torn, altered or malformed line.
    public static func decode(_ line: Substring) -> (keys: [String], arguments: [String])? {
        guard line.count > 17, let space = line.firstIndex(of: " ") else { return nil }
        let body = line[line.index(after: space)...]
        guard line[..<space] == checksum(String(body)), let countEnd = body.firstIndex(of: " "),
              let keyCount = Int(body[..<countEnd]) else { return nil }
        let bytes = Array(body[body.index(after: countEnd)...].utf8)
        guard (try? JSONScanner.topLevelMembers(of: Array("{\"a\":".utf8) + bytes + Array("}".utf8))) != nil else { return nil }
        let items = JSONScanner.elements(of: 0..<bytes.count, in: bytes)
        guard items.allSatisfy({ $0.kind == .string }), items.count >= keyCount else { return nil }
        let strings = items.map { JSONScanner.decodeString(at: $0.range, in: bytes) }
        return (Array(strings[..<keyCount]), Array(strings[keyCount...]))
    }

    static func checksum(_ text: String) -> String {
        Hex.lower(SHA256.hash(data: Array(text.utf8)).prefix(8))
    }
}
