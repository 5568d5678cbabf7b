import SluiceCore

/// Who reads the canonical chat body made from a Messages request: an OpenAI-family
/// provider (the body passes to it byte for byte, so it holds OpenAI's fields only), or
/// a translator that speaks Anthropic's features itself (Bedrock's Converse for Claude),
/// which also takes the extensions other gateways accept on chat completions:
/// `cache_control` on content parts, system parts and tools, `thinking`, an assistant's
/// `thinking_blocks` (signed, as they must go back) and `top_k`.
public enum MessagesTarget: Sendable {
    case openAI
    case anthropicFeatures
}

/// The canonical OpenAI chat-completions body for an Anthropic Messages request
/// (`POST /v1/messages`), checked the way Anthropic checks it. Every documented field is
/// translated or refused with a 400 naming it (see the README's translation contract);
/// unknown fields are refused too, never dropped.
///
/// `system` becomes a system message; `tool_result` blocks become `tool` messages placed
/// before the rest of their user turn; `tool_use` blocks become `tool_calls`. For an
/// OpenAI-family target, `thinking` becomes `reasoning_effort`, thinking blocks of the
/// history are left out (OpenAI models take no reasoning back in chat completions) and
/// `cache_control` markers have no counterpart (OpenAI caches prompt prefixes by itself).
enum MessagesRequestBody {
    /// Fields no route but a native Anthropic one can honour.
    static let anthropicOnly = Set(MessagesContract.rows.filter {
        if case .refused = $0.openAI, case .refused = $0.bedrock { return true } else { return false }
    }.map(\.field))
    /// Every top-level field this translation can translate (the contract's other rows).
    static let known = Set(MessagesContract.rows.filter { $0.sample != nil }.map(\.field)).subtracting(anthropicOnly)

    /// `counting`: the body is a `count_tokens` request, which has no `max_tokens`.
    static func make(from body: [UInt8], for target: MessagesTarget = .openAI, counting: Bool = false) throws(GatewayError) -> [UInt8] {
        guard let request = JSONValue.parseObject(body) else {
            throw GatewayError(.invalidJSON, "The request body is not a valid JSON object.")
        }
        for member in request.members where !known.contains(member.key) && !member.value.isNull {
            let reason = anthropicOnly.contains(member.key) ? "is served by native Anthropic routes only"
                                                            : "cannot be translated for this route"
            throw GatewayError.invalidRequest("\(member.key): this field \(reason)", param: member.key)
        }
        guard case .string(let model)? = request["model"], !model.isEmpty else {
            throw GatewayError.invalidRequest("model: Field required", param: "model")
        }
        let isCount = counting && request["max_tokens"] == nil
        if !isCount, request["max_tokens"] == nil || request["max_tokens"]?.isNull == true {
            throw GatewayError.invalidRequest("max_tokens: Field required", param: "max_tokens")
        }
        var tokens = 0
        if let maxTokens = request["max_tokens"], !maxTokens.isNull {
            guard let value = maxTokens.intValue, value >= 1 else {
                throw GatewayError.invalidRequest("max_tokens: Input should be a valid integer greater than or equal to 1",
                                                  param: "max_tokens")
            }
            tokens = value
        }
        guard let messages = request["messages"] else {
            throw GatewayError.invalidRequest("messages: Field required", param: "messages")
        }
        let rich = target == .anthropicFeatures
        var out = JSONObject([("model", .string(model))])
        var chat: [JSONValue] = []
        if let system = request["system"], !system.isNull {
            chat.append(.object(JSONObject([("role", .string("system")), ("content", try systemContent(system, rich: rich))])))
        }
        guard let turns = messages.arrayValue else {
            throw GatewayError.invalidRequest("messages: Input should be a valid list", param: "messages")
        }
        for (index, turn) in turns.enumerated() {
            chat += try chatMessages(for: turn, at: "messages.\(index)", rich: rich)
        }
        out["messages"] = .array(chat)
        if !isCount { out["max_tokens"] = .int(tokens) }
        if let stops = request["stop_sequences"], !stops.isNull {
            guard let list = stops.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                throw GatewayError.invalidRequest("stop_sequences: Input should be a valid list of strings",
                                                  param: "stop_sequences")
            }
            if !list.isEmpty { out["stop"] = .array(list) }
        }
        for name in ["temperature", "top_p", "top_k"] {
            guard let value = request[name], !value.isNull else { continue }
            guard case .number = value else {
                throw GatewayError.invalidRequest("\(name): Input should be a valid number", param: name)
            }
            if name == "top_k" && !rich {
                throw GatewayError.invalidRequest("top_k: OpenAI models have no top-k sampling; leave it out for this route",
                                                  param: "top_k")
            }
            out[name] = value
        }
        if request["stream"]?.boolValue == true {
            out["stream"] = .bool(true)
            // The surface always needs the usage: Anthropic streams end with it.
            out["stream_options"] = .object(JSONObject([("include_usage", .bool(true))]))
        }
        let tools = try MessagesToolMapping.tools(request["tools"], rich: rich)
        if !tools.isEmpty {
            out["tools"] = .array(tools)
            let (choice, parallel) = try MessagesToolMapping.toolChoice(request["tool_choice"])
            if let choice { out["tool_choice"] = choice }
            if let parallel { out["parallel_tool_calls"] = .bool(parallel) }
        }
        if let metadata = request["metadata"], !metadata.isNull {
            for member in metadata.objectValue?.members ?? [] where member.key != "user_id" && !member.value.isNull {
                throw GatewayError.invalidRequest("metadata.\(member.key): only user_id can be translated for this route",
                                                  param: "metadata.\(member.key)")
            }
            if let user = metadata["user_id"]?.stringValue { out["user"] = .string(user) }
        }
        try thinking(request["thinking"], rich: rich, into: &out)
        try outputConfig(request, rich: rich, into: &out)
        if let tier = request["service_tier"], !tier.isNull {
            switch tier.stringValue {
            // Bedrock's standard tier is what both values ask for there.
            case "auto": if !rich { out["service_tier"] = .string("auto") }
            case "standard_only": if !rich { out["service_tier"] = .string("default") }
            default:
                throw GatewayError.invalidRequest("service_tier: Input should be 'auto' or 'standard_only'",
                                                  param: "service_tier")
            }
        }
        return out.bytes
    }

    /// `thinking` → `thinking` for a translator that speaks it, else `reasoning_effort`
    /// (budget under 4,096 tokens: low; under 16,384: medium; else high).
    private static func thinking(_ value: JSONValue?, rich: Bool, into out: inout JSONObject) throws(GatewayError) {
        guard let value, !value.isNull else { return }
        switch value["type"]?.stringValue {
        case "disabled": return
        case "enabled":
            guard let budget = value["budget_tokens"]?.intValue, budget >= 1024 else {
                throw GatewayError.invalidRequest("thinking.budget_tokens: Input should be greater than or equal to 1024",
                                                  param: "thinking.budget_tokens")
            }
            if rich {
                out["thinking"] = value
            } else {
                out["reasoning_effort"] = .string(budget < 4096 ? "low" : budget < 16384 ? "medium" : "high")
            }
        case "adaptive":
            if rich { out["thinking"] = value } else { out["reasoning_effort"] = .string("medium") }
        default:
            throw GatewayError.invalidRequest("thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'",
                                              param: "thinking.type")
        }
    }

    /// `output_config` (`format`, `effort`) and the beta `output_format` → `response_format`
    /// (a JSON schema) and `reasoning_effort`.
    private static func outputConfig(_ request: JSONObject, rich: Bool, into out: inout JSONObject) throws(GatewayError) {
        var format: (JSONValue, String)?
        if let beta = request["output_format"], !beta.isNull { format = (beta, "output_format") }
        if let config = request["output_config"], !config.isNull {
            guard let object = config.objectValue else {
                throw GatewayError.invalidRequest("output_config: Input should be a valid dictionary", param: "output_config")
            }
            for member in object.members where !member.value.isNull {
                switch member.key {
                case "format": format = (member.value, "output_config.format")
                case "effort" where !rich:
                    guard let effort = member.value.stringValue, ["low", "medium", "high", "max"].contains(effort) else {
                        throw GatewayError.invalidRequest("output_config.effort: Input should be 'low', 'medium' or 'high'",
                                                          param: "output_config.effort")
                    }
                    out["reasoning_effort"] = .string(effort == "max" ? "high" : effort)
                default:
                    throw GatewayError.invalidRequest("output_config.\(member.key): cannot be translated for this route",
                                                      param: "output_config.\(member.key)")
                }
            }
        }
        guard let (value, param) = format else { return }
        guard value["type"]?.stringValue == "json_schema", case .object(let schema)? = value["schema"] else {
            throw GatewayError.invalidRequest("\(param): only {type: json_schema, schema} can be translated", param: param)
        }
        let jsonSchema = JSONObject([("name", .string("output")), ("schema", .object(schema)), ("strict", .bool(true))])
        out["response_format"] = .object(JSONObject([("type", .string("json_schema")), ("json_schema", .object(jsonSchema))]))
    }

    /// `system` as one string (text blocks joined by blank lines), or for a translator that
    /// speaks `cache_control`, as text parts that keep their markers.
    private static func systemContent(_ system: JSONValue, rich: Bool) throws(GatewayError) -> JSONValue {
        switch system {
        case .string(let text): return .string(text)
        case .array(let blocks):
            var texts: [String] = []
            var parts: [JSONValue] = []
            for (index, block) in blocks.enumerated() {
                guard block["type"]?.stringValue == "text", let text = block["text"]?.stringValue else {
                    throw GatewayError.invalidRequest("system.\(index): Input should be a text block", param: "system")
                }
                texts.append(text)
                parts.append(textPart(text, block, rich: rich))
            }
            return rich ? .array(parts) : .string(texts.joined(separator: "\n\n"))
        default:
            throw GatewayError.invalidRequest("system: Input should be a valid string or list of text blocks",
                                              param: "system")
        }
    }

    /// An OpenAI text part, with the block's `cache_control` when the target takes it.
    private static func textPart(_ text: String, _ block: JSONValue, rich: Bool) -> JSONValue {
        var part = JSONObject([("type", .string("text")), ("text", .string(text))])
        if rich, let cache = block["cache_control"], !cache.isNull { part["cache_control"] = cache }
        return .object(part)
    }

    /// `system` as one string (text blocks joined by blank lines).
    private static func systemText(_ system: JSONValue) throws(GatewayError) -> String {
        switch system {
        case .string(let text): return text
        case .array(let blocks):
            var texts: [String] = []
            for (index, block) in blocks.enumerated() {
                guard block["type"]?.stringValue == "text", let text = block["text"]?.stringValue else {
                    throw GatewayError.invalidRequest("system.\(index): Input should be a text block", param: "system")
                }
                texts.append(text)
            }
            return texts.joined(separator: "\n\n")
        default:
            throw GatewayError.invalidRequest("system: Input should be a valid string or list of text blocks",
                                              param: "system")
        }
    }

    /// The chat messages for one Anthropic turn (a user turn may give several).
    private static func chatMessages(for turn: JSONValue, at path: String, rich: Bool) throws(GatewayError) -> [JSONValue] {
        guard let role = turn["role"]?.stringValue else {
            throw GatewayError.invalidRequest("\(path).role: Field required", param: path + ".role")
        }
        guard role == "user" || role == "assistant" else {
            throw GatewayError.invalidRequest(
                "\(path).role: Input should be 'user' or 'assistant' (use the top-level 'system' for system prompts)",
                param: path + ".role")
        }
        switch turn["content"] {
        case .string(let text)?:
            return [.object(JSONObject([("role", .string(role)), ("content", .string(text))]))]
        case .array(let blocks)?:
            return role == "user" ? try userMessages(blocks, at: path, rich: rich)
                                  : try [assistantMessage(blocks, at: path, rich: rich)].compactMap { $0 }
        case nil:
            throw GatewayError.invalidRequest("\(path).content: Field required", param: path + ".content")
        default:
            throw GatewayError.invalidRequest("\(path).content: Input should be a valid string or list of content blocks",
                                              param: path + ".content")
        }
    }

    /// `tool` messages for the turn's tool results, then one user message for the rest.
    private static func userMessages(_ blocks: [JSONValue], at path: String, rich: Bool) throws(GatewayError) -> [JSONValue] {
        var toolMessages: [JSONValue] = []
        var parts: [JSONValue] = []
        for (index, block) in blocks.enumerated() {
            let at = "\(path).content.\(index)"
            switch block["type"]?.stringValue {
            case "text":
                guard let text = block["text"]?.stringValue else {
                    throw GatewayError.invalidRequest("\(at).text: Field required", param: at + ".text")
                }
                parts.append(textPart(text, block, rich: rich))
            case "image":
                var part = JSONObject([("type", .string("image_url")),
                                       ("image_url", .object(JSONObject([("url", .string(try imageURL(block, at: at)))])))])
                if rich, let cache = block["cache_control"], !cache.isNull { part["cache_control"] = cache }
                parts.append(.object(part))
            case "tool_result":
                guard let id = block["tool_use_id"]?.stringValue else {
                    throw GatewayError.invalidRequest("\(at).tool_use_id: Field required", param: at + ".tool_use_id")
                }
                let text = try toolResultText(block["content"], at: at)
                var content: JSONValue = .string(text)
                if rich, let cache = block["cache_control"], !cache.isNull {
                    content = .array([textPart(text, block, rich: true)])
                }
                var message = JSONObject([("role", .string("tool")), ("tool_call_id", .string(id)), ("content", content)])
                if block["is_error"]?.boolValue == true && rich { message["is_error"] = .bool(true) }
                toolMessages.append(.object(message))
            case "thinking", "redacted_thinking":
                continue
            case let type:
                throw GatewayError.invalidRequest("\(at): content blocks of type '\(type ?? "none")' are not supported",
                                                  param: at + ".type")
            }
        }
        guard !parts.isEmpty else { return toolMessages }
        let content: JSONValue
        if parts.count == 1, let text = parts[0]["text"]?.stringValue, parts[0]["cache_control"] == nil {
            content = .string(text)
        } else {
            content = .array(parts)
        }
        return toolMessages + [.object(JSONObject([("role", .string("user")), ("content", content)]))]
    }

    /// An image block's source as a URL: base64 data becomes a `data:` URL.
    private static func imageURL(_ block: JSONValue, at path: String) throws(GatewayError) -> String {
        let source = block["source"]
        switch source?["type"]?.stringValue {
        case "base64":
            guard let mediaType = source?["media_type"]?.stringValue, let data = source?["data"]?.stringValue else {
                throw GatewayError.invalidRequest("\(path).source: media_type and data are required", param: path + ".source")
            }
            return "data:\(mediaType);base64,\(data)"
        case "url":
            guard let url = source?["url"]?.stringValue else {
                throw GatewayError.invalidRequest("\(path).source.url: Field required", param: path + ".source.url")
            }
            return url
        default:
            throw GatewayError.invalidRequest("\(path).source: only base64 and url image sources are supported",
                                              param: path + ".source")
        }
    }

    /// A tool result's content as text (text blocks joined).
    private static func toolResultText(_ content: JSONValue?, at path: String) throws(GatewayError) -> String {
        switch content {
        case nil, .null?: return ""
        case .string(let text)?: return text
        case .array(let blocks)?:
            var texts: [String] = []
            for block in blocks {
                guard block["type"]?.stringValue == "text", let text = block["text"]?.stringValue else {
                    throw GatewayError.invalidRequest("\(path).content: only text is supported inside tool results",
                                                      param: path + ".content")
                }
                texts.append(text)
            }
            return texts.joined(separator: "\n")
        default:
            throw GatewayError.invalidRequest("\(path).content: Input should be a valid string or list of text blocks",
                                              param: path + ".content")
        }
    }

    /// One assistant message with the text and the tool calls; `nil` when nothing is left
    /// (a turn of thinking blocks only).
    private static func assistantMessage(_ blocks: [JSONValue], at path: String, rich: Bool) throws(GatewayError) -> JSONValue? {
        var text = ""
        var parts: [JSONValue] = []
        var calls: [JSONValue] = []
        var thinking: [JSONValue] = []
        for (index, block) in blocks.enumerated() {
            let at = "\(path).content.\(index)"
            switch block["type"]?.stringValue {
            case "text":
                text += block["text"]?.stringValue ?? ""
                parts.append(textPart(block["text"]?.stringValue ?? "", block, rich: rich))
            case "tool_use": calls.append(try MessagesToolMapping.toolCall(block, at: at))
            case "thinking", "redacted_thinking":
                // Signed blocks go back as they came, for a translator that can send them on.
                if rich { thinking.append(block) }
            case let type:
                throw GatewayError.invalidRequest("\(at): content blocks of type '\(type ?? "none")' are not supported",
                                                  param: at + ".type")
            }
        }
        guard !text.isEmpty || !calls.isEmpty || !thinking.isEmpty else { return nil }
        let marked = parts.contains { $0["cache_control"] != nil }
        var message = JSONObject([("role", .string("assistant")),
                                  ("content", marked ? .array(parts) : text.isEmpty ? .null : .string(text))])
        if !calls.isEmpty { message["tool_calls"] = .array(calls) }
        if !thinking.isEmpty { message["thinking_blocks"] = .array(thinking) }
        return .object(message)
    }
}
