import SluiceCore

/// OpenAI function tools ↔ Anthropic tools, in both directions (the provider translator
/// and the `/v1/messages` surface share these).
enum AnthropicToolMapping {
    // MARK: OpenAI → Anthropic

    /// `tools: [{type: function, function: {name, description, parameters}}]` →
    /// `[{name, description, input_schema}]`.
    static func tools(_ value: JSONValue?) throws(GatewayError) -> [JSONValue] {
        guard let tools = value?.arrayValue else {
            if let value, !value.isNull {
                throw GatewayError.invalidRequest("'tools' must be an array.", param: "tools")
            }
            return []
        }
        var out: [JSONValue] = []
        for (index, tool) in tools.enumerated() {
            let path = "tools[\(index)]"
            guard tool["type"]?.stringValue == "function" else {
                throw GatewayError.invalidRequest("Only tools of type 'function' are supported for this route.",
                                                  param: path + ".type")
            }
            guard let function = tool["function"]?.objectValue, let name = function["name"]?.stringValue else {
                throw GatewayError.invalidRequest("Missing required parameter: '\(path).function.name'.",
                                                  param: path + ".function.name")
            }
            var mapped = JSONObject([("name", .string(name))])
            if let description = function["description"]?.stringValue { mapped["description"] = .string(description) }
            guard name != StructuredOutputTool.name else {
                throw GatewayError.invalidRequest("The tool name '\(name)' is reserved by the gateway.", param: path + ".function.name")
            }
            switch function["parameters"] {
            case .object(let schema)?: mapped["input_schema"] = .object(schema)
            case nil, .null?: mapped["input_schema"] = .object(JSONObject([("type", .string("object")),
                                                                           ("properties", .object(JSONObject()))]))
            default:
                throw GatewayError.invalidRequest("'\(path).function.parameters' must be an object.",
                                                  param: path + ".function.parameters")
            }
            if let cache = tool["cache_control"], !cache.isNull { mapped["cache_control"] = cache }
            out.append(.object(mapped))
        }
        return out
    }

    /// `tool_choice` and `parallel_tool_calls` → Anthropic's `tool_choice`, or `nil` for
    /// Anthropic's default (auto, parallel allowed).
    static func toolChoice(_ value: JSONValue?, parallel: Bool?) throws(GatewayError) -> JSONObject? {
        var choice: JSONObject
        switch value {
        case nil, .null?:
            guard parallel == false else { return nil }
            choice = JSONObject([("type", .string("auto"))])
        case .string("auto")?: choice = JSONObject([("type", .string("auto"))])
        case .string("required")?: choice = JSONObject([("type", .string("any"))])
        case .string("none")?: return JSONObject([("type", .string("none"))])
        case .object(let object)? where object["function"]?["name"]?.stringValue != nil:
            choice = JSONObject([("type", .string("tool")), ("name", object["function"]!["name"]!)])
        default:
            throw GatewayError.invalidRequest(
                "'tool_choice' must be 'auto', 'none', 'required' or {\"type\":\"function\",\"function\":{\"name\":…}}.",
                param: "tool_choice")
        }
        if parallel == false { choice["disable_parallel_tool_use"] = .bool(true) }
        return choice
    }

    /// An assistant `tool_calls` entry → a `tool_use` block; `arguments` must hold a JSON object.
    static func toolUse(_ call: JSONValue, at path: String) throws(GatewayError) -> JSONValue {
        guard let id = call["id"]?.stringValue, let function = call["function"]?.objectValue,
              let name = function["name"]?.stringValue else {
            throw GatewayError.invalidRequest("'\(path)' must have an 'id' and a 'function.name'.", param: path)
        }
        let arguments = function["arguments"]?.stringValue ?? ""
        let input: JSONObject
        if arguments.allSatisfy({ $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }) {
            input = JSONObject()
        } else if let parsed = JSONValue.parseObject(arguments) {
            input = parsed
        } else {
            throw GatewayError.invalidRequest("'\(path).function.arguments' must be a JSON object encoded as a string.",
                                              param: path + ".function.arguments")
        }
        return .object(JSONObject([("type", .string("tool_use")), ("id", .string(id)), ("name", .string(name)),
                                   ("input", .object(input))]))
    }

    // MARK: Anthropic → OpenAI

    /// A `tool_use` block → an OpenAI `tool_calls` entry (`arguments`: compact JSON of `input`).
    static func toolCall(_ block: JSONObject) -> JSONValue {
        let arguments = block["input"]?.encoded ?? "{}"
        return .object(JSONObject([
            ("id", block["id"] ?? .string("")), ("type", .string("function")),
            ("function", .object(JSONObject([("name", block["name"] ?? .string("")), ("arguments", .string(arguments))]))),
        ]))
    }
}
