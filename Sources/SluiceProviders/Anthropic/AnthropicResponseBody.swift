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
    var input = 0
    var cacheCreation = 0
    var cacheCreation5m: Int?
    var cacheCreation1h: Int?
    var cacheRead = 0
    var output = 0
    /// The body named the cache fields (so the OpenAI usage names `cached_tokens`).
    var reportsCache = false

    init() {}

    init(_ usage: JSONObject) {
        update(with: usage)
    }

    /// Takes every field `usage` has (stream events carry cumulative values).
    mutating func update(with usage: JSONObject) {
        if let value = usage["input_tokens"]?.intValue { input = value }
        if let value = usage["cache_creation_input_tokens"]?.intValue { cacheCreation = value; reportsCache = true }
        if let value = usage["cache_read_input_tokens"]?.intValue { cacheRead = value; reportsCache = true }
        if let split = usage["cache_creation"]?.objectValue {
            cacheCreation5m = split["ephemeral_5m_input_tokens"]?.intValue ?? cacheCreation5m
            cacheCreation1h = split["ephemeral_1h_input_tokens"]?.intValue ?? cacheCreation1h
        }
        if let value = usage["output_tokens"]?.intValue { output = value }
    }

    var promptTokens: Int { input + cacheCreation + cacheRead }

    var tokenUsage: TokenUsage {
        let write1h = min(cacheCreation1h ?? 0, cacheCreation)
        return TokenUsage(prompt: promptTokens, completion: output, cached: cacheRead,
                          cacheWrite: cacheCreation - write1h, cacheWrite1h: write1h)
    }

    /// `{"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details"}`,
    /// and the cache writes (`cache_creation_input_tokens`, `cache_creation`) when there were any.
    var openAIObject: JSONObject {
        var usage = JSONObject([("prompt_tokens", .int(promptTokens)), ("completion_tokens", .int(output)),
                                ("total_tokens", .int(promptTokens + output))])
        if reportsCache {
            usage["prompt_tokens_details"] = .object(JSONObject([("cached_tokens", .int(cacheRead))]))
        }
        if cacheCreation > 0 {
            usage["cache_creation_input_tokens"] = .int(cacheCreation)
            let write1h = min(cacheCreation1h ?? 0, cacheCreation)
            usage["cache_creation"] = .object(JSONObject([
                ("ephemeral_5m_input_tokens", .int(cacheCreation - write1h)), ("ephemeral_1h_input_tokens", .int(write1h)),
            ]))
        }
        return usage
    }
}
