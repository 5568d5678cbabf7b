import Foundation

/// `POST /v1/chat/completions`: a `chat.completion` object, or `chat.completion.chunk`
/// events when `stream` is true.
///
/// The answer is `"Echo: "` + the text of the last user message (its string content,
/// or its text parts joined by spaces), cut to `max_completion_tokens` / `max_tokens`
/// words (finish reason `length`). When the request has `tools`, `tool_choice` is not
/// `"none"`, and the last user message contains "weather", the answer is instead a call
/// of the first tool with arguments `{"location": "Paris"}` (finish reason `tool_calls`).
enum MockChat {
    static let toolArguments = #"{"location": "Paris"}"#

    static func reply(to body: [String: Any], call: MockCall) throws(MockAPIError) -> MockReply.Body {
        guard let rawMessages = body["messages"], !(rawMessages is NSNull) else { throw .missing("messages") }
        guard let list = rawMessages as? [Any] else { throw .invalidType("messages", expected: "an array of objects") }
        guard !list.isEmpty else {
            throw .invalidRequest("Invalid 'messages': empty array. Expected an array with minimum length 1.",
                                  param: "messages", code: "empty_array")
        }
        var messages: [(role: String, text: String)] = []
        for (index, item) in list.enumerated() {
            guard let message = item as? [String: Any] else {
                throw .invalidType("messages[\(index)]", expected: "an object")
            }
            guard let role = message["role"] as? String else { throw .missing("messages[\(index)].role") }
            messages.append((role, text(of: message["content"])))
        }
        let stream = try body.optionalBool("stream") ?? false
        let includeUsage = try body.includeUsage(streaming: stream)
        let legacyLimit = try body.optionalInt("max_tokens", minimum: 1)
        let limit = try body.optionalInt("max_completion_tokens", minimum: 1) ?? legacyLimit

        let userText = messages.last { $0.role == "user" }?.text ?? ""
        let promptTokens = messages.reduce(0) { $0 + MockAnswer.words(of: $1.text).count + 3 }
        let chat = Chat(call: call, promptTokens: promptTokens, includeUsage: includeUsage)

        if let tool = toolName(body), (body["tool_choice"] as? String) != "none",
           userText.lowercased().contains("weather") {
            return stream ? .events(chat.toolCallEvents(tool)) : .json(MockJSON.encode(chat.toolCallCompletion(tool)))
        }
        let answer = MockAnswer.echo(userText, targetWords: call.faults.words, limit: limit)
        return stream ? .events(chat.events(answer)) : .json(MockJSON.encode(chat.completion(answer)))
    }

    /// A message's text: string content, or the `text` parts of an array of parts.
    static func text(of content: Any?) -> String {
        if let string = content as? String { return string }
        guard let parts = content as? [Any] else { return "" }
        return parts.compactMap { part -> String? in
            guard let part = part as? [String: Any], part["type"] as? String == "text" else { return nil }
            return part["text"] as? String
        }.joined(separator: " ")
    }

    private static func toolName(_ body: [String: Any]) -> String? {
        guard let tools = body["tools"] as? [Any], let first = tools.first as? [String: Any] else { return nil }
        let function = (first["function"] ?? first["custom"]) as? [String: Any]
        return function?["name"] as? String ?? "tool"
    }
}

/// The objects of one chat answer.
private struct Chat {
    var call: MockCall
    var promptTokens: Int
    var includeUsage: Bool

    var id: String { "chatcmpl-mock-\(call.serial)" }
    var toolCallID: String { "call_mock_\(call.serial)" }

    func completion(_ answer: MockAnswer) -> [String: Any] {
        let message: [String: Any] = ["role": "assistant", "content": answer.text, "refusal": NSNull()]
        return envelope(message: message, finish: answer.finishReason, completionTokens: answer.words.count)
    }

    func toolCallCompletion(_ tool: String) -> [String: Any] {
        let message: [String: Any] = [
            "role": "assistant", "content": NSNull(), "refusal": NSNull(),
            "tool_calls": [["id": toolCallID, "type": "function",
                            "function": ["name": tool, "arguments": MockChat.toolArguments]]],
        ]
        return envelope(message: message, finish: "tool_calls", completionTokens: argumentWords.count)
    }

    func events(_ answer: MockAnswer) -> [MockEvent] {
        var events = [MockEvent.chunk(chunk(delta: ["role": "assistant", "content": "", "refusal": NSNull()]))]
        events += answer.deltas.map { .chunk(chunk(delta: ["content": $0]), isContent: true) }
        return events + ending(finish: answer.finishReason, completionTokens: answer.words.count)
    }

    func toolCallEvents(_ tool: String) -> [MockEvent] {
        let opening: [String: Any] = [
            "role": "assistant", "content": NSNull(), "refusal": NSNull(),
            "tool_calls": [["index": 0, "id": toolCallID, "type": "function",
                            "function": ["name": tool, "arguments": ""]]],
        ]
        var events = [MockEvent.chunk(chunk(delta: opening))]
        events += MockAnswer.deltas(of: argumentWords).map { piece in
            .chunk(chunk(delta: ["tool_calls": [["index": 0, "function": ["arguments": piece]]]]), isContent: true)
        }
        return events + ending(finish: "tool_calls", completionTokens: argumentWords.count)
    }

    private var argumentWords: [String] { MockAnswer.words(of: MockChat.toolArguments) }

    private func envelope(message: [String: Any], finish: String, completionTokens: Int) -> [String: Any] {
        [
            "id": id, "object": "chat.completion", "created": call.created, "model": call.model,
            "system_fingerprint": MockCall.systemFingerprint,
            "choices": [["index": 0, "message": message, "logprobs": NSNull(), "finish_reason": finish]],
            "usage": MockCall.usage(prompt: promptTokens, completion: completionTokens),
        ]
    }

    /// The finish chunk, the usage chunk when asked for, and `[DONE]`.
    private func ending(finish: String, completionTokens: Int) -> [MockEvent] {
        var events = [MockEvent.chunk(chunk(delta: [:], finish: finish))]
        if includeUsage {
            var last = base()
            last["choices"] = [Any]()
            last["usage"] = MockCall.usage(prompt: promptTokens, completion: completionTokens)
            events.append(.chunk(last))
        }
        return events + [.done]
    }

    private func chunk(delta: [String: Any], finish: String? = nil) -> [String: Any] {
        var chunk = base()
        chunk["choices"] = [["index": 0, "delta": delta, "logprobs": NSNull(),
                             "finish_reason": finish ?? NSNull()] as [String: Any]]
        if includeUsage { chunk["usage"] = NSNull() }
        return chunk
    }

    private func base() -> [String: Any] {
        ["id": id, "object": "chat.completion.chunk", "created": call.created, "model": call.model,
         "system_fingerprint": MockCall.systemFingerprint]
    }
}
