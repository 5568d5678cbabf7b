import SluiceCore

/// The OpenAI `chat.completion` for an Anthropic `message`.
///
/// Text blocks become `message.content`, `tool_use` blocks become `tool_calls` (ids kept),
/// thinking blocks become `reasoning_content` (never content) and, with their signatures,
/// `thinking_blocks` (redacted ones too), so a client can send them back on the next
/// turn as Anthropic requires. With `structured` (the client asked for
/// `response_format`), the forced tool's input is the message's JSON content.
enum AnthropicResponseBody {
    static func make(from body: [UInt8], model: String, created: Int, structured: Bool = false) throws(GatewayError) -> [UInt8] {
        guard let message = JSONValue.parseObject(body), message["type"]?.stringValue == "message" else {
            throw GatewayError(.upstreamError, "The provider's answer is not an Anthropic message.")
        }
        var text = ""
        var reasoning = ""
        var toolCalls: [JSONValue] = []
        var thinkingBlocks: [JSONValue] = []
        var structuredAnswer = false
        for block in message["content"]?.arrayValue ?? [] {
            guard let block = block.objectValue else { continue }
            switch block["type"]?.stringValue {
            case "text": text += block["text"]?.stringValue ?? ""
            case "thinking":
                reasoning += block["thinking"]?.stringValue ?? ""
                thinkingBlocks.append(.object(block))
            case "redacted_thinking": thinkingBlocks.append(.object(block))
            case "tool_use" where structured && block["name"]?.stringValue == StructuredOutputTool.name:
                text = (block["input"] ?? .object(JSONObject())).encoded
                structuredAnswer = true
            case "tool_use": toolCalls.append(AnthropicToolMapping.toolCall(block))
            default: break
            }
        }
        var reply = JSONObject([("role", .string("assistant"))])
        reply["content"] = text.isEmpty && !toolCalls.isEmpty ? .null : .string(text)
        if !reasoning.isEmpty { reply["reasoning_content"] = .string(reasoning) }
        if !thinkingBlocks.isEmpty { reply["thinking_blocks"] = .array(thinkingBlocks) }
        if !toolCalls.isEmpty { reply["tool_calls"] = .array(toolCalls) }
        reply["refusal"] = .null
        let finish = structuredAnswer && toolCalls.isEmpty ? "stop"
            : AnthropicStopReason.finishReason(message["stop_reason"]?.stringValue)
        let choice = JSONObject([("index", .int(0)), ("message", .object(reply)), ("logprobs", .null),
                                 ("finish_reason", finish.map(JSONValue.string) ?? .null)])
        var out = JSONObject([
            ("id", message["id"] ?? .string("")), ("object", .string("chat.completion")), ("created", .int(created)),
            ("model", .string(model)), ("choices", .array([.object(choice)])),
        ])
        if let usage = message["usage"]?.objectValue {
            out["usage"] = .object(AnthropicUsage(usage).openAIObject)
        }
        return out.bytes
    }
}

/// Anthropic's `stop_reason` → OpenAI's `finish_reason`.
enum AnthropicStopReason {
    static func finishReason(_ stopReason: String?) -> String? {
        switch stopReason {
        case nil: return nil
        case "max_tokens", "model_context_window_exceeded": return "length"
        case "tool_use": return "tool_calls"
        case "refusal": return "content_filter"
        default: return "stop"  // end_turn, stop_sequence, pause_turn, and any newer reason
        }
    }
}

/// An Anthropic `usage` object. Anthropic counts cached input apart from `input_tokens`;
/// OpenAI's `prompt_tokens` includes it, with the cache reads as `cached_tokens`. The cache
/// writes, which OpenAI's usage has no field for, are added as Anthropic names them
/// (`cache_creation_input_tokens`, and `cache_creation` with the 5-minute/1-hour split),
/// as other gateways do, so the client can see what it was charged for.
struct AnthropicUsage: Equatable {
    /// The counters, read as `TokenUsage.AnthropicCounts` reads them for native calls.
    private(set) var counts = TokenUsage.AnthropicCounts()

    init() {}

    init(_ usage: JSONObject) {
        update(with: usage)
    }

    /// Takes every field `usage` has (stream events carry cumulative values).
    mutating func update(with usage: JSONObject) {
        let bytes = usage.bytes
        counts.update(usageAt: 0..<bytes.count, in: bytes)
    }

    var tokenUsage: TokenUsage { counts.usage }

    /// `{"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details"}`,
    /// and the cache writes (`cache_creation_input_tokens`, `cache_creation`) when there were any.
    var openAIObject: JSONObject {
        let usage = counts.usage
        var out = JSONObject([("prompt_tokens", .int(usage.prompt)), ("completion_tokens", .int(usage.completion)),
                              ("total_tokens", .int(usage.total))])
        if counts.reportsCache {
            out["prompt_tokens_details"] = .object(JSONObject([("cached_tokens", .int(usage.cached))]))
        }
        if usage.cacheWrite + usage.cacheWrite1h > 0 {
            out["cache_creation_input_tokens"] = .int(usage.cacheWrite + usage.cacheWrite1h)
            out["cache_creation"] = .object(JSONObject([
                ("ephemeral_5m_input_tokens", .int(usage.cacheWrite)), ("ephemeral_1h_input_tokens", .int(usage.cacheWrite1h)),
            ]))
        }
        return out
    }
}
