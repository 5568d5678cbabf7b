import SluiceCore

/// Removing one top-level member from a JSON object's bytes, leaving every other byte as
/// it was (for providers that refuse a field the client's body carries).
enum JSONMemberRemoval {
    /// `body` without its top-level member `key` (every occurrence); `body` unchanged when
    /// it has none or is not a JSON object.
    static func removing(_ key: String, from body: [UInt8]) -> [UInt8] {
        guard let members = try? JSONScanner.topLevelMembers(of: body) else { return body }
        var out = body
        // From the last to the first, so earlier ranges stay valid.
        for index in members.indices.reversed() where members[index].key == key {
            guard let keyStart = keyStart(before: members[index].range.lowerBound, in: out) else { continue }
            if index > 0 {
                // `, "key": value` after the previous member's value.
                out.removeSubrange(members[index - 1].range.upperBound..<members[index].range.upperBound)
            } else {
                var end = members[index].range.upperBound
                var cursor = skipWhitespace(from: end, in: out)
                if cursor < out.count, out[cursor] == UInt8(ascii: ",") {
                    cursor = skipWhitespace(from: cursor + 1, in: out)
                    end = cursor
                }
                out.removeSubrange(keyStart..<end)
            }
        }
        return out
    }

    /// Where the quoted key of the member whose value starts at `valueStart` begins.
    private static func keyStart(before valueStart: Int, in bytes: [UInt8]) -> Int? {
        var cursor = valueStart - 1
        while cursor >= 0, isWhitespace(bytes[cursor]) { cursor -= 1 }
        guard cursor >= 0, bytes[cursor] == UInt8(ascii: ":") else { return nil }
        cursor -= 1
        while cursor >= 0, isWhitespace(bytes[cursor]) { cursor -= 1 }
        guard cursor >= 0, bytes[cursor] == UInt8(ascii: "\"") else { return nil }
        cursor -= 1
        while cursor >= 0 {
            if bytes[cursor] == UInt8(ascii: "\"") {
                var backslashes = 0
                while cursor - backslashes - 1 >= 0, bytes[cursor - backslashes - 1] == UInt8(ascii: "\\") { backslashes += 1 }
                if backslashes % 2 == 0 { return cursor }
            }
            cursor -= 1
        }
        return nil
    }

    private static func skipWhitespace(from start: Int, in bytes: [UInt8]) -> Int {
        var cursor = start
        while cursor < bytes.count, isWhitespace(bytes[cursor]) { cursor += 1 }
        return cursor
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
