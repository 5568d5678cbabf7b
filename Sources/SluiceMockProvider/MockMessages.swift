import Foundation

/// `POST /v1/messages`: a `message` object, or Anthropic's named stream events when
/// `stream` is true; and `POST /v1/messages/count_tokens`: `{"input_tokens": N}`.
///
/// The answer is one text block, `"Echo: "` + the last user turn's text (see
/// ``MockMessagesRequest/lastUserText``), lengthened by the `words` fault, then:
/// - cut before the earliest stop sequence it contains: `stop_reason` `stop_sequence`,
///   `stop_sequence` set to it;
/// - else cut to `max_tokens` words: `stop_reason` `max_tokens` (also when a stop
///   sequence would only come after `max_tokens` words);
/// - else `stop_reason` `end_turn`.
///
/// With `tools`, when `tool_choice` is `any` or `tool`, or it is `auto` (the default) and
/// the last user turn contains "weather" (as for OpenAI), the answer is instead one
/// `tool_use` block per call of ``MockToolCalls`` (the forced tool, or the first tools),
/// `input` a minimal instance of the tool's `input_schema` (`{"location": "Paris"}` for a
/// schema without properties), `stop_reason` `tool_use`.
///
/// With thinking on (``MockThinking``), the content starts with
/// `{"type": "thinking", "thinking": "<text>", "signature": "<base64 HMAC>"}`; its words
/// count as output tokens and come out of `max_tokens` before the text's.
///
/// `usage` has `output_tokens` (the words of the thinking and of the text, or of the
/// tools' JSON inputs) and the prompt's tokens (``MockMessagesRequest/inputTokens``) split
/// by the prompt cache (``MockPromptCache``): `cache_read_input_tokens`,
/// `cache_creation_input_tokens` and `input_tokens` (what follows the last breakpoint),
/// which add up to the prompt; when the request has `cache_control` breakpoints, also
/// `cache_creation: {"ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"}`.
///
/// A stream is, as Anthropic sends it: `message_start` (the message with empty content,
/// the usage above with `output_tokens` 1), per block `content_block_start`, deltas
/// (`thinking_delta` per word then one `signature_delta`, `text_delta` per word, or
/// `input_json_delta` per piece of the input's JSON text) and `content_block_stop`, with
/// one `ping` after the first block starts; then `message_delta` (`stop_reason`,
/// `stop_sequence`, and `usage` with the cumulative `output_tokens` and, as current
/// Anthropic streams repeat them, `input_tokens`, `cache_creation_input_tokens` and
/// `cache_read_input_tokens`) and `message_stop`. The `stream_error=N` fault replaces
/// everything after the Nth delta with an `error` event.
enum MockMessages {
    /// The answer to `request`; `cache` is how the prompt cache split its input tokens.
    static func reply(to request: MockMessagesRequest, call: MockCall, cache: MockPromptCache.Usage) -> MockReply.Body {
        let thinking = request.thinking ? MockThinking.text(about: request.lastUserText) : nil
        let message = Message(call: call, request: request, cache: cache, thinking: thinking)
        let content: Content
        if let calls = toolCalls(request, count: call.faults.tools) {
            content = .tools(calls)
        } else {
            let thinkingWords = thinking.map { MockAnswer.words(of: $0).count } ?? 0
            content = .text(TextAnswer(request, words: call.faults.words, reserved: thinkingWords))
        }
        guard request.stream else { return .json(MockJSON.encode(message.object(content))) }
        var events = message.events(content)
        if let after = call.faults.streamError {
            events = interrupt(events, afterContent: after)
        }
        return .events(events)
    }

    static func countTokens(_ request: MockMessagesRequest) -> MockReply.Body {
        .json(MockJSON.encode(["input_tokens": request.inputTokens]))
    }

    private static func toolCalls(_ request: MockMessagesRequest, count: Int?) -> MockToolCalls? {
        guard !request.tools.isEmpty else { return nil }
        switch request.toolChoice {
        case .none: return nil
        case .any: return MockToolCalls(tools: request.tools, count: count, schemas: request.toolSchemas)
        case .tool(let name):
            return MockToolCalls(tools: request.tools, forced: name, count: count, schemas: request.toolSchemas)
        case .auto:
            guard request.lastUserText.lowercased().contains("weather") else { return nil }
            return MockToolCalls(tools: request.tools, count: count, schemas: request.toolSchemas)
        }
    }

    /// The events up to and including the `after`-th content event (or the last one),
    /// then Anthropic's mid-stream `overloaded_error`.
    private static func interrupt(_ events: [MockEvent], afterContent after: Int) -> [MockEvent] {
        let contentIndices = events.indices.filter { events[$0].isContent }
        let cut: Int = if after == 0 || contentIndices.isEmpty {
            contentIndices.first ?? events.count
        } else {
            contentIndices[min(after, contentIndices.count) - 1] + 1
        }
        let error = MockAPIError.anthropic(529, "Overloaded")
        return Array(events[..<cut]) + [.named("error", error.anthropicObject)]
    }

    fileprivate enum Content {
        case text(TextAnswer)
        case tools(MockToolCalls)
    }
}

/// The text answer after stop sequences and `max_tokens` (less the `reserved` thinking words).
private struct TextAnswer {
    var text: String
    var stopReason: String
    var stopSequence: String?

    init(_ request: MockMessagesRequest, words: Int?, reserved: Int) {
        let full = MockAnswer.echo(request.lastUserText, targetWords: words, limit: nil).text
        let limit = request.maxTokens.map { max(0, $0 - reserved) } ?? Int.max
        let stop = request.stopSequences.filter { !$0.isEmpty }
            .compactMap { sequence in full.range(of: sequence).map { (sequence, $0.lowerBound) } }
            .min { $0.1 < $1.1 }
        if let stop, MockAnswer.words(of: String(full[..<stop.1])).count < limit {
            text = String(full[..<stop.1])
            stopReason = "stop_sequence"
            stopSequence = stop.0
            return
        }
        let cut = MockAnswer.echo(request.lastUserText, targetWords: words, limit: limit)
        text = cut.text
        stopReason = cut.finishReason == "length" ? "max_tokens" : "end_turn"
        stopSequence = nil
    }

    var outputTokens: Int { MockAnswer.words(of: text).count }

    /// Stream pieces that concatenate to ``text``: each word with the whitespace after it.
    var pieces: [String] {
        var pieces: [String] = []
        var current = ""
        for character in text {
            if !character.isWhitespace, let last = current.last, last.isWhitespace, !current.allSatisfy(\.isWhitespace) {
                pieces.append(current)
                current = ""
            }
            current.append(character)
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces
    }
}

/// The objects of one Anthropic answer.
private struct Message {
    var call: MockCall
    var request: MockMessagesRequest
    var cache: MockPromptCache.Usage
    /// The thinking text, when thinking is on.
    var thinking: String?

    /// The thinking block's words, billed as output.
    var thinkingTokens: Int { thinking.map { MockAnswer.words(of: $0).count } ?? 0 }
    /// The index of the first answer block: 1 after a thinking block.
    var firstIndex: Int { thinking == nil ? 0 : 1 }

    var id: String { "msg_mock_\(call.serial)" }

    /// `toolu_mock_<serial>` for the first block, `toolu_mock_<serial>_<index>` for the others.
    func toolUseID(_ index: Int) -> String {
        index == 0 ? "toolu_mock_\(call.serial)" : "toolu_mock_\(call.serial)_\(index)"
    }

    func object(_ content: MockMessages.Content) -> [String: Any] {
        var object = envelope(outputTokens: outputTokens(content))
        var blocks: [Any] = thinking.map { text in
            [["type": "thinking", "thinking": text, "signature": MockThinking.signature(for: text)]]
        } ?? []
        switch content {
        case .text(let answer):
            if !answer.text.isEmpty { blocks.append(["type": "text", "text": answer.text]) }
            object["stop_reason"] = answer.stopReason
            object["stop_sequence"] = answer.stopSequence ?? NSNull()
        case .tools(let calls):
            blocks += calls.calls.enumerated().map { index, tool in
                ["type": "tool_use", "id": toolUseID(index), "name": tool.name, "input": tool.input] as [String: Any]
            }
            object["stop_reason"] = "tool_use"
        }
        object["content"] = blocks
        return object
    }

    func events(_ content: MockMessages.Content) -> [MockEvent] {
        var start = envelope(outputTokens: 1)
        start["content"] = [Any]()
        var events = [MockEvent.named("message_start", ["type": "message_start", "message": start])]
        if let thinking {
            let deltas: [[String: Any]] = MockThinking.pieces(of: thinking).map { ["type": "thinking_delta", "thinking": $0] }
                + [["type": "signature_delta", "signature": MockThinking.signature(for: thinking)]]
            events += block(index: 0, opening: ["type": "thinking", "thinking": "", "signature": ""], deltas: deltas)
        }
        let stopReason: String
        let stopSequence: Any
        switch content {
        case .text(let answer):
            if !answer.text.isEmpty {
                events += block(index: firstIndex, opening: ["type": "text", "text": ""],
                                deltas: answer.pieces.map { ["type": "text_delta", "text": $0] })
            }
            stopReason = answer.stopReason
            stopSequence = answer.stopSequence ?? NSNull()
        case .tools(let calls):
            for (index, tool) in calls.calls.enumerated() {
                let opening: [String: Any] = ["type": "tool_use", "id": toolUseID(index), "name": tool.name,
                                              "input": [String: Any]()]
                events += block(index: firstIndex + index, opening: opening,
                                deltas: tool.argumentDeltas.map { ["type": "input_json_delta", "partial_json": $0] })
            }
            stopReason = "tool_use"
            stopSequence = NSNull()
        }
        if events.count == 1 { events.append(Self.ping) }
        events.append(.named("message_delta", [
            "type": "message_delta",
            "delta": ["stop_reason": stopReason, "stop_sequence": stopSequence],
            "usage": ["output_tokens": outputTokens(content), "input_tokens": cache.input,
                      "cache_creation_input_tokens": cache.write, "cache_read_input_tokens": cache.read],
        ]))
        events.append(.named("message_stop", ["type": "message_stop"]))
        return events
    }

    private static let ping = MockEvent.named("ping", ["type": "ping"])

    /// One content block's events; the first block is followed by a `ping`, as Anthropic sends it.
    private func block(index: Int, opening: [String: Any], deltas: [[String: Any]]) -> [MockEvent] {
        var events = [MockEvent.named("content_block_start",
                                      ["type": "content_block_start", "index": index, "content_block": opening])]
        if index == 0 { events.append(Self.ping) }
        events += deltas.map { delta in
            .named("content_block_delta", ["type": "content_block_delta", "index": index, "delta": delta],
                   isContent: true)
        }
        events.append(.named("content_block_stop", ["type": "content_block_stop", "index": index]))
        return events
    }

    private func outputTokens(_ content: MockMessages.Content) -> Int {
        switch content {
        case .text(let answer): thinkingTokens + answer.outputTokens
        case .tools(let calls): thinkingTokens + calls.tokens
        }
    }

    private func envelope(outputTokens: Int) -> [String: Any] {
        var usage: [String: Any] = ["input_tokens": cache.input, "output_tokens": outputTokens,
                                    "cache_creation_input_tokens": cache.write, "cache_read_input_tokens": cache.read]
        if request.usesCache {
            usage["cache_creation"] = ["ephemeral_5m_input_tokens": cache.write5m, "ephemeral_1h_input_tokens": cache.write1h]
        }
        return [
            "id": id, "type": "message", "role": "assistant", "model": call.model,
            "stop_reason": NSNull(), "stop_sequence": NSNull(), "usage": usage,
        ]
    }
}
