import Foundation

/// `POST /v1/completions`, the legacy API: a `text_completion` object with one choice
/// per prompt, or `text_completion` chunk events when `stream` is true.
///
/// `prompt` is a string, an array of strings, a token array or an array of token
/// arrays (tokens are read as words). Each choice's text is `"Echo: "` + its prompt,
/// cut to `max_tokens` words when given.
enum MockCompletions {
    static func reply(to body: [String: Any], call: MockCall) throws(MockAPIError) -> MockReply.Body {
        guard let raw = body["prompt"], !(raw is NSNull) else { throw .missing("prompt") }
        let prompts = try MockCompletions.prompts(raw)
        let stream = try body.optionalBool("stream") ?? false
        let includeUsage = try body.includeUsage(streaming: stream)
        let limit = try body.optionalInt("max_tokens", minimum: 1)

        let answers = prompts.map { MockAnswer.echo($0, targetWords: call.faults.words, limit: limit) }
        let usage = MockCall.usage(prompt: prompts.reduce(0) { $0 + MockAnswer.words(of: $1).count },
                                   completion: answers.reduce(0) { $0 + $1.words.count })
        let completion = Completion(call: call, includeUsage: includeUsage)
        if stream {
            return .events(completion.events(answers, usage: usage))
        }
        var object = completion.base()
        object["choices"] = answers.enumerated().map { index, answer in
            completion.choice(index: index, text: answer.text, finish: answer.finishReason)
        }
        object["usage"] = usage
        return .json(MockJSON.encode(object))
    }

    /// The prompts as texts, token arrays as their numbers joined by spaces.
    static func prompts(_ raw: Any) throws(MockAPIError) -> [String] {
        if let text = raw as? String { return [text] }
        guard let list = raw as? [Any], !list.isEmpty else {
            throw .invalidType("prompt", expected: "a string or a non-empty array of strings or tokens")
        }
        if let tokens = list as? [Int] { return [tokens.map(String.init).joined(separator: " ")] }
        var prompts: [String] = []
        for item in list {
            if let text = item as? String {
                prompts.append(text)
            } else if let tokens = item as? [Int] {
                prompts.append(tokens.map(String.init).joined(separator: " "))
            } else {
                throw .invalidType("prompt", expected: "a string or an array of strings or tokens")
            }
        }
        return prompts
    }
}

/// The objects of one legacy completion.
private struct Completion {
    var call: MockCall
    var includeUsage: Bool

    func base() -> [String: Any] {
        ["id": "cmpl-mock-\(call.serial)", "object": "text_completion", "created": call.created,
         "model": call.model, "system_fingerprint": MockCall.systemFingerprint]
    }

    func choice(index: Int, text: String, finish: String?) -> [String: Any] {
        ["index": index, "text": text, "logprobs": NSNull(), "finish_reason": finish ?? NSNull()]
    }

    /// Per prompt in turn: one chunk per word, then one with empty text and the finish
    /// reason; then the usage chunk when asked for, and `[DONE]`.
    func events(_ answers: [MockAnswer], usage: [String: Any]) -> [MockEvent] {
        var events: [MockEvent] = []
        for (index, answer) in answers.enumerated() {
            events += answer.deltas.map { .chunk(chunk(choice(index: index, text: $0, finish: nil)), isContent: true) }
            events.append(.chunk(chunk(choice(index: index, text: "", finish: answer.finishReason))))
        }
        if includeUsage {
            var last = base()
            last["choices"] = [Any]()
            last["usage"] = usage
            events.append(.chunk(last))
        }
        return events + [.done]
    }

    private func chunk(_ choice: [String: Any]) -> [String: Any] {
        var chunk = base()
        chunk["choices"] = [choice]
        if includeUsage { chunk["usage"] = NSNull() }
        return chunk
    }
}
