import SluiceCore

/// `response_format` for providers without a JSON mode (Anthropic, Bedrock Converse): a
/// forced tool whose input schema is the requested schema. The answer's call of that tool
/// becomes the message's JSON `content` again (`finish_reason` `stop`), so the client sees
/// what OpenAI would have sent.
enum StructuredOutputTool {
    /// The forced tool's name (a client tool of this name is refused).
    static let name = "sluice_structured_output"

    /// The forced tool's schema and description for `response_format`, or `nil` when the
    /// client asked for text (or nothing).
    static func schema(_ format: JSONValue?) throws(GatewayError) -> (schema: JSONObject, description: String)? {
        guard let format, !format.isNull else { return nil }
        switch format["type"]?.stringValue {
        case "text": return nil
        case "json_object":
            return (JSONObject([("type", .string("object"))]), "Answer with a JSON object, given as this tool's input.")
        case "json_schema":
            guard case .object(let schema)? = format["json_schema"]?["schema"] else {
                throw GatewayError.invalidRequest("'response_format.json_schema.schema' must be an object.",
                                                  param: "response_format.json_schema.schema")
            }
            guard schema["type"]?.stringValue == "object" else {
                throw GatewayError.invalidRequest(
                    "'response_format.json_schema.schema' must describe an object for this route (its answer is a tool input).",
                    param: "response_format.json_schema.schema")
            }
            let described = format["json_schema"]?["description"]?.stringValue
            return (schema, described ?? "Answer with JSON that matches this schema, given as this tool's input.")
        case let type:
            throw GatewayError.invalidRequest("Unknown response_format type '\(type ?? "null")'.", param: "response_format.type")
        }
    }

    /// Whether the client's request asked for structured output (so the answer's forced
    /// tool call is turned back into content).
    static func isRequested(by request: APIRequest) -> Bool {
        guard let format = request.member("response_format"),
              let type = JSONValue.parseObject(Array(format))?["type"]?.stringValue else { return false }
        return type == "json_schema" || type == "json_object"
    }
}

/// `reasoning_effort` (or the `thinking` extension) → Claude's extended thinking
/// (`{"type": "enabled", "budget_tokens": N}`), with `max_tokens` above the budget as
/// Anthropic requires.
enum ReasoningBudget {
    /// Thinking budgets per effort: Anthropic's minimum (1,024) for `minimal`, doubling up.
    static let budgets: [String: Int] = ["minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 32768]

    /// The `thinking` object and the `max_tokens` to send, or `nil` when the client asked
    /// for no reasoning. `maxTokens` is the client's cap (OpenAI's cap counts reasoning);
    /// `defaultMaxTokens` is used above the budget when it gave none.
    static func thinking(_ request: JSONObject, maxTokens: Int?, defaultMaxTokens: Int) throws(GatewayError)
        -> (thinking: JSONValue, maxTokens: Int)? {
        if let thinking = request["thinking"], !thinking.isNull {
            switch thinking["type"]?.stringValue {
            case "disabled": return nil
            case "enabled":
                // Bounded above too: the budget is added to the output cap below.
                guard let budget = thinking["budget_tokens"]?.intValue, (1024...TokenUsage.maxCount).contains(budget) else {
                    throw GatewayError.invalidRequest(
                        "'thinking.budget_tokens' must be an integer from 1024 to \(TokenUsage.maxCount).",
                        param: "thinking.budget_tokens")
                }
                return (thinking, max(maxTokens ?? budget + defaultMaxTokens, budget + 1))
            case "adaptive":
                return (thinking, maxTokens ?? defaultMaxTokens)
            default:
                throw GatewayError.invalidRequest("'thinking.type' must be 'enabled', 'disabled' or 'adaptive'.",
                                                  param: "thinking.type")
            }
        }
        guard let effortValue = request["reasoning_effort"], !effortValue.isNull else { return nil }
        guard let effort = effortValue.stringValue, effort == "none" || budgets[effort] != nil else {
            throw GatewayError.invalidRequest("'reasoning_effort' must be none, minimal, low, medium, high or xhigh.",
                                              param: "reasoning_effort")
        }
        guard var budget = budgets[effort] else { return nil }
        var cap = budget + defaultMaxTokens
        if let maxTokens {
            guard maxTokens > 1024 else {
                throw GatewayError.invalidRequest(
                    "With 'reasoning_effort' the output cap must leave room for thinking: more than 1024 tokens.",
                    param: "max_completion_tokens")
            }
            budget = min(budget, maxTokens - 1)
            cap = maxTokens
        }
        let thinking = JSONObject([("type", .string("enabled")), ("budget_tokens", .int(budget))])
        return (.object(thinking), cap)
    }
}
