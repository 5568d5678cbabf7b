import SluiceCore

/// The OpenAI `chat.completion` for an Anthropic `message`.
///
/// Text blocks become `message.content`, `tool_use` blocks become `tool_calls` (ids kept),
/// thinking blocks become `reasoning_content` (never content); other block kinds
/// (redacted thinking, server tool results) are left out.
enum AnthropicResponseBody {
    static func make(from body: [UInt8], model: String, created: Int) throws(GatewayError) -> [UInt8] {
        guard let message = JSONValue.parseObject(body), message["type"]?.stringValue == "message" else {
            throw GatewayError(.upstreamError, "The provider's answer is not an Anthropic message.")
        }
        var text = ""
        var reasoning = ""
        var toolCalls: [JSONValue] = []
        for block in message["content"]?.arrayValue ?? [] {
            guard let block = block.objectValue else { continue }
            switch block["type"]?.stringValue {
            case "text": text += block["text"]?.stringValue ?? ""
            case "thinking": reasoning += block["thinking"]?.stringValue ?? ""
            case "tool_use": toolCalls.append(AnthropicToolMapping.toolCall(block))
            default: break
            }
        }
        var reply = JSONObject([("role", .string("assistant"))])
        reply["content"] = text.isEmpty && !toolCalls.isEmpty ? .null : .string(text)
        if !reasoning.isEmpty { reply["reasoning_content"] = .string(reasoning) }
        if !toolCalls.isEmpty { reply["tool_calls"] = .array(toolCalls) }
        reply["refusal"] = .null
        let finish = AnthropicStopReason.finishReason(message["stop_reason"]?.stringValue)
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
/// OpenAI's `prompt_tokens` includes it, with the cache reads as `cached_tokens`.
struct AnthropicUsage: Equatable {
    var input = 0
    var cacheCreation = 0
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
        if let value = usage["output_tokens"]?.intValue { output = value }
    }

    var promptTokens: Int { input + cacheCreation + cacheRead }

    var tokenUsage: TokenUsage { TokenUsage(prompt: promptTokens, completion: output) }

    /// `{"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details"}`.
    var openAIObject: JSONObject {
        var usage = JSONObject([("prompt_tokens", .int(promptTokens)), ("completion_tokens", .int(output)),
                                ("total_tokens", .int(promptTokens + output))])
        if reportsCache {
            usage["prompt_tokens_details"] = .object(JSONObject([("cached_tokens", .int(cacheRead))]))
        }
        return usage
    }
}
