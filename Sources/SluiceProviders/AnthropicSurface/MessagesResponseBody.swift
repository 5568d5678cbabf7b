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
/// reads, which OpenAI counts inside `prompt_tokens` as `cached_tokens`.
struct MessagesUsage {
    var prompt = 0
    var completion = 0
    var cached: Int?

    init(_ usage: JSONObject?) {
        guard let usage else { return }
        prompt = usage["prompt_tokens"]?.intValue ?? 0
        completion = usage["completion_tokens"]?.intValue ?? 0
        cached = usage["prompt_tokens_details"]?["cached_tokens"]?.intValue
    }

    /// `{"input_tokens", "output_tokens", "cache_read_input_tokens"?}`.
    var anthropicObject: JSONObject {
        var object = JSONObject([("input_tokens", .int(max(0, prompt - (cached ?? 0))))])
        if let cached { object["cache_read_input_tokens"] = .int(cached) }
        object["output_tokens"] = .int(completion)
        return object
    }
}
