/// A strict (RFC 8259) validating JSON scanner that does not build a tree.
///
/// The gateway must check a request body's shape and swap its `model` value, but
/// must not re-encode a body that otherwise passes through untouched. The scanner
/// validates the whole document once and records where each top-level member's
/// value lies in the original bytes, so a caller can read the few fields it needs
/// and splice in a new value.
public struct JSONScanner {
    /// The kind of a JSON value.
    public enum Kind: String, Sendable {
        case object, array, string, number, bool, null
    }

    /// One member of an object: its decoded key and where its value lies.
    public struct Member: Sendable {
        public let key: String
        public let kind: Kind
        /// Byte range of the value's text (for strings, including the quotes).
        public let range: Range<Int>
    }

    /// Why a document is not valid JSON.
    public struct SyntaxError: Error, Sendable, CustomStringConvertible {
        public let offset: Int
        public let reason: String
        public var description: String { "\(reason) at byte \(offset)" }
    }

    private let bytes: [UInt8]
    private var index = 0
    private let maxDepth: Int

    /// Validates `bytes` as one JSON object and returns its top-level members in order.
    public static func topLevelMembers(of bytes: [UInt8], maxDepth: Int = 64) throws(SyntaxError) -> [Member] {
        try scanDocument(bytes, maxDepth: maxDepth, collect: true)
    }

    /// Validates `bytes` as one JSON object, keeping nothing of it (no member list, no keys).
    public static func validateObject(_ bytes: [UInt8], maxDepth: Int = 64) throws(SyntaxError) {
        _ = try scanDocument(bytes, maxDepth: maxDepth, collect: false)
    }

    private static func scanDocument(_ bytes: [UInt8], maxDepth: Int, collect: Bool) throws(SyntaxError) -> [Member] {
        var scanner = JSONScanner(bytes: bytes, maxDepth: maxDepth)
        scanner.skipWhitespace()
        guard scanner.peek() == UInt8(ascii: "{") else {
            throw SyntaxError(offset: scanner.index, reason: "expected a JSON object")
        }
        let members = try scanner.scanObject(depth: 1, collect: collect)
        scanner.skipWhitespace()
        guard scanner.index == bytes.count else {
            throw SyntaxError(offset: scanner.index, reason: "unexpected text after the JSON value")
        }
        return members
    }

    /// The members of an object value found earlier in the same (already validated) bytes.
    public static func members(of range: Range<Int>, in bytes: [UInt8]) -> [Member] {
        var scanner = JSONScanner(bytes: bytes, maxDepth: Int.max)
        scanner.index = range.lowerBound
        return (try? scanner.scanObject(depth: 1, collect: true)) ?? []
    }

    /// The elements of an array value found earlier in the same (already validated) bytes.
    public static func elements(of range: Range<Int>, in bytes: [UInt8]) -> [(kind: Kind, range: Range<Int>)] {
        var scanner = JSONScanner(bytes: bytes, maxDepth: Int.max)
        scanner.index = range.lowerBound
        var elements: [(kind: Kind, range: Range<Int>)] = []
        guard scanner.peek() == UInt8(ascii: "[") else { return [] }
        scanner.index += 1
        scanner.skipWhitespace()
        if scanner.peek() == UInt8(ascii: "]") { return [] }
        while scanner.index < range.upperBound {
            scanner.skipWhitespace()
            let start = scanner.index
            guard let kind = try? scanner.scanValue(depth: 1) else { return elements }
            elements.append((kind, start..<scanner.index))
            scanner.skipWhitespace()
            guard scanner.peek() == UInt8(ascii: ",") else { break }
            scanner.index += 1
        }
        return elements
    }

    /// Decodes the string value at `range` (quotes included) of already validated bytes.
    public static func decodeString(at range: Range<Int>, in bytes: [UInt8]) -> String {
        var scanner = JSONScanner(bytes: bytes, maxDepth: Int.max)
        scanner.index = range.lowerBound
        return (try? scanner.scanString(decode: true)) ?? ""
    }

    private init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func fail(_ reason: String) -> SyntaxError { SyntaxError(offset: index, reason: reason) }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(SyntaxError) {
        guard peek() == byte else { throw fail("expected \(what)") }
        index += 1
    }

    @discardableResult
    private mutating func scanValue(depth: Int) throws(SyntaxError) -> Kind {
        skipWhitespace()
        guard let byte = peek() else { throw fail("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"): _ = try scanObject(depth: depth + 1, collect: false); return .object
        case UInt8(ascii: "["): try scanArray(depth: depth + 1); return .array
        case UInt8(ascii: "\""): _ = try scanString(decode: false); return .string
        case UInt8(ascii: "t"): try scanLiteral("true"); return .bool
        case UInt8(ascii: "f"): try scanLiteral("false"); return .bool
        case UInt8(ascii: "n"): try scanLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try scanNumber(); return .number
        default: throw fail("unexpected character")
        }
    }

    private mutating func scanObject(depth: Int, collect: Bool) throws(SyntaxError) -> [Member] {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth) levels") }
        try expect(UInt8(ascii: "{"), "'{'")
        var members: [Member] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "}") { index += 1; return members }
        // Room for a typical object's members at once, not four reallocations growing to it.
        if collect { members.reserveCapacity(8) }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw fail("expected a member name") }
            let key = try scanString(decode: collect)
            skipWhitespace()
            try expect(UInt8(ascii: ":"), "':'")
            skipWhitespace()
            let start = index
            let kind = try scanValue(depth: depth)
            if collect { members.append(Member(key: key, kind: kind, range: start..<index)) }
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return members
            default: throw fail("expected ',' or '}'")
            }
        }
    }

    private mutating func scanArray(depth: Int) throws(SyntaxError) {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth) levels") }
        try expect(UInt8(ascii: "["), "'['")
        skipWhitespace()
        if peek() == UInt8(ascii: "]") { index += 1; return }
        while true {
            try scanValue(depth: depth)
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return
            default: throw fail("expected ',' or ']'")
            }
        }
    }

    private mutating func scanLiteral(_ word: String) throws(SyntaxError) {
        for expected in word.utf8 {
            guard peek() == expected else { throw fail("invalid literal") }
            index += 1
        }
    }

    private mutating func scanNumber() throws(SyntaxError) {
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), isDigit(first) else { throw fail("invalid number") }
        if first == UInt8(ascii: "0") { index += 1 } else { skipDigits() }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard let next = peek(), isDigit(next) else { throw fail("invalid number") }
            skipDigits()
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard let next = peek(), isDigit(next) else { throw fail("invalid number") }
            skipDigits()
        }
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func skipDigits() {
        while let byte = peek(), isDigit(byte) { index += 1 }
    }

    /// Scans a string starting at its opening quote; decodes it when asked.
    private mutating func scanString(decode: Bool) throws(SyntaxError) -> String {
        try expect(UInt8(ascii: "\""), "'\"'")
        let start = index
        var plain = true
        while true {
            guard index < bytes.count else { throw fail("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { throw fail("control character in string") }
            if byte == UInt8(ascii: "\\") {
                plain = false
                index += 1
                guard let escape = peek() else { throw fail("unterminated string") }
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    guard index + 4 < bytes.count else { throw fail("invalid unicode escape") }
                    for offset in 1...4 where hexValue(bytes[index + offset]) == nil {
                        throw fail("invalid unicode escape")
                    }
                    index += 5
                default: throw fail("invalid escape")
                }
                continue
            }
            if byte >= 0x80 { plain = false }
            index += 1
        }
        let end = index
        index += 1
        guard decode else {
            // RFC 8259 §8.1: text is UTF-8. Escapes are ASCII, so the raw bytes validate as they are.
            if !plain && String(validating: bytes[start..<end], as: UTF8.self) == nil {
                throw SyntaxError(offset: start, reason: "invalid UTF-8 in string")
            }
            return ""
        }
        if plain { return String(decoding: bytes[start..<end], as: UTF8.self) }
        return try decodeEscaped(bytes[start..<end])
    }

    private func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// The byte a one-character escape stands for: `n` → line feed, `"` → `"`…
    public static func unescaped(_ escape: UInt8) -> UInt8 {
        switch escape {
        case UInt8(ascii: "b"): 0x08
        case UInt8(ascii: "f"): 0x0C
        case UInt8(ascii: "n"): 0x0A
        case UInt8(ascii: "r"): 0x0D
        case UInt8(ascii: "t"): 0x09
        default: escape
        }
    }

    private func decodeEscaped(_ slice: ArraySlice<UInt8>) throws(SyntaxError) -> String {
        guard String(validating: slice, as: UTF8.self) != nil else { throw fail("invalid UTF-8 in string") }
        var out: [UInt8] = []
        out.reserveCapacity(slice.count)
        var i = slice.startIndex
        var pendingHigh: UInt32?
        func hex4(at position: Int) -> UInt32 {
            (0..<4).reduce(0) { ($0 << 4) | (hexValue(slice[position + $1]) ?? 0) }
        }
        func appendScalar(_ value: UInt32, to out: inout [UInt8]) {
            let scalar = Unicode.Scalar(value) ?? "\u{FFFD}"
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        }
        while i < slice.endIndex {
            let byte = slice[i]
            guard byte == UInt8(ascii: "\\") else {
                if let high = pendingHigh { appendScalar(high, to: &out); pendingHigh = nil }
                out.append(byte); i += 1; continue
            }
            let escape = slice[i + 1]
            if escape == UInt8(ascii: "u") {
                let value = hex4(at: i + 2)
                i += 6
                if (0xD800...0xDBFF).contains(value) {
                    if let high = pendingHigh { appendScalar(high, to: &out) }
                    pendingHigh = value
                } else if (0xDC00...0xDFFF).contains(value), let high = pendingHigh {
                    appendScalar(0x10000 + ((high - 0xD800) << 10) + (value - 0xDC00), to: &out)
                    pendingHigh = nil
                } else {
                    if let high = pendingHigh { appendScalar(high, to: &out); pendingHigh = nil }
                    appendScalar(value, to: &out)
                }
                continue
            }
            if let high = pendingHigh { appendScalar(high, to: &out); pendingHigh = nil }
            out.append(Self.unescaped(escape))
            i += 2
        }
        if let high = pendingHigh { appendScalar(high, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }
}
