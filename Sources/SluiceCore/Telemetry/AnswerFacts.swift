/// What a trace span reports of an answer, read from the provider's bytes without parsing
/// them: the finish reasons (`finish_reason` in OpenAI's chat and completions,
/// `stop_reason` in Anthropic's Messages, `stopReason` in Bedrock's Converse) and the model
/// the provider names in its answer.
public struct AnswerFacts: Sendable, Equatable {
    public var finishReasons: [String] = []
    public var model: String?

    public init() {}

    private static let reasonKeys = [Array(#""finish_reason""#.utf8), Array(#""stop_reason""#.utf8), Array(#""stopReason""#.utf8)]
    private static let modelKey = Array(#""model""#.utf8)

    /// Adds what `bytes` (a whole answer, or one stream event) shows. A member name only
    /// appears unescaped as a key: inside a JSON string its quotes would be escaped.
    public mutating func scan(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        for key in Self.reasonKeys {
            var from = 0
            while let at = Self.find(key, in: bytes, from: from) {
                from = at + key.count
                if let value = Self.stringValue(in: bytes, after: from), !finishReasons.contains(value), finishReasons.count < 16 {
                    finishReasons.append(value)
                }
            }
        }
        if model == nil, let at = Self.find(Self.modelKey, in: bytes, from: 0) {
            model = Self.stringValue(in: bytes, after: at + Self.modelKey.count)
        }
    }

    public mutating func scan(_ bytes: [UInt8]) { bytes.withUnsafeBytes { scan($0) } }

    private static func find(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var index = from
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == first {
                var match = true
                for offset in 1..<needle.count where haystack[index + offset] != needle[offset] {
                    match = false
                    break
                }
                if match { return index }
            }
            index += 1
        }
        return nil
    }

    /// `: "value"` after a key (whitespace allowed); `nil` for `null`, other types, escapes
    /// or values longer than 100 bytes.
    private static func stringValue(in bytes: UnsafeRawBufferPointer, after start: Int) -> String? {
        var index = start
        func skipSpace() { while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 } }
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
        index += 1
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        let begin = index + 1
        var end = begin
        while end < bytes.count, bytes[end] != UInt8(ascii: "\""), end - begin <= 100 {
            if bytes[end] == UInt8(ascii: "\\") { return nil }
            end += 1
        }
        guard end < bytes.count, bytes[end] == UInt8(ascii: "\""), end > begin else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[begin..<end]), as: UTF8.self)
    }
}
