import SluiceCore

/// The Anthropic Messages request (`POST /v1/messages`) for an OpenAI chat-completions body,
/// under the translation contract (`ChatContract`): every field is translated or refused.
///
/// System and developer messages become the top-level `system`; `tool` messages become
/// `tool_result` blocks of a user turn; consecutive turns of one role are merged, since
/// Anthropic wants user and assistant to alternate. `cache_control` on content parts,
/// system parts and tools becomes Anthropic's `cache_control` on the matching block (ttl
/// kept); an assistant's `thinking_blocks` go back first in its turn, signatures intact;
/// `reasoning_effort` becomes a thinking budget; `response_format` a forced tool.
enum AnthropicRequestBody {
    /// `max_tokens` when neither the client nor the endpoint's params give one: Anthropic
    /// requires the field, OpenAI does not.
    static let defaultMaxTokens = 4096

    /// The upstream body: `chat` translated, `model` set, then each of `params` (name →
    /// JSON text) replacing the field of the same name or added.
    static func make(from chat: [UInt8], model: String,
                     params: [(name: String, json: String)]) throws(GatewayError) -> [UInt8] {
        guard let request = JSONValue.parseObject(chat) else {
            throw GatewayError(.invalidJSON, "The request body is not a JSON object.")
        }
        try ChatContract.check(request, kind: .anthropic, providerName: "Anthropic")
        var out = JSONObject()
        out["model"] = .string(model)
        let (system, messages) = try translateMessages(request["messages"])
        if let system { out["system"] = system }
        out["messages"] = .array(messages)
        let clientCap = try maxTokens(request)
        let reasoning = try ReasoningBudget.thinking(request, maxTokens: clientCap, defaultMaxTokens: defaultMaxTokens)
        out["max_tokens"] = .int(reasoning?.maxTokens ?? clientCap ?? defaultMaxTokens)
        if let user = request["user"]?.stringValue ?? request["safety_identifier"]?.stringValue {
            out["metadata"] = .object(JSONObject([("user_id", .string(user))]))
        }
        switch request["stop"] {
        case .string(let stop)?: out["stop_sequences"] = .array([.string(stop)])
        case .array(let stops)? where !stops.isEmpty:
            guard stops.allSatisfy({ $0.stringValue != nil }) else {
                throw GatewayError.invalidRequest("'stop' must be a string or an array of strings.", param: "stop")
            }
            out["stop_sequences"] = .array(stops)
        default: break
        }
        if request["stream"]?.boolValue == true { out["stream"] = .bool(true) }
        for name in ["temperature", "top_p", "top_k"] {
            if let value = request[name], !value.isNull { out[name] = value }
        }
        if let temperature = request["temperature"]?.number, temperature > 1 {
            throw GatewayError.invalidRequest("Anthropic takes a 'temperature' from 0 to 1.", param: "temperature")
        }
        if let reasoning { out["thinking"] = reasoning.thinking }
        switch request["service_tier"]?.stringValue {
        case "auto"?: out["service_tier"] = .string("auto")
        case "default"?: out["service_tier"] = .string("standard_only")
        case nil: break
        case let tier?:
            throw GatewayError.invalidRequest("Anthropic has no '\(tier)' service tier (auto or default).", param: "service_tier")
        }
        var tools = try AnthropicToolMapping.tools(request["tools"])
        var choice = try AnthropicToolMapping.toolChoice(request["tool_choice"],
                                                         parallel: request["parallel_tool_calls"]?.boolValue)
        if let structured = try StructuredOutputTool.schema(request["response_format"]) {
            guard reasoning == nil else {
                throw GatewayError.invalidRequest(
                    "Anthropic cannot force the structured-output tool while thinking: leave out 'reasoning_effort' or 'response_format'.",
                    param: "response_format")
            }
            guard choice == nil || choice?["type"]?.stringValue == "auto" else {
                throw GatewayError.invalidRequest("'response_format' cannot be combined with a 'tool_choice' for Anthropic.",
                                                  param: "response_format")
            }
            tools.append(.object(JSONObject([("name", .string(StructuredOutputTool.name)),
                                             ("description", .string(structured.description)),
                                             ("input_schema", .object(structured.schema))])))
            choice = JSONObject([("type", .string("tool")), ("name", .string(StructuredOutputTool.name))])
        }
        if !tools.isEmpty {
            out["tools"] = .array(tools)
            if let choice { out["tool_choice"] = .object(choice) }
        }
        for param in params {
            guard let value = JSONValue.parseObject("{\"v\":\(param.json)}")?["v"] else {
                throw GatewayError(.internalError, "The endpoint parameter '\(param.name)' is not valid JSON.")
            }
            out[param.name] = value
        }
        return out.bytes
    }

    /// `max_completion_tokens`, else `max_tokens`, else `nil`.
    static func maxTokens(_ request: JSONObject) throws(GatewayError) -> Int? {
        for name in ["max_completion_tokens", "max_tokens"] {
            guard let value = request[name], !value.isNull else { continue }
            guard let tokens = value.intValue, tokens > 0 else {
                throw GatewayError.invalidRequest("'\(name)' must be a positive integer.", param: name)
            }
            return tokens
        }
        return nil
    }

    // MARK: Messages

    /// `system` (a string, or text blocks when there are several) and the alternating turns.
    private static func translateMessages(_ value: JSONValue?) throws(GatewayError) -> (JSONValue?, [JSONValue]) {
        guard let messages = value?.arrayValue else {
            throw GatewayError.invalidRequest("Missing required parameter: 'messages'.", param: "messages")
        }
        var system: [JSONValue] = []
        var turns = AnthropicTurns()
        for (index, element) in messages.enumerated() {
            let path = "messages[\(index)]"
            guard let message = element.objectValue, let role = message["role"]?.stringValue else {
                throw GatewayError.invalidRequest("'\(path)' must be an object with a 'role'.", param: path)
            }
            switch role {
            case "system", "developer":
                system += try textBlocks(of: message["content"], at: path + ".content")
            case "user":
                turns.add(role: "user", content: try userContent(message["content"], at: path + ".content"))
            case "assistant":
                let blocks = try assistantBlocks(message, at: path)
                if !blocks.isEmpty { turns.add(role: "assistant", content: .array(blocks)) }
            case "tool":
                guard let id = message["tool_call_id"]?.stringValue else {
                    throw GatewayError.invalidRequest("Missing required parameter: '\(path).tool_call_id'.",
                                                      param: path + ".tool_call_id")
                }
                var result = JSONObject([("type", .string("tool_result")), ("tool_use_id", .string(id))])
                result["content"] = try toolResultContent(message["content"], at: path + ".content")
                if let cache = Self.cacheControl(ofParts: message["content"]) { result["cache_control"] = cache }
                if message["is_error"]?.boolValue == true { result["is_error"] = .bool(true) }
                turns.add(role: "user", content: .array([.object(result)]))
            default:
                throw GatewayError.invalidRequest("Unsupported role '\(role)' in '\(path)'.", param: path + ".role")
            }
        }
        let systemValue: JSONValue?
        if system.isEmpty {
            systemValue = nil
        } else if system.count == 1, system[0]["cache_control"] == nil, let text = system[0]["text"] {
            systemValue = text
        } else {
            systemValue = .array(system)
        }
        return (systemValue, turns.messages)
    }

    /// Text blocks for a string or an array of text parts, each part's `cache_control` kept.
    private static func textBlocks(of content: JSONValue?, at path: String) throws(GatewayError) -> [JSONValue] {
        guard case .array(let parts)? = content else {
            return try texts(of: content, at: path).map { .object(JSONObject([("type", .string("text")), ("text", .string($0))])) }
        }
        var blocks: [JSONValue] = []
        for (index, part) in parts.enumerated() {
            guard part["type"]?.stringValue == "text", let text = part["text"]?.stringValue else {
                throw GatewayError.invalidRequest("'\(path)[\(index)]' must be a text part.", param: "\(path)[\(index)]")
            }
            var block = JSONObject([("type", .string("text")), ("text", .string(text))])
            if let cache = part["cache_control"], !cache.isNull { block["cache_control"] = cache }
            blocks.append(.object(block))
        }
        return blocks
    }

    /// The `cache_control` of the last part that has one, for a content array.
    static func cacheControl(ofParts content: JSONValue?) -> JSONValue? {
        guard case .array(let parts)? = content else { return nil }
        return parts.reversed().lazy.compactMap { part -> JSONValue? in
            guard let cache = part["cache_control"], !cache.isNull else { return nil }
            return cache
        }.first
    }

    /// The texts of a string or an array of text parts.
    private static func texts(of content: JSONValue?, at path: String) throws(GatewayError) -> [String] {
        switch content {
        case .string(let text)?: return [text]
        case .array(let parts)?:
            var texts: [String] = []
            for (index, part) in parts.enumerated() {
                guard part["type"]?.stringValue == "text", let text = part["text"]?.stringValue else {
                    throw GatewayError.invalidRequest("'\(path)[\(index)]' must be a text part.", param: "\(path)[\(index)]")
                }
                texts.append(text)
            }
            return texts
        case nil, .null?: return []
        default:
            throw GatewayError.invalidRequest("'\(path)' must be a string or an array of text parts.", param: path)
        }
    }

    /// A user message's content: a string stays a string; parts become blocks.
    private static func userContent(_ content: JSONValue?, at path: String) throws(GatewayError) -> JSONValue {
        switch content {
        case .string(let text)?: return .string(text)
        case .array(let parts)?:
            var blocks: [JSONValue] = []
            for (index, part) in parts.enumerated() {
                blocks.append(try block(forPart: part, at: "\(path)[\(index)]"))
            }
            return .array(blocks)
        default:
            throw GatewayError.invalidRequest("'\(path)' must be a string or an array of content parts.", param: path)
        }
    }

    /// A text or image block for one OpenAI content part.
    private static func block(forPart part: JSONValue, at path: String) throws(GatewayError) -> JSONValue {
        switch part["type"]?.stringValue {
        case "text":
            guard let text = part["text"]?.stringValue else {
                throw GatewayError.invalidRequest("'\(path).text' must be a string.", param: path + ".text")
            }
            return withCacheControl(JSONObject([("type", .string("text")), ("text", .string(text))]), from: part)
        case "image_url":
            guard let url = part["image_url"]?["url"]?.stringValue ?? part["image_url"]?.stringValue else {
                throw GatewayError.invalidRequest("'\(path).image_url.url' must be a string.", param: path + ".image_url.url")
            }
            return withCacheControl(JSONObject([("type", .string("image")), ("source", .object(try imageSource(url, at: path)))]),
                                    from: part)
        case let type:
            throw GatewayError.invalidRequest("Content parts of type '\(type ?? "none")' are not supported for this route.",
                                              param: path + ".type")
        }
    }

    /// `block` with the part's `cache_control` (type and ttl as the client wrote them).
    private static func withCacheControl(_ block: JSONObject, from part: JSONValue) -> JSONValue {
        var block = block
        if let cache = part["cache_control"], !cache.isNull { block["cache_control"] = cache }
        return .object(block)
    }

    /// `data:<media type>;base64,<data>` → a base64 source; `http(s)://` → a URL source.
    static func imageSource(_ url: String, at path: String) throws(GatewayError) -> JSONObject {
        let lower = url.prefix(8).lowercased()
        if lower.hasPrefix("https://") || lower.hasPrefix("http://") {
            return JSONObject([("type", .string("url")), ("url", .string(url))])
        }
        guard lower.hasPrefix("data:"), let comma = url.firstIndex(of: ",") else {
            throw GatewayError.invalidRequest("'\(path).image_url.url' must be an http(s) URL or a base64 data: URL.",
                                              param: path + ".image_url.url")
        }
        let header = url[url.index(url.startIndex, offsetBy: 5)..<comma]
        guard header.lowercased().hasSuffix(";base64") else {
            throw GatewayError.invalidRequest("'\(path).image_url.url': only base64 data: URLs are supported.",
                                              param: path + ".image_url.url")
        }
        let mediaType = header.dropLast(7).lowercased()
        return JSONObject([("type", .string("base64")), ("media_type", .string(String(mediaType))),
                           ("data", .string(String(url[url.index(after: comma)...])))])
    }

    /// An assistant message's text and `tool_calls` as text and `tool_use` blocks.
    private static func assistantBlocks(_ message: JSONObject, at path: String) throws(GatewayError) -> [JSONValue] {
        var blocks: [JSONValue] = []
        // Signed thinking blocks go back first, exactly as the answer had them.
        for (index, block) in (message["thinking_blocks"]?.arrayValue ?? []).enumerated() {
            guard let type = block["type"]?.stringValue, type == "thinking" || type == "redacted_thinking" else {
                throw GatewayError.invalidRequest("'\(path).thinking_blocks[\(index)]' must be a thinking or redacted_thinking block.",
                                                  param: "\(path).thinking_blocks[\(index)]")
            }
            blocks.append(block)
        }
        let content = message["content"]
        if case .array(let parts)? = content {
            // Assistant parts may be text or refusal parts.
            for part in parts {
                guard let text = part["text"]?.stringValue ?? part["refusal"]?.stringValue, !text.isEmpty else { continue }
                blocks.append(withCacheControl(JSONObject([("type", .string("text")), ("text", .string(text))]), from: part))
            }
        } else {
            for text in try self.texts(of: content, at: path + ".content") where !text.isEmpty {
                blocks.append(.object(JSONObject([("type", .string("text")), ("text", .string(text))])))
            }
        }
        if let calls = message["tool_calls"]?.arrayValue {
            for (index, call) in calls.enumerated() {
                blocks.append(try AnthropicToolMapping.toolUse(call, at: "\(path).tool_calls[\(index)]"))
            }
        }
        return blocks
    }

    /// A tool message's content: a string, or text blocks.
    private static func toolResultContent(_ content: JSONValue?, at path: String) throws(GatewayError) -> JSONValue {
        if case .string(let text)? = content { return .string(text) }
        let texts = try texts(of: content, at: path)
        return .array(texts.map { .object(JSONObject([("type", .string("text")), ("text", .string($0))])) })
    }
}

/// Anthropic turns being built: a turn of the same role as the last one is merged into it.
struct AnthropicTurns {
    private(set) var messages: [JSONValue] = []
    private var lastRole: String?

    mutating func add(role: String, content: JSONValue) {
        guard role == lastRole, case .object(var last)? = messages.last, let previous = last["content"] else {
            messages.append(.object(JSONObject([("role", .string(role)), ("content", content)])))
            lastRole = role
            return
        }
        last["content"] = .array(Self.blocks(previous) + Self.blocks(content))
        messages[messages.count - 1] = .object(last)
    }

    /// Content as blocks (a string becomes one text block).
    private static func blocks(_ content: JSONValue) -> [JSONValue] {
        switch content {
        case .string(let text): return [.object(JSONObject([("type", .string("text")), ("text", .string(text))]))]
        case .array(let blocks): return blocks
        default: return []
        }
    }
}
