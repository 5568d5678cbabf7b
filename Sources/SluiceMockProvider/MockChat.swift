import Foundation

/// `POST /v1/chat/completions`: a `chat.completion` object, or `chat.completion.chunk`
/// events when `stream` is true.
///
/// The answer is `"Echo: "` + the text of the last user message (its string content,
/// or its text parts joined by spaces), cut to `max_completion_tokens` / `max_tokens`
/// words (finish reason `length`). When the request has `tools`, `tool_choice` is not
/// `"none"`, and the last user message contains "weather", the answer is instead a call
/// of the first tool with arguments `{"location": "Paris"}` (finish reason `tool_calls`),
/// or several calls with the `tools=N` fault (see ``MockToolCalls``; a tool whose
/// `parameters` declare properties gets a minimal instance of them).
///
/// Structured output: with `response_format` `{"type": "json_schema", "json_schema":
/// {"name", "schema", "strict"}}` the content is the JSON text of a minimal instance of
/// `schema` (``MockSchemaInstance``, free strings being the echo text); with
/// `{"type": "json_object"}` (which needs the word "json" in the messages, as OpenAI
/// requires) it is `{"answer": "Echo: …"}`. The JSON text's words are the tokens and
/// the stream's deltas; `max_completion_tokens` cuts it like any answer.
///
/// `reasoning_effort` (`none`, `minimal`, `low`, `medium`, `high`, `xhigh`) adds
/// `completion_tokens_details: {"reasoning_tokens": N}` to `usage`, N (0, 8, 32, 64, 128,
/// 256) included in `completion_tokens`.
///
/// Automatic prompt caching (OpenAI's own path only, see ``Caching``): when the body is
/// over 4096 bytes, `usage.prompt_tokens_details.cached_tokens` is the tokens of the
/// longest prefix of whole messages seen before (``MockPromptCache``, 5 minutes),
/// rounded down to a multiple of 128.
enum MockChat {
    /// OpenAI's automatic prompt caching for one request.
    struct Caching: Sendable {
        var cache: MockPromptCache
        /// The request body's size; only bodies over 4096 bytes are cached.
        var bodyBytes: Int
    }

    static let reasoningTokens = ["none": 0, "minimal": 8, "low": 32, "medium": 64, "high": 128, "xhigh": 256]

    static func reply(to body: [String: Any], call: MockCall, caching: Caching? = nil) throws(MockAPIError) -> MockReply.Body {
        guard let rawMessages = body["messages"], !(rawMessages is NSNull) else { throw .missing("messages") }
        guard let list = rawMessages as? [Any] else { throw .invalidType("messages", expected: "an array of objects") }
        guard !list.isEmpty else {
            throw .invalidRequest("Invalid 'messages': empty array. Expected an array with minimum length 1.",
                                  param: "messages", code: "empty_array")
        }
        var messages: [(role: String, text: String)] = []
        var units: [MockPromptCache.Unit] = []
        for (index, item) in list.enumerated() {
            guard let message = item as? [String: Any] else {
                throw .invalidType("messages[\(index)]", expected: "an object")
            }
            guard let role = message["role"] as? String else { throw .missing("messages[\(index)].role") }
            messages.append((role, text(of: message["content"])))
            units.append(.init(text: MockPromptCache.canonical(message),
                               tokens: MockAnswer.words(of: messages[index].text).count + 3, breakpoint: .fiveMinutes))
        }
        let format = try responseFormat(body["response_format"], messages: messages)
        let reasoning = try reasoningTokens(body["reasoning_effort"])
        let stream = try body.optionalBool("stream") ?? false
        let includeUsage = try body.includeUsage(streaming: stream)
        let legacyLimit = try body.optionalInt("max_tokens", minimum: 1)
        let limit = try body.optionalInt("max_completion_tokens", minimum: 1) ?? legacyLimit

        // After a tool's answer (the last message has role `tool`), the model answers with
        // text about it, as a real one would, instead of calling the tool again.
        let afterTool = messages.last?.role == "tool"
        let userText = afterTool ? messages.last?.text ?? "" : messages.last { $0.role == "user" }?.text ?? ""
        let promptTokens = messages.reduce(0) { $0 + MockAnswer.words(of: $1.text).count + 3 }
        var cachedTokens: Int?
        if let caching, caching.bodyBytes > 4096 {
            let usage = caching.cache.account(units, namespace: "openai\u{1f}" + call.model)
            cachedTokens = usage.read / 128 * 128
        }
        let chat = Chat(call: call, promptTokens: promptTokens, includeUsage: includeUsage,
                        reasoningTokens: reasoning, cachedTokens: cachedTokens)

        let (tools, schemas) = toolNames(body)
        if !tools.isEmpty, !afterTool, (body["tool_choice"] as? String) != "none", userText.lowercased().contains("weather") {
            let calls = MockToolCalls(tools: tools, count: call.faults.tools, schemas: schemas)
            return stream ? .events(chat.toolCallEvents(calls)) : .json(MockJSON.encode(chat.toolCallCompletion(calls)))
        }
        var answer = MockAnswer.echo(userText, targetWords: call.faults.words, limit: limit)
        if let format {
            let echo = MockAnswer.echo(userText, targetWords: nil, limit: nil).text
            let value: MockJSONValue = switch format {
            case .jsonObject: .object([.init(key: "answer", value: .string(echo))])
            case .jsonSchema(let schema): MockSchemaInstance.instance(of: schema, sample: echo)
            }
            let words = MockAnswer.words(of: value.text)
            answer = if let limit, words.count > limit {
                MockAnswer(words: Array(words.prefix(limit)), finishReason: "length")
            } else {
                MockAnswer(words: words, finishReason: "stop")
            }
        }
        return stream ? .events(chat.events(answer)) : .json(MockJSON.encode(chat.completion(answer)))
    }

    /// A JSON `response_format`; `nil` for none or `text`.
    private enum ResponseFormat {
        case jsonObject
        case jsonSchema(Any?)
    }

    private static func responseFormat(_ raw: Any?, messages: [(role: String, text: String)])
        throws(MockAPIError) -> ResponseFormat? {
        guard let raw, !(raw is NSNull) else { return nil }
        guard let format = raw as? [String: Any] else { throw .invalidType("response_format", expected: "an object") }
        guard let type = format["type"] as? String else { throw .missing("response_format.type") }
        switch type {
        case "text": return nil
        case "json_object":
            guard messages.contains(where: { $0.text.lowercased().contains("json") }) else {
                throw .invalidRequest("'messages' must contain the word 'json' in some form, to use 'response_format' "
                                      + "of type 'json_object'.", param: "messages")
            }
            return .jsonObject
        case "json_schema":
            guard let spec = format["json_schema"] as? [String: Any] else { throw .missing("response_format.json_schema") }
            guard spec["name"] is String else { throw .missing("response_format.json_schema.name") }
            if let schema = spec["schema"], !(schema is NSNull), !(schema is [String: Any]) {
                throw .invalidType("response_format.json_schema.schema", expected: "an object")
            }
            return .jsonSchema(spec["schema"] ?? ["type": "object", "properties": [String: Any]()])
        default:
            throw .invalidValue("response_format.type", "Supported values are: 'text', 'json_object', and 'json_schema'.")
        }
    }

    private static func reasoningTokens(_ raw: Any?) throws(MockAPIError) -> Int? {
        guard let raw, !(raw is NSNull) else { return nil }
        guard let effort = raw as? String, let tokens = reasoningTokens[effort] else {
            throw .invalidValue("reasoning_effort", "Supported values are: 'none', 'minimal', 'low', 'medium', 'high', "
                                + "and 'xhigh'.")
        }
        return tokens
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

    /// The names of the request's tools, in order (`"tool"` for one without a name), and
    /// their `parameters` schemas by name.
    private static func toolNames(_ body: [String: Any]) -> ([String], [String: Any]) {
        guard let tools = body["tools"] as? [Any] else { return ([], [:]) }
        var schemas: [String: Any] = [:]
        let names = tools.compactMap { item -> String? in
            guard let tool = item as? [String: Any] else { return nil }
            let function = (tool["function"] ?? tool["custom"]) as? [String: Any]
            let name = function?["name"] as? String ?? "tool"
            if let parameters = function?["parameters"] as? [String: Any] { schemas[name] = parameters }
            return name
        }
        return (names, schemas)
    }
}

/// The objects of one chat answer.
private struct Chat {
    var call: MockCall
    var promptTokens: Int
    var includeUsage: Bool
    /// Added to the completion tokens when `reasoning_effort` was given.
    var reasoningTokens: Int?
    /// The prompt tokens read from the automatic cache, when it applies.
    var cachedTokens: Int?

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
            "usage": usage(completionTokens),
        ]
    }

    /// OpenAI's `usage`, with the reasoning and cache details when they apply.
    private func usage(_ completionTokens: Int) -> [String: Any] {
        var usage = MockCall.usage(prompt: promptTokens, completion: completionTokens + (reasoningTokens ?? 0))
        if let reasoningTokens { usage["completion_tokens_details"] = ["reasoning_tokens": reasoningTokens] }
        if let cachedTokens { usage["prompt_tokens_details"] = ["cached_tokens": cachedTokens] }
        return usage
    }

    /// The finish chunk, the usage chunk when asked for, and `[DONE]`.
    private func ending(finish: String, completionTokens: Int) -> [MockEvent] {
        var events = [MockEvent.chunk(chunk(delta: [:], finish: finish))]
        if includeUsage {
            var last = base()
            last["choices"] = [Any]()
            last["usage"] = usage(completionTokens)
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
