import Foundation

/// `POST /v1/chat/completions`: a `chat.completion` object, or `chat.completion.chunk`
/// events when `stream` is true.
///
/// The answer is `"Echo: "` + the text of the last user message (its string content,
/// or its text parts joined by spaces), cut to `max_completion_tokens` / `max_tokens`
/// words (finish reason `length`). When the request has `tools`, `tool_choice` is not
/// `"none"`, and the last user message contains "weather", the answer is instead a call
/// of the first tool with arguments `{"location": "Paris"}` (finish reason `tool_calls`),
/// or several calls with the `tools=N` fault (see ``MockToolCalls``).
enum MockChat {

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

        // After a tool's answer (the last message has role `tool`), the model answers with
        // text about it, as a real one would, instead of calling the tool again.
        let afterTool = messages.last?.role == "tool"
        let userText = afterTool ? messages.last?.text ?? "" : messages.last { $0.role == "user" }?.text ?? ""
        let promptTokens = messages.reduce(0) { $0 + MockAnswer.words(of: $1.text).count + 3 }
        let chat = Chat(call: call, promptTokens: promptTokens, includeUsage: includeUsage)

        let tools = toolNames(body)
        if !tools.isEmpty, !afterTool, (body["tool_choice"] as? String) != "none", userText.lowercased().contains("weather") {
            let calls = MockToolCalls(tools: tools, count: call.faults.tools)
            return stream ? .events(chat.toolCallEvents(calls)) : .json(MockJSON.encode(chat.toolCallCompletion(calls)))
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

    /// The names of the request's tools, in order; `"tool"` for one without a name.
    private static func toolNames(_ body: [String: Any]) -> [String] {
        guard let tools = body["tools"] as? [Any] else { return [] }
        return tools.compactMap { item in
            guard let tool = item as? [String: Any] else { return nil }
            let function = (tool["function"] ?? tool["custom"]) as? [String: Any]
            return function?["name"] as? String ?? "tool"
        }
    }
}

/// The objects of one chat answer.
private struct Chat {
    var call: MockCall
    var promptTokens: Int
    var includeUsage: Bool

    var id: String { "chatcmpl-mock-\(call.serial)" }

    /// `call_mock_<serial>` for the first call, `call_mock_<serial>_<index>` for the others.
    func toolCallID(_ index: Int) -> String {
        index == 0 ? "call_mock_\(call.serial)" : "call_mock_\(call.serial)_\(index)"
    }

    func completion(_ answer: MockAnswer) -> [String: Any] {
        let message: [String: Any] = ["role": "assistant", "content": answer.text, "refusal": NSNull()]
        return envelope(message: message, finish: answer.finishReason, completionTokens: answer.words.count)
    }

    func toolCallCompletion(_ calls: MockToolCalls) -> [String: Any] {
        let message: [String: Any] = [
            "role": "assistant", "content": NSNull(), "refusal": NSNull(),
            "tool_calls": calls.calls.enumerated().map { index, tool in
                ["id": toolCallID(index), "type": "function",
                 "function": ["name": tool.name, "arguments": tool.arguments]] as [String: Any]
            },
        ]
        return envelope(message: message, finish: "tool_calls", completionTokens: calls.tokens)
    }

    func events(_ answer: MockAnswer) -> [MockEvent] {
        var events = [MockEvent.chunk(chunk(delta: ["role": "assistant", "content": "", "refusal": NSNull()]))]
        events += answer.deltas.map { .chunk(chunk(delta: ["content": $0]), isContent: true) }
        return events + ending(finish: answer.finishReason, completionTokens: answer.words.count)
    }

    /// Per call in turn: a chunk that opens it (the first also carries the role), then
    /// one chunk per argument piece, each naming the call by `index`.
    func toolCallEvents(_ calls: MockToolCalls) -> [MockEvent] {
        var events: [MockEvent] = []
        for (index, tool) in calls.calls.enumerated() {
            var opening: [String: Any] = [
                "tool_calls": [["index": index, "id": toolCallID(index), "type": "function",
                                "function": ["name": tool.name, "arguments": ""]] as [String: Any]],
            ]
            if index == 0 {
                opening.merge(["role": "assistant", "content": NSNull(), "refusal": NSNull()]) { $1 }
            }
            events.append(.chunk(chunk(delta: opening)))
            events += tool.argumentDeltas.map { piece in
                .chunk(chunk(delta: ["tool_calls": [["index": index, "function": ["arguments": piece]]]]),
                       isContent: true)
            }
        }
        return events + ending(finish: "tool_calls", completionTokens: calls.tokens)
    }

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
