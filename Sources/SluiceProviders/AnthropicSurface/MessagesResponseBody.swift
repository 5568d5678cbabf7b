import SluiceCore

/// The Anthropic `message` for an OpenAI `chat.completion`.
enum MessagesResponseBody {
    static func make(from body: [UInt8], model: String) throws(GatewayError) -> [UInt8] {
        guard let completion = JSONValue.parseObject(body),
              let choice = completion["choices"]?.arrayValue?.first?.objectValue,
              let message = choice["message"]?.objectValue else {
            throw GatewayError(.upstreamError, "The provider's answer is not a chat completion.")
        }
        var content: [JSONValue] = []
        // Thinking first, as Anthropic answers: the signed blocks when the provider gave
        // them (Bedrock's Claude), else the reasoning text as one unsigned block.
        if let blocks = message["thinking_blocks"]?.arrayValue, !blocks.isEmpty {
            content += blocks.map { block -> JSONValue in
                guard block["type"]?.stringValue == "thinking", block["signature"] == nil, var object = block.objectValue else {
                    return block
                }
                object["signature"] = .string("")
                return .object(object)
            }
        } else if let reasoning = message["reasoning_content"]?.stringValue, !reasoning.isEmpty {
            content.append(.object(JSONObject([("type", .string("thinking")), ("thinking", .string(reasoning)),
                                               ("signature", .string(""))])))
        }
        var text = ""
        switch message["content"] {
        case .string(let string)?: text = string
        case .array(let parts)?: text = parts.compactMap { $0["text"]?.stringValue }.joined()
        default: break
        }
        let refusal = message["refusal"]?.stringValue
        if text.isEmpty, let refusal { text = refusal }
        if !text.isEmpty {
            content.append(.object(JSONObject([("type", .string("text")), ("text", .string(text))])))
        }
        for call in message["tool_calls"]?.arrayValue ?? [] {
            guard let block = MessagesToolMapping.toolUse(call) else {
                throw GatewayError(.upstreamError, "The provider answered with tool call arguments that are not a JSON object.")
            }
            content.append(block)
        }
        let finish = choice["finish_reason"]?.stringValue
        let stopReason = refusal != nil && finish == "stop" ? "refusal" : MessagesStopReason.stopReason(finish)
        let out = JSONObject([
            ("id", .string(MessagesStopReason.messageID(completion["id"]?.stringValue))),
            ("type", .string("message")), ("role", .string("assistant")), ("model", .string(model)),
            ("content", .array(content)), ("stop_reason", .string(stopReason)), ("stop_sequence", .null),
            ("usage", .object(MessagesUsage(completion["usage"]?.objectValue).anthropicObject)),
        ])
        return out.bytes
    }
}

/// OpenAI's `finish_reason` → Anthropic's `stop_reason`, and message ids.
enum MessagesStopReason {
    static func stopReason(_ finishReason: String?) -> String {
        switch finishReason {
        case "length": return "max_tokens"
        case "tool_calls", "function_call": return "tool_use"
        case "content_filter": return "refusal"
        default: return "end_turn"  // "stop" does not tell a stop sequence from the end of the turn
        }
    }

    /// An Anthropic-looking message id (`msg_…`) for a chat completion id.
    static func messageID(_ id: String?) -> String {
        guard let id, !id.isEmpty else { return "msg_sluice" }
        return id.hasPrefix("msg_") ? id : "msg_" + id
    }
}

/// An OpenAI `usage` object in Anthropic's terms: `input_tokens` leaves out the cache
/// reads (OpenAI's `cached_tokens`, inside `prompt_tokens`) and the cache writes (the
/// `cache_creation_input_tokens` the gateway adds for providers that charge them).
struct MessagesUsage {
    var prompt = 0
    var completion = 0
    var cached: Int?
    var cacheCreation: Int?
    var cacheCreation1h: Int?

    init(_ usage: JSONObject?) {
        guard let usage else { return }
        prompt = usage["prompt_tokens"]?.tokenCount ?? 0
        completion = usage["completion_tokens"]?.tokenCount ?? 0
        cached = usage["prompt_tokens_details"]?["cached_tokens"]?.tokenCount
        cacheCreation = usage["cache_creation_input_tokens"]?.tokenCount
        cacheCreation1h = usage["cache_creation"]?["ephemeral_1h_input_tokens"]?.tokenCount
    }

    var tokenUsage: TokenUsage {
        let write = cacheCreation ?? 0
        let write1h = min(cacheCreation1h ?? 0, write)
        return TokenUsage(prompt: prompt, completion: completion, cached: cached ?? 0, cacheWrite: write - write1h,
                          cacheWrite1h: write1h)
    }

    /// `{"input_tokens", "cache_creation_input_tokens"?, "cache_read_input_tokens"?,
    /// "cache_creation"?, "output_tokens"}`.
    var anthropicObject: JSONObject {
        let write = cacheCreation ?? 0
        var object = JSONObject([("input_tokens", .int(max(0, prompt - (cached ?? 0) - write)))])
        if cacheCreation != nil {
            object["cache_creation_input_tokens"] = .int(write)
            let write1h = min(cacheCreation1h ?? 0, write)
            object["cache_creation"] = .object(JSONObject([("ephemeral_5m_input_tokens", .int(write - write1h)),
                                                           ("ephemeral_1h_input_tokens", .int(write1h))]))
        }
        if let cached { object["cache_read_input_tokens"] = .int(cached) }
        object["output_tokens"] = .int(completion)
        return object
    }
}
