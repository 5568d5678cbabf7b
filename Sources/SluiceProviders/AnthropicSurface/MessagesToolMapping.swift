import SluiceCore

/// Anthropic client tools ↔ OpenAI function tools, for the `/v1/messages` surface.
enum MessagesToolMapping {
    /// `[{name, description, input_schema}]` → `[{type: function, function: {name, description, parameters}}]`.
    /// Anthropic's server tools (web search, code execution, …) have no OpenAI equivalent.
    static func tools(_ value: JSONValue?, rich: Bool = false) throws(GatewayError) -> [JSONValue] {
        guard let value, !value.isNull else { return [] }
        guard let tools = value.arrayValue else {
            throw GatewayError.invalidRequest("tools: Input should be a valid list", param: "tools")
        }
        var out: [JSONValue] = []
        for (index, tool) in tools.enumerated() {
            let path = "tools.\(index)"
            if let type = tool["type"]?.stringValue, type != "custom" {
                throw GatewayError.invalidRequest("\(path): tools of type '\(type)' are not supported for this route",
                                                  param: path + ".type")
            }
            guard let name = tool["name"]?.stringValue else {
                throw GatewayError.invalidRequest("\(path).name: Field required", param: path + ".name")
            }
            guard case .object(let schema)? = tool["input_schema"] else {
                throw GatewayError.invalidRequest("\(path).input_schema: Field required", param: path + ".input_schema")
            }
            var function = JSONObject([("name", .string(name))])
            if let description = tool["description"]?.stringValue { function["description"] = .string(description) }
            function["parameters"] = .object(schema)
            var entry = JSONObject([("type", .string("function")), ("function", .object(function))])
            if rich, let cache = tool["cache_control"], !cache.isNull { entry["cache_control"] = cache }
            out.append(.object(entry))
        }
        return out
    }

    /// Anthropic's `tool_choice` → OpenAI's `tool_choice` and `parallel_tool_calls`.
    static func toolChoice(_ value: JSONValue?) throws(GatewayError) -> (JSONValue?, Bool?) {
        guard let value, !value.isNull else { return (nil, nil) }
        let parallel: Bool? = value["disable_parallel_tool_use"]?.boolValue == true ? false : nil
        switch value["type"]?.stringValue {
        case "auto": return (.string("auto"), parallel)
        case "any": return (.string("required"), parallel)
        case "none": return (.string("none"), nil)
        case "tool":
            guard let name = value["name"]?.stringValue else {
                throw GatewayError.invalidRequest("tool_choice.name: Field required", param: "tool_choice.name")
            }
            let function = JSONObject([("name", .string(name))])
            return (.object(JSONObject([("type", .string("function")), ("function", .object(function))])), parallel)
        default:
            throw GatewayError.invalidRequest("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'",
                                              param: "tool_choice")
        }
    }

    /// A `tool_use` block of the history → an OpenAI `tool_calls` entry.
    static func toolCall(_ block: JSONValue, at path: String) throws(GatewayError) -> JSONValue {
        guard let object = block.objectValue, object["id"]?.stringValue != nil, object["name"]?.stringValue != nil else {
            throw GatewayError.invalidRequest("\(path): tool_use blocks need an id and a name", param: path)
        }
        if let input = object["input"], input.objectValue == nil {
            throw GatewayError.invalidRequest("\(path).input: Input should be a valid dictionary", param: path + ".input")
        }
        return AnthropicToolMapping.toolCall(object)
    }

    /// An OpenAI `tool_calls` entry → a `tool_use` block; `nil` when `arguments` is not a
    /// JSON object (Anthropic's `input` must be one).
    static func toolUse(_ call: JSONValue) -> JSONValue? {
        guard let function = call["function"]?.objectValue else { return nil }
        let arguments = function["arguments"]?.stringValue ?? ""
        let input: JSONObject
        if arguments.allSatisfy(\.isWhitespace) {
            input = JSONObject()
        } else if let parsed = JSONValue.parseObject(arguments) {
            input = parsed
        } else {
            return nil
        }
        return .object(JSONObject([("type", .string("tool_use")), ("id", call["id"] ?? .string("")),
                                   ("name", function["name"] ?? .string("")), ("input", .object(input))]))
    }
}
