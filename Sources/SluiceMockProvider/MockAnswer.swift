/// The deterministic text the mock generates, and the word counts it reports as tokens.
///
/// Token rule (documented for users): a "token" is a whitespace-separated word.
/// Chat `prompt_tokens` = the words of every message's text + 3 per message;
/// completions `prompt_tokens` = the words of the prompts; `completion_tokens` = the
/// words of the answer.
struct MockAnswer: Sendable, Equatable {
    /// The answer's words; the text is these joined by single spaces.
    var words: [String]
    /// `stop`, or `length` when `max_tokens` cut the answer.
    var finishReason: String

    /// `"Echo: " + text`, made exactly `targetWords` long by repeating its words when
    /// given, then cut to `limit` words.
    static func echo(_ text: String, targetWords: Int?, limit: Int?) -> MockAnswer {
        var words = ["Echo:"] + MockAnswer.words(of: text)
        if let targetWords {
            let source = words
            words = (0..<targetWords).map { source[$0 % source.count] }
        }
        if let limit, words.count > limit {
            return MockAnswer(words: Array(words.prefix(limit)), finishReason: "length")
        }
        return MockAnswer(words: words, finishReason: "stop")
    }

    /// The whole answer.
    var text: String { words.joined(separator: " ") }

    /// The stream deltas: each word with the space after it, the last without, so that
    /// they concatenate to ``text``.
    var deltas: [String] { Self.deltas(of: words) }

    static func deltas(of words: [String]) -> [String] {
        words.enumerated().map { index, word in index == words.count - 1 ? word : word + " " }
    }

    /// The whitespace-separated words of `text`.
    static func words(of text: String) -> [String] {
        text.split(whereSeparator: \.isWhitespace).map(String.init)
    }
}
