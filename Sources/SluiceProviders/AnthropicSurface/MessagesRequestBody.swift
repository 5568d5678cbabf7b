import SluiceCore

/// The canonical OpenAI chat-completions body for an Anthropic Messages request
/// (`POST /v1/messages`), checked the way Anthropic checks it.
///
/// `system` becomes a system message; `tool_result` blocks become `tool` messages placed
/// before the rest of their user turn; `tool_use` blocks become `tool_calls`; thinking
/// blocks in the history are dropped (OpenAI models cannot take them back). `top_k`,
/// `thinking`, `service_tier` and cache-control markers have no OpenAI equivalent and
/// are dropped; server tools, documents and images inside tool results are refused.
enum MessagesRequestBody {
    static func make(from body: [UInt8]) throws(GatewayError) -> [UInt8] {
        guard let request = JSONValue.parseObject(body) else {
            throw GatewayError(.invalidJSON, "The request body is not a valid JSON object.")
        }
        guard case .string(let model)? = request["model"], !model.isEmpty else {
            throw GatewayError.invalidRequest("model: Field required", param: "model")
        }
        guard let maxTokens = request["max_tokens"], !maxTokens.isNull else {
            throw GatewayError.invalidRequest("max_tokens: Field required", param: "max_tokens")
        }
        guard let tokens = maxTokens.intValue, tokens >= 1 else {
            throw GatewayError.invalidRequest("max_tokens: Input should be a valid integer greater than or equal to 1",
                                              param: "max_tokens")
        }
        guard let messages = request["messages"] else {
            throw GatewayError.invalidRequest("messages: Field required", param: "messages")
        }
        var out = JSONObject([("model", .string(model))])
        var chat: [JSONValue] = []
        if let system = request["system"], !system.isNull {
            chat.append(.object(JSONObject([("role", .string("system")),
                                            ("content", .string(try systemText(system)))])))
        }
        guard let turns = messages.arrayValue else {
            throw GatewayError.invalidRequest("messages: Input should be a valid list", param: "messages")
        }
        for (index, turn) in turns.enumerated() {
            chat += try chatMessages(for: turn, at: "messages.\(index)")
        }
        out["messages"] = .array(chat)
        out["max_tokens"] = .int(tokens)
        if let stops = request["stop_sequences"], !stops.isNull {
            guard let list = stops.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                throw GatewayError.invalidRequest("stop_sequences: Input should be a valid list of strings",
                                                  param: "stop_sequences")
            }
            if !list.isEmpty { out["stop"] = .array(list) }
        }
        for name in ["temperature", "top_p"] {
            guard let value = request[name], !value.isNull else { continue }
            guard case .number = value else {
                throw GatewayError.invalidRequest("\(name): Input should be a valid number", param: name)
            }
            out[name] = value
        }
        if request["stream"]?.boolValue == true {
            out["stream"] = .bool(true)
            // The surface always needs the usage: Anthropic streams end with it.
            out["stream_options"] = .object(JSONObject([("include_usage", .bool(true))]))
        }
        let tools = try MessagesToolMapping.tools(request["tools"])
        if !tools.isEmpty {
            out["tools"] = .array(tools)
            let (choice, parallel) = try MessagesToolMapping.toolChoice(request["tool_choice"])
            if let choice { out["tool_choice"] = choice }
            if let parallel { out["parallel_tool_calls"] = .bool(parallel) }
        }
        if let user = request["metadata"]?["user_id"]?.stringValue { out["user"] = .string(user) }
        return out.bytes
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
    private static func chatMessages(for turn: JSONValue, at path: String) throws(GatewayError) -> [JSONValue] {
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
            return role == "user" ? try userMessages(blocks, at: path)
                                  : try [assistantMessage(blocks, at: path)].compactMap { $0 }
        case nil:
            throw GatewayError.invalidRequest("\(path).content: Field required", param: path + ".content")
        default:
            throw GatewayError.invalidRequest("\(path).content: Input should be a valid string or list of content blocks",
                                              param: path + ".content")
        }
    }

    /// `tool` messages for the turn's tool results, then one user message for the rest.
    private static func userMessages(_ blocks: [JSONValue], at path: String) throws(GatewayError) -> [JSONValue] {
        var toolMessages: [JSONValue] = []
        var parts: [JSONValue] = []
        for (index, block) in blocks.enumerated() {
            let at = "\(path).content.\(index)"
            switch block["type"]?.stringValue {
            case "text":
                guard let text = block["text"]?.stringValue else {
                    throw GatewayError.invalidRequest("\(at).text: Field required", param: at + ".text")
                }
                parts.append(.object(JSONObject([("type", .string("text")), ("text", .string(text))])))
            case "image":
                parts.append(.object(JSONObject([("type", .string("image_url")),
                                                 ("image_url", .object(JSONObject([("url", .string(try imageURL(block, at: at)))])))])))
            case "tool_result":
                guard let id = block["tool_use_id"]?.stringValue else {
                    throw GatewayError.invalidRequest("\(at).tool_use_id: Field required", param: at + ".tool_use_id")
                }
                toolMessages.append(.object(JSONObject([("role", .string("tool")), ("tool_call_id", .string(id)),
                                                        ("content", .string(try toolResultText(block["content"], at: at)))])))
            case "thinking", "redacted_thinking":
                continue
            case let type:
                throw GatewayError.invalidRequest("\(at): content blocks of type '\(type ?? "none")' are not supported",
                                                  param: at + ".type")
            }
        }
        guard !parts.isEmpty else { return toolMessages }
        let content: JSONValue
        if parts.count == 1, let text = parts[0]["text"]?.stringValue {
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
    private static func assistantMessage(_ blocks: [JSONValue], at path: String) throws(GatewayError) -> JSONValue? {
        var text = ""
        var calls: [JSONValue] = []
        for (index, block) in blocks.enumerated() {
            let at = "\(path).content.\(index)"
            switch block["type"]?.stringValue {
            case "text": text += block["text"]?.stringValue ?? ""
            case "tool_use": calls.append(try MessagesToolMapping.toolCall(block, at: at))
            case "thinking", "redacted_thinking": continue
            case let type:
                throw GatewayError.invalidRequest("\(at): content blocks of type '\(type ?? "none")' are not supported",
                                                  param: at + ".type")
            }
        }
        guard !text.isEmpty || !calls.isEmpty else { return nil }
        var message = JSONObject([("role", .string("assistant")), ("content", text.isEmpty ? .null : .string(text))])
        if !calls.isEmpty { message["tool_calls"] = .array(calls) }
        return .object(message)
    }
}
