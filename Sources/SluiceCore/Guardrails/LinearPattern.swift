import CRE2

/// An operator's guardrail pattern: a POSIX extended regular expression, case-insensitive,
/// compiled once with RE2, which matches in time linear in the text whatever the pattern
/// (no backtracking, no restart per position). Back-references are refused: they need
/// backtracking.
public final class LinearPattern: @unchecked Sendable {
    private let regex: OpaquePointer

    /// Nil when `pattern` is not an expression RE2 accepts in POSIX syntax.
    public init?(_ pattern: String) {
        var source = Array(pattern.utf8)
        guard let regex = source.withUnsafeMutableBufferPointer({ buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(buffer.count, 1)) {
                sluice_re2_new($0, buffer.count, 1)
            }
        }) else { return nil }
        self.regex = regex
    }

    deinit { sluice_re2_free(regex) }

    /// Why `pattern` cannot be used, or nil.
    public static func problem(_ pattern: String) -> String? {
        let bytes = Array(pattern.utf8)
        for index in bytes.indices.dropLast() where bytes[index] == UInt8(ascii: "\\") {
            if (49...57).contains(bytes[index + 1]) { return "back-references are not allowed (they need backtracking)" }
        }
        guard let compiled = LinearPattern(pattern) else { return "not a valid POSIX extended regular expression" }
        // A pattern that matches nothing at all would be tried at every byte, finding nothing.
        if compiled.matchesEmpty { return "matches the empty string (it would find nothing; use + rather than *)" }
        return nil
    }

    /// The pattern matches the empty text.
    var matchesEmpty: Bool {
        var start = 0, end = 0
        return "".withCString { sluice_re2_find(regex, $0, 0, 0, &start, &end) != 0 }
    }

    /// Every non-overlapping, non-empty match in `text`, leftmost first (at most `limit` tries).
    public func matches(in text: UnsafeRawBufferPointer, limit: Int = 10_000) -> [Range<Int>] {
        guard let base = text.baseAddress?.assumingMemoryBound(to: CChar.self) else { return [] }
        var found: [Range<Int>] = []
        var offset = 0, start = 0, end = 0, tries = 0
        while offset <= text.count, tries < limit, sluice_re2_find(regex, base, text.count, offset, &start, &end) != 0 {
            tries += 1
            if end > start { found.append(start..<end) }
            offset = max(end, start + 1)
        }
        return found
    }
}
