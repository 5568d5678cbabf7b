import SluiceCore

/// OpenAI's Responses API request (`POST /v1/responses`) as the canonical chat-completions
/// body, for the providers that have no Responses API (Anthropic, Bedrock, Databricks):
/// every documented field translated or refused with a 400 naming it (`ResponsesContract`).
///
/// - `instructions` → a system message first; `input` (a string, or items: messages with
///   `input_text` / `input_image` / `output_text` parts, `function_call`,
///   `function_call_output`, `reasoning` with `encrypted_content`) → chat messages, after
///   the stored conversation of `previous_response_id` (`history`).
/// - function `tools`, `tool_choice`, `parallel_tool_calls`; `reasoning.effort` →
///   `reasoning_effort`; `text.format` → `response_format`; `max_output_tokens` →
///   `max_completion_tokens`; `temperature`, `top_p`, `user`, `safety_identifier`.
/// - `prompt_cache_key` → `cache_control` breakpoints after the instructions and on the
///   last input item, for a target that speaks them (Claude caches the prefix then).
enum ResponsesRequestBody {
    /// The chat body, and the client's input as Responses items (for the stored state).
    struct Made {
        var chat: [UInt8]
        /// The new input as chat messages (without the history and instructions).
        var inputMessages: [JSONValue]
    }

    static let builtInTools: Set<String> = [
        "web_search", "web_search_preview", "web_search_preview_2025_03_11", "file_search", "computer_use_preview",
        "computer_use", "code_interpreter", "image_generation", "mcp", "local_shell", "shell", "custom", "apply_patch",
    ]

    static func make(from body: [UInt8], history: [JSONValue], for target: MessagesTarget) throws(GatewayError) -> Made {
        guard let request = JSONValue.parseObject(body) else {
            throw GatewayError(.invalidJSON, "The request body is not a valid JSON object.")
        }
        try ResponsesContract.check(request, target: target)
        guard case .string(let model)? = request["model"], !model.isEmpty else {
            throw GatewayError.invalidRequest("Missing required parameter: 'model'.", param: "model")
        }
        let rich = target == .anthropicFeatures
        var out = JSONObject([("model", .string(model))])
        var messages: [JSONValue] = []
        if let instructions = request["instructions"], !instructions.isNull {
            guard let text = instructions.stringValue else {
                throw GatewayError.invalidRequest("'instructions' must be a string.", param: "instructions")
            }
            var part = JSONObject([("type", .string("text")), ("text", .string(text))])
            if rich, request["prompt_cache_key"]?.stringValue != nil {
                part["cache_control"] = .object(JSONObject([("type", .string("ephemeral"))]))
            }
            messages.append(.object(JSONObject([("role", .string("system")), ("content", .array([.object(part)]))])))
        }
        messages += history
        var input = try inputMessages(request["input"])
        if !rich {
            // OpenAI-family models take no reasoning back in chat completions.
            input = input.map { message in
                guard var object = message.objectValue, object["thinking_blocks"] != nil else { return message }
                object["thinking_blocks"] = nil
                return .object(object)
            }.filter { $0["content"]?.isNull != true || $0["tool_calls"] != nil }
        }
        if rich, request["prompt_cache_key"]?.stringValue != nil, let last = input.indices.last {
            input[last] = markedForCache(input[last])
        }
        messages += input
        guard !messages.isEmpty else {
            throw GatewayError.invalidRequest("Missing required parameter: 'input'.", param: "input")
        }
        out["messages"] = .array(messages)
        if let cap = request["max_output_tokens"], !cap.isNull {
            guard let tokens = cap.intValue, tokens > 0 else {
                throw GatewayError.invalidRequest("'max_output_tokens' must be a positive integer.", param: "max_output_tokens")
            }
            out["max_completion_tokens"] = .int(tokens)
        }
        for name in ["temperature", "top_p", "parallel_tool_calls"] {
            if let value = request[name], !value.isNull { out[name] = value }
        }
        if let user = request["safety_identifier"]?.stringValue ?? request["user"]?.stringValue { out["user"] = .string(user) }
        if request["stream"]?.boolValue == true {
            out["stream"] = .bool(true)
            out["stream_options"] = .object(JSONObject([("include_usage", .bool(true))]))
        }
        let tools = try self.tools(request["tools"])
        if !tools.isEmpty {
            out["tools"] = .array(tools)
            if let choice = try toolChoice(request["tool_choice"]) { out["tool_choice"] = choice }
        }
        if let effort = request["reasoning"]?["effort"], !effort.isNull {
            guard let name = effort.stringValue else {
                throw GatewayError.invalidRequest("'reasoning.effort' must be a string.", param: "reasoning.effort")
            }
            if name != "none" { out["reasoning_effort"] = .string(name) }
        }
        if let format = request["text"]?["format"], !format.isNull {
            out["response_format"] = try responseFormat(format)
        }
        return Made(chat: out.bytes, inputMessages: input)
    }

    /// The last part of an input message marked with `cache_control` (Claude then caches
    /// everything up to it).
    private static func markedForCache(_ message: JSONValue) -> JSONValue {
        guard var object = message.objectValue else { return message }
        let cache = JSONValue.object(JSONObject([("type", .string("ephemeral"))]))
        switch object["content"] {
        case .string(let text)?:
            object["content"] = .array([.object(JSONObject([("type", .string("text")), ("text", .string(text)),
                                                            ("cache_control", cache)]))])
        case .array(var parts)? where !parts.isEmpty:
            if var last = parts[parts.count - 1].objectValue {
                last["cache_control"] = cache
                parts[parts.count - 1] = .object(last)
            }
            object["content"] = .array(parts)
        default:
            return message
        }
        return .object(object)
    }

    /// `input` as chat messages.
    static func inputMessages(_ input: JSONValue?) throws(GatewayError) -> [JSONValue] {
        switch input {
        case nil, .null?: return []
        case .string(let text)?:
            return [.object(JSONObject([("role", .string("user")), ("content", .string(text))]))]
        case .array(let items)?:
            var messages: [JSONValue] = []
            for (index, item) in items.enumerated() {
                try append(item, at: "input[\(index)]", to: &messages)
            }
            return messages
        default:
            throw GatewayError.invalidRequest("'input' must be a string or an array of input items.", param: "input")
        }
    }

    private static func append(_ item: JSONValue, at path: String, to messages: inout [JSONValue]) throws(GatewayError) {
        guard let object = item.objectValue else {
            throw GatewayError.invalidRequest("'\(path)' must be an object.", param: path)
        }
        let type = object["type"]?.stringValue ?? (object["role"] != nil ? "message" : nil)
        switch type {
        case "message":
            guard let role = object["role"]?.stringValue, ["user", "system", "developer", "assistant"].contains(role) else {
                throw GatewayError.invalidRequest("'\(path).role' must be user, system, developer or assistant.",
                                                  param: path + ".role")
            }
            let content = try self.content(object["content"], role: role, at: path + ".content")
            if role == "assistant", case .object(var last)? = messages.last, last["role"]?.stringValue == "assistant",
               last["content"] == nil || last["content"]?.isNull == true {
                // Reasoning before this text: one assistant turn.
                last["content"] = content
                messages[messages.count - 1] = .object(last)
            } else {
                messages.append(.object(JSONObject([("role", .string(role)), ("content", content)])))
            }
        case "function_call":
            guard let callId = object["call_id"]?.stringValue, let name = object["name"]?.stringValue else {
                throw GatewayError.invalidRequest("'\(path)' needs call_id and name.", param: path)
            }
            let call = JSONValue.object(JSONObject([
                ("id", .string(callId)), ("type", .string("function")),
                ("function", .object(JSONObject([("name", .string(name)),
                                                 ("arguments", .string(object["arguments"]?.stringValue ?? "{}"))]))),
            ]))
            // Calls of one turn (and its reasoning or text) go in one assistant message.
            if case .object(var last)? = messages.last, last["role"]?.stringValue == "assistant" {
                last["tool_calls"] = .array((last["tool_calls"]?.arrayValue ?? []) + [call])
                messages[messages.count - 1] = .object(last)
            } else {
                messages.append(.object(JSONObject([("role", .string("assistant")), ("content", .null),
                                                    ("tool_calls", .array([call]))])))
            }
        case "function_call_output":
            guard let callId = object["call_id"]?.stringValue else {
                throw GatewayError.invalidRequest("'\(path).call_id' is required.", param: path + ".call_id")
            }
            let output: String
            switch object["output"] {
            case .string(let text)?: output = text
            case .array(let parts)?:
                output = parts.compactMap { $0["text"]?.stringValue }.joined()
            default:
                throw GatewayError.invalidRequest("'\(path).output' must be a string.", param: path + ".output")
            }
            messages.append(.object(JSONObject([("role", .string("tool")), ("tool_call_id", .string(callId)),
                                                ("content", .string(output))])))
        case "reasoning":
            // Reasoning goes back only as the signed blocks Sluice gave out (encrypted_content);
            // a summary alone is not something a provider takes back.
            guard let encrypted = object["encrypted_content"]?.stringValue else { return }
            guard let blocks = ReasoningEnvelope.blocks(from: encrypted) else {
                throw GatewayError.invalidRequest("'\(path).encrypted_content' was not made by this gateway.",
                                                  param: path + ".encrypted_content")
            }
            if case .object(var last)? = messages.last, last["role"]?.stringValue == "assistant", last["tool_calls"] == nil {
                last["thinking_blocks"] = .array((last["thinking_blocks"]?.arrayValue ?? []) + blocks)
                messages[messages.count - 1] = .object(last)
            } else {
                messages.append(.object(JSONObject([("role", .string("assistant")), ("content", .null),
                                                    ("thinking_blocks", .array(blocks))])))
            }
        case let other:
            throw GatewayError.invalidRequest(
                "Input items of type '\(other ?? "none")' cannot be translated for this route.", param: path + ".type")
        }
    }

    /// A message's content as chat content: a string, or text and image parts.
    private static func content(_ value: JSONValue?, role: String, at path: String) throws(GatewayError) -> JSONValue {
        switch value {
        case .string(let text)?: return .string(text)
        case .array(let parts)?:
            var out: [JSONValue] = []
            for (index, part) in parts.enumerated() {
                let at = "\(path)[\(index)]"
                switch part["type"]?.stringValue {
                case "input_text", "output_text", "text":
                    guard let text = part["text"]?.stringValue else {
                        throw GatewayError.invalidRequest("'\(at).text' must be a string.", param: at + ".text")
                    }
                    out.append(.object(JSONObject([("type", .string("text")), ("text", .string(text))])))
                case "refusal":
                    out.append(.object(JSONObject([("type", .string("text")),
                                                   ("text", .string(part["refusal"]?.stringValue ?? ""))])))
                case "input_image" where role == "user":
                    guard let url = part["image_url"]?.stringValue else {
                        throw GatewayError.invalidRequest("'\(at).image_url' is required (file_id images cannot be translated).",
                                                          param: at + ".image_url")
                    }
                    var image = JSONObject([("url", .string(url))])
                    if let detail = part["detail"]?.stringValue { image["detail"] = .string(detail) }
                    out.append(.object(JSONObject([("type", .string("image_url")), ("image_url", .object(image))])))
                case let type:
                    throw GatewayError.invalidRequest("Content parts of type '\(type ?? "none")' cannot be translated for this route.",
                                                      param: at + ".type")
                }
            }
            if role == "assistant" || role == "system" || role == "developer" {
                // Chat takes text for these roles: join it.
                let texts = out.compactMap { $0["text"]?.stringValue }
                if texts.count == out.count { return .string(texts.joined()) }
            }
            return .array(out)
        default:
            throw GatewayError.invalidRequest("'\(path)' must be a string or an array of content parts.", param: path)
        }
    }

    /// Function tools (`{type: function, name, description, parameters, strict}`) as chat
    /// tools; built-in tools are refused, naming them.
    private static func tools(_ value: JSONValue?) throws(GatewayError) -> [JSONValue] {
        guard let value, !value.isNull else { return [] }
        guard let tools = value.arrayValue else {
            throw GatewayError.invalidRequest("'tools' must be an array.", param: "tools")
        }
        var out: [JSONValue] = []
        for (index, tool) in tools.enumerated() {
            let type = tool["type"]?.stringValue ?? "none"
            guard type == "function" else {
                throw GatewayError.invalidRequest("The built-in tool '\(type)' is not available on this route's provider.",
                                                  param: "tools[\(index)].type")
            }
            guard let name = tool["name"]?.stringValue else {
                throw GatewayError.invalidRequest("Missing required parameter: 'tools[\(index)].name'.", param: "tools[\(index)].name")
            }
            var function = JSONObject([("name", .string(name))])
            if let description = tool["description"]?.stringValue { function["description"] = .string(description) }
            function["parameters"] = tool["parameters"].flatMap { $0.isNull ? nil : $0 }
                ?? .object(JSONObject([("type", .string("object")), ("properties", .object(JSONObject()))]))
            if let strict = tool["strict"]?.boolValue { function["strict"] = .bool(strict) }
            out.append(.object(JSONObject([("type", .string("function")), ("function", .object(function))])))
        }
        return out
    }

    private static func toolChoice(_ value: JSONValue?) throws(GatewayError) -> JSONValue? {
        switch value {
        case nil, .null?: return nil
        case .string(let mode)? where ["auto", "none", "required"].contains(mode): return .string(mode)
        case .object(let object)? where object["type"]?.stringValue == "function":
            guard let name = object["name"]?.stringValue else {
                throw GatewayError.invalidRequest("'tool_choice.name' is required.", param: "tool_choice.name")
            }
            return .object(JSONObject([("type", .string("function")),
                                       ("function", .object(JSONObject([("name", .string(name))])))]))
        default:
            throw GatewayError.invalidRequest("This 'tool_choice' cannot be translated: use auto, none, required or a function.",
                                              param: "tool_choice")
        }
    }

    /// `text.format` → `response_format`.
    private static func responseFormat(_ format: JSONValue) throws(GatewayError) -> JSONValue {
        switch format["type"]?.stringValue {
        case "text": return .object(JSONObject([("type", .string("text"))]))
        case "json_object": return .object(JSONObject([("type", .string("json_object"))]))
        case "json_schema":
            guard case .object(let schema)? = format["schema"] else {
                throw GatewayError.invalidRequest("'text.format.schema' must be an object.", param: "text.format.schema")
            }
            var jsonSchema = JSONObject([("name", format["name"] ?? .string("output")), ("schema", .object(schema))])
            if let strict = format["strict"], !strict.isNull { jsonSchema["strict"] = strict }
            if let description = format["description"], !description.isNull { jsonSchema["description"] = description }
            return .object(JSONObject([("type", .string("json_schema")), ("json_schema", .object(jsonSchema))]))
        case let type:
            throw GatewayError.invalidRequest("Unknown text.format type '\(type ?? "none")'.", param: "text.format.type")
        }
    }
}

/// Claude's signed thinking blocks carried in a Responses `reasoning` item's
/// `encrypted_content` (base64 of their JSON), so a client that keeps its own state
/// (`store: false`, the Agents SDK) can send them back on the next turn.
enum ReasoningEnvelope {
    static let prefix = "sluice:"

    static func encode(_ blocks: [JSONValue]) -> String {
        prefix + Base64.encode(Array(JSONValue.array(blocks).encoded.utf8))
    }

    static func blocks(from text: String) -> [JSONValue]? {
        guard text.hasPrefix(prefix), let bytes = Base64.decode(String(text.dropFirst(prefix.count))),
              let object = JSONValue.parseObject(Array("{\"b\":".utf8) + bytes + Array("}".utf8)) else { return nil }
        return object["b"]?.arrayValue
    }
}
