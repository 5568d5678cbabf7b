/// `guardrails:` of a route: checks of the text of requests and answers, each blocking,
/// masking or only logging what it finds.
public struct GuardrailConfig: Sendable, Equatable {
    public enum Action: String, Sendable, CaseIterable { case block, mask, log }
    public enum Direction: String, Sendable, CaseIterable { case request, response, both }

    /// A webhook classifier (`kind: webhook`): called with the text only.
    public struct Webhook: Sendable, Equatable {
        public var url: String
        public var timeout: Duration
        /// What a failing webhook (no answer, an error status, a body it cannot read) means.
        public var failOpen: Bool

        public init(url: String, timeout: Duration = .seconds(2), failOpen: Bool = false) {
            self.url = url
            self.timeout = timeout
            self.failOpen = failOpen
        }
    }

    public var name: String
    public var detectors: [Detector] = []
    /// Whole words or phrases, matched case-insensitively (ASCII).
    public var words: [String] = []
    /// Topic name → keywords (matched like `words`; the finding names the topic).
    public var topics: [(name: String, keywords: [String])] = []
    /// POSIX extended regular expressions (no back-references: matched without backtracking).
    public var patterns: [String] = []
    public var webhook: Webhook?
    public var action: Action = .block
    /// With `mask`: the answer gets the original values back in place of the placeholders.
    public var restore = false
    public var applyTo: Direction = .both

    public init(name: String) {
        self.name = name
    }

    public var checksRequests: Bool { applyTo != .response }
    public var checksResponses: Bool { applyTo != .request }

    public static func == (lhs: GuardrailConfig, rhs: GuardrailConfig) -> Bool {
        lhs.name == rhs.name && lhs.detectors == rhs.detectors && lhs.words == rhs.words && lhs.patterns == rhs.patterns
            && lhs.topics.map(\.name) == rhs.topics.map(\.name) && lhs.topics.map(\.keywords) == rhs.topics.map(\.keywords)
            && lhs.webhook == rhs.webhook && lhs.action == rhs.action && lhs.restore == rhs.restore && lhs.applyTo == rhs.applyTo
    }
}

/// What a guardrail found: which guardrail, what kind (`email`, `word`, `topic:medical`,
/// `pattern`, `webhook`), and where in the scanned bytes. Never the text itself.
public struct GuardrailFinding: Sendable, Equatable {
    public var guardrail: String
    public var kind: String
    public var range: Range<Int>

    public init(guardrail: String, kind: String, range: Range<Int>) {
        self.guardrail = guardrail
        self.kind = kind
        self.range = range
    }
}

/// The text a guardrail reads in a JSON body: the string values of members that carry
/// content (`content`, `text`, `input`, `prompt`, `system`, `instructions`, `arguments`,
/// `thinking`…), at any depth, and every string value inside the object of an `input` or
/// `arguments` member (a tool call's), as byte ranges of the raw body (escapes kept). Keys, ids,
/// roles, model names and base64 data members are not read. One pass.
public enum GuardrailText {
    static let textKeys: Set<String> = ["content", "text", "input", "prompt", "system", "instructions", "arguments",
                                        "thinking", "query", "document", "message", "description", "output", "delta",
                                        "partial_json"]
    /// Text keys whose object value is a tool call's arguments: all its string values are text.
    static let objectTextKeys: Set<String> = ["input", "arguments"]

    public static func ranges(in body: UnsafeRawBufferPointer) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var index = 0
        var lastKey: [UInt8] = []
        var valueOfTextKey = false
        var valueOfObjectTextKey = false
        // Inside an array that is the value of a text key (`"input": ["a", "b"]`).
        var arrayDepthOfText: Int? = nil
        // Inside an object that is the value of a text key (a tool call's `"input": {…}`):
        // every string value in it, at any depth, is text.
        var objectDepthOfText: Int? = nil
        var depth = 0
        while index < body.count {
            let c = body[index]
            if c == UInt8(ascii: "\"") {
                let start = index + 1
                var end = start
                while end < body.count, body[end] != UInt8(ascii: "\"") {
                    end += body[end] == UInt8(ascii: "\\") ? 2 : 1
                }
                guard end < body.count else { break }
                var after = end + 1
                while after < body.count, [0x20, 0x09, 0x0A, 0x0D].contains(body[after]) { after += 1 }
                if after < body.count, body[after] == UInt8(ascii: ":") {
                    lastKey = Array(body[start..<end])
                    let key = String(decoding: lastKey, as: UTF8.self)
                    valueOfTextKey = textKeys.contains(key)
                    valueOfObjectTextKey = objectTextKeys.contains(key)
                } else if valueOfTextKey || arrayDepthOfText == depth || objectDepthOfText != nil {
                    if end > start { ranges.append(start..<end) }
                    valueOfTextKey = false; valueOfObjectTextKey = false
                }
                index = end + 1
                continue
            }
            switch c {
            case UInt8(ascii: "["):
                depth += 1
                if valueOfTextKey && arrayDepthOfText == nil { arrayDepthOfText = depth }
                valueOfTextKey = false; valueOfObjectTextKey = false
            case UInt8(ascii: "]"):
                if arrayDepthOfText == depth { arrayDepthOfText = nil }
                depth -= 1
            case UInt8(ascii: "{"):
                depth += 1
                if valueOfObjectTextKey && objectDepthOfText == nil { objectDepthOfText = depth }
                valueOfTextKey = false; valueOfObjectTextKey = false
            case UInt8(ascii: "}"):
                if objectDepthOfText == depth { objectDepthOfText = nil }
                depth -= 1
            case UInt8(ascii: ","):
                if arrayDepthOfText == nil { valueOfTextKey = false; valueOfObjectTextKey = false }
            default:
                break
            }
            index += 1
        }
        return ranges
    }

    /// One string value's text as detectors read it: its raw bytes when it holds no escape,
    /// else the decoded bytes (`\n`, `\u0041`, surrogate pairs), each with where its source
    /// starts in the body, so a match maps back to whole escapes and a mask never splits one.
    /// An escape cannot hide a value from a guardrail.
    public struct Piece {
        public let range: Range<Int>
        /// Nil: no escape, the text is `body[range]`.
        public let decoded: [UInt8]?
        /// For each decoded byte, the body offset of its source; one more for the end.
        private let origins: [Int]

        /// Text that is already plain (decoded): read as it is.
        public init(plain range: Range<Int>) {
            self.range = range
            decoded = nil
            origins = []
        }

        public init(_ range: Range<Int>, in body: UnsafeRawBufferPointer) {
            self.range = range
            guard UnsafeRawBufferPointer(rebasing: body[range]).contains(UInt8(ascii: "\\")) else {
                decoded = nil
                origins = []
                return
            }
            var out: [UInt8] = [], origins: [Int] = []
            out.reserveCapacity(range.count)
            origins.reserveCapacity(range.count + 1)
            func append(_ scalar: UInt32, from source: Int) {
                for byte in String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8 {
                    out.append(byte)
                    origins.append(source)
                }
            }
            func hex4(_ at: Int) -> UInt32? {
                guard at + 4 <= range.upperBound else { return nil }
                var value: UInt32 = 0
                for index in at..<(at + 4) {
                    let c = body[index]
                    guard Detector.isHex(c) else { return nil }
                    value = value << 4 | UInt32(c <= 57 ? c - 48 : (c | 0x20) - 87)
                }
                return value
            }
            var index = range.lowerBound
            while index < range.upperBound {
                let c = body[index]
                guard c == UInt8(ascii: "\\"), index + 1 < range.upperBound else {
                    out.append(c)
                    origins.append(index)
                    index += 1
                    continue
                }
                let escape = body[index + 1]
                if escape == UInt8(ascii: "u"), let value = hex4(index + 2) {
                    if (0xD800...0xDBFF).contains(value), index + 12 <= range.upperBound, body[index + 6] == UInt8(ascii: "\\"),
                       body[index + 7] == UInt8(ascii: "u"), let low = hex4(index + 8), (0xDC00...0xDFFF).contains(low) {
                        append(0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00), from: index)
                        index += 12
                    } else {
                        append(value, from: index)
                        index += 6
                    }
                    continue
                }
                out.append(JSONScanner.unescaped(escape))
                origins.append(index)
                index += 2
            }
            origins.append(range.upperBound)
            decoded = out
            self.origins = origins
        }

        /// Calls `body` with the text detectors read.
        public func withText<R>(in raw: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) -> R {
            guard let decoded else { return body(UnsafeRawBufferPointer(rebasing: raw[range])) }
            return decoded.withUnsafeBytes(body)
        }

        /// The body's bytes behind `match`, a range of the text: whole escapes only.
        public func rawRange(_ match: Range<Int>) -> Range<Int> {
            guard decoded != nil else { return (range.lowerBound + match.lowerBound)..<(range.lowerBound + match.upperBound) }
            let start = origins[match.lowerBound]
            // The end is where the source of the byte after the match starts (a byte decoded
            // from the middle of an escape leaves that escape out).
            return start..<max(start, origins[match.upperBound])
        }
    }

    /// The text of every content string of `body`, decoded.
    public static func pieces(in body: UnsafeRawBufferPointer) -> [Piece] {
        ranges(in: body).map { Piece($0, in: body) }
    }

    /// Finds every whole-word, case-insensitive (ASCII) occurrence of `phrase` in `text`.
    public static func wordMatches(_ phrase: [UInt8], in text: UnsafeRawBufferPointer) -> [Range<Int>] {
        guard !phrase.isEmpty, text.count >= phrase.count else { return [] }
        func lower(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c + 32 : c }
        var found: [Range<Int>] = []
        var index = 0
        let last = text.count - phrase.count
        while index <= last {
            if lower(text[index]) == phrase[0], index == 0 || !Detector.isWord(text[index - 1]) {
                var offset = 1
                while offset < phrase.count, lower(text[index + offset]) == phrase[offset] { offset += 1 }
                let end = index + phrase.count
                if offset == phrase.count, end == text.count || !Detector.isWord(text[end]) {
                    found.append(index..<end)
                    index = end
                    continue
                }
            }
            index += 1
        }
        return found
    }
}
