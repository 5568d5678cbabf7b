import Foundation

/// A `POST /v1/responses` body, checked the way OpenAI checks it (400s in OpenAI's shape).
///
/// - Top-level keys: only those of OpenAI's `ResponseCreateParams` (``known``); any other
///   is `400 {"message": "Unknown parameter: 'foo'.", "param": "foo", "code":
///   "unknown_parameter"}`.
/// - `model`: a string, required unless the path names an Azure deployment.
/// - `input`: a string (one user message) or an array of items: messages
///   (`{"role", "content"}` with or without `"type": "message"`, role `user`, `system`,
///   `developer` or `assistant`, content a string or parts `input_text`, `input_image`,
///   `input_file`, `output_text`, `refusal`), `function_call` (`call_id`, `name`,
///   `arguments`), `function_call_output` (`call_id`, `output`) and `reasoning` items.
///   Items are kept as sent, a string content turned into one text part and an `id` added
///   where missing (`msg_`, `fc_`, `fco_`, `rs_`), so `input_items` can list them.
/// - `tools`: objects with a `type`; `function` tools use the flat shape
///   `{"type": "function", "name", "parameters", "strict"}` (chat's nested
///   `{"function": {…}}` is missing its `name`, as OpenAI answers). Other tool types are
///   accepted and echoed, never called.
/// - `tool_choice`: `none`, `auto`, `required`, or `{"type": "function", "name"}`.
/// - `text.format`: `text`, `json_object` (the input must mention "json"), or
///   `json_schema` with `name` and `schema`.
/// - `reasoning`: `{effort, summary}`; `max_output_tokens` at least 16; `temperature`
///   0–2, `top_p` 0–1; `truncation` `auto`/`disabled`; `stream_options` only with `stream`.
struct MockResponsesRequest {
    enum Format {
        case text, jsonObject
        case jsonSchema(Any)
    }

    /// The keys OpenAI's `ResponseCreateParams` defines.
    static let known: Set<String> = [
        "background", "conversation", "include", "input", "instructions", "max_output_tokens", "max_tool_calls",
        "metadata", "model", "parallel_tool_calls", "previous_response_id", "prompt", "prompt_cache_key",
        "prompt_cache_retention", "reasoning", "safety_identifier", "service_tier", "store", "stream",
        "stream_options", "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation",
        "user",
    ]
    static let efforts = ["none", "minimal", "low", "medium", "high", "xhigh"]

    var model: String?
    /// The input items, normalized (see above).
    var input: [[String: Any]] = []
    var instructions: String?
    /// Every tool as sent, for the echo.
    var tools: [[String: Any]] = []
    /// The `function` tools' names, in order, and their `parameters` by name.
    var functionNames: [String] = []
    var functionSchemas: [String: Any] = [:]
    var toolChoice: Any = "auto"
    var format = Format.text
    var text: [String: Any] = ["format": ["type": "text"], "verbosity": "medium"]
    var effort: String?
    var summary: String?
    var maxOutputTokens: Int?
    var store = true
    var background = false
    var stream = false
    var previousResponseID: String?
    var parallelToolCalls = true
    /// The echo fields that need no further logic, already defaulted.
    var echo: [String: Any] = [:]
    var include: [String] = []

    /// Parses `body`; `idPrefix` makes the ids given to input items unique.
    init(_ body: [String: Any], modelRequired: Bool, idPrefix: String) throws(MockAPIError) {
        if let unknown = body.keys.sorted().first(where: { !Self.known.contains($0) }) {
            throw .invalidRequest("Unknown parameter: '\(unknown)'.", param: unknown, code: "unknown_parameter")
        }
        if let raw = body["model"], !(raw is NSNull) {
            guard let model = raw as? String else { throw .invalidType("model", expected: "a string") }
            self.model = model
        } else if modelRequired {
            throw .missing("model")
        }
        input = try Self.items(body["input"], idPrefix: idPrefix)
        instructions = try body.optionalString("instructions")
        try parseTools(body)
        try parseText(body)
        if let raw = body["reasoning"], !(raw is NSNull) {
            guard let reasoning = raw as? [String: Any] else { throw .invalidType("reasoning", expected: "an object") }
            effort = try reasoning.optionalString("effort", param: "reasoning.effort")
            summary = try reasoning.optionalString("summary", param: "reasoning.summary")
            if let effort, !Self.efforts.contains(effort) {
                throw .invalidValue("reasoning.effort", "Supported values are: 'none', 'minimal', 'low', 'medium', "
                                    + "'high', and 'xhigh'.")
            }
            if let summary, !["auto", "concise", "detailed"].contains(summary) {
                throw .invalidValue("reasoning.summary", "Supported values are: 'auto', 'concise', and 'detailed'.")
            }
        }
        maxOutputTokens = try body.optionalInt("max_output_tokens", minimum: Int.min)
        if let limit = maxOutputTokens, limit < 16 {
            throw .invalidRequest("Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, "
                                  + "but got \(limit) instead.", param: "max_output_tokens", code: "integer_below_min_value")
        }
        store = try body.optionalBool("store") ?? true
        background = try body.optionalBool("background") ?? false
        stream = try body.optionalBool("stream") ?? false
        if let options = body["stream_options"], !(options is NSNull), !stream {
            throw .invalidRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                                  param: "stream_options")
        }
        previousResponseID = try body.optionalString("previous_response_id")
        parallelToolCalls = try body.optionalBool("parallel_tool_calls") ?? true
        try parseEcho(body)
    }

    /// The echo fields: sampling, truncation, metadata, identifiers and the service tier.
    private mutating func parseEcho(_ body: [String: Any]) throws(MockAPIError) {
        let temperature = try body.optionalNumber("temperature", in: 0...2)
        let topP = try body.optionalNumber("top_p", in: 0...1)
        let truncation = try body.optionalString("truncation") ?? "disabled"
        guard truncation == "auto" || truncation == "disabled" else {
            throw .invalidValue("truncation", "Supported values are: 'auto' and 'disabled'.")
        }
        var metadata: [String: Any] = [:]
        if let raw = body["metadata"], !(raw is NSNull) {
            guard let object = raw as? [String: Any], object.values.allSatisfy({ $0 is String }) else {
                throw .invalidType("metadata", expected: "an object with string values")
            }
            metadata = object
        }
        if let raw = body["include"], !(raw is NSNull) {
            guard let list = raw as? [String] else { throw .invalidType("include", expected: "an array of strings") }
            include = list
        }
        let tier = try body.optionalString("service_tier")
        if let tier, !["auto", "default", "flex", "scale", "priority"].contains(tier) {
            throw .invalidValue("service_tier", "Supported values are: 'auto', 'default', 'flex', 'scale', and "
                                + "'priority'.")
        }
        echo = [
            "temperature": temperature ?? 1.0, "top_p": topP ?? 1.0, "truncation": truncation, "metadata": metadata,
            "service_tier": tier.flatMap { $0 == "auto" ? nil : $0 } ?? "default",
            "top_logprobs": try body.optionalInt("top_logprobs", minimum: 0) ?? 0,
        ]
        for key in ["user", "prompt_cache_key", "safety_identifier"] {
            echo[key] = try body.optionalString(key).map { $0 as Any } ?? NSNull()
        }
        echo["max_tool_calls"] = try body.optionalInt("max_tool_calls", minimum: 1).map { $0 as Any } ?? NSNull()
    }

    private mutating func parseTools(_ body: [String: Any]) throws(MockAPIError) {
        if let raw = body["tools"], !(raw is NSNull) {
            guard let list = raw as? [Any] else { throw .invalidType("tools", expected: "an array of objects") }
            for (index, item) in list.enumerated() {
                guard let tool = item as? [String: Any] else { throw .invalidType("tools[\(index)]", expected: "an object") }
                guard let type = tool["type"] as? String else { throw .missing("tools[\(index)].type") }
                if type == "function" {
                    guard let name = tool["name"] as? String else { throw .missing("tools[\(index)].name") }
                    if let parameters = tool["parameters"], !(parameters is NSNull), !(parameters is [String: Any]) {
                        throw .invalidType("tools[\(index)].parameters", expected: "an object")
                    }
                    _ = try tool.optionalBool("strict", param: "tools[\(index)].strict")
                    functionNames.append(name)
                    functionSchemas[name] = tool["parameters"] as? [String: Any]
                    var echoed = tool
                    echoed["strict"] = tool["strict"] ?? true
                    echoed["description"] = tool["description"] ?? NSNull()
                    echoed["parameters"] = tool["parameters"] ?? NSNull()
                    tools.append(echoed)
                } else {
                    tools.append(tool)
                }
            }
        }
        guard let choice = body["tool_choice"], !(choice is NSNull) else { return }
        if let mode = choice as? String {
            guard ["none", "auto", "required"].contains(mode) else {
                throw .invalidValue("tool_choice", "Supported values are: 'none', 'auto', and 'required'.")
            }
        } else if let object = choice as? [String: Any] {
            guard object["type"] is String else { throw .missing("tool_choice.type") }
            if object["type"] as? String == "function", !(object["name"] is String) {
                throw .missing("tool_choice.name")
            }
        } else {
            throw .invalidType("tool_choice", expected: "a string or an object")
        }
        toolChoice = choice
    }

    private mutating func parseText(_ body: [String: Any]) throws(MockAPIError) {
        guard let raw = body["text"], !(raw is NSNull) else { return }
        guard let config = raw as? [String: Any] else { throw .invalidType("text", expected: "an object") }
        text["verbosity"] = try config.optionalString("verbosity", param: "text.verbosity") ?? "medium"
        guard let rawFormat = config["format"], !(rawFormat is NSNull) else { return }
        guard let spec = rawFormat as? [String: Any] else { throw .invalidType("text.format", expected: "an object") }
        guard let type = spec["type"] as? String else { throw .missing("text.format.type") }
        switch type {
        case "text": format = .text
        case "json_object": format = .jsonObject
        case "json_schema":
            guard spec["name"] is String else { throw .missing("text.format.name") }
            guard let schema = spec["schema"], !(schema is NSNull) else { throw .missing("text.format.schema") }
            guard schema is [String: Any] else { throw .invalidType("text.format.schema", expected: "an object") }
            _ = try spec.optionalBool("strict", param: "text.format.strict")
            format = .jsonSchema(schema)
        default:
            throw .invalidValue("text.format.type", "Supported values are: 'text', 'json_object', and 'json_schema'.")
        }
        text["format"] = spec
    }

    /// `input` as a list of items with ids (see the type's documentation).
    private static func items(_ raw: Any?, idPrefix: String) throws(MockAPIError) -> [[String: Any]] {
        guard let raw, !(raw is NSNull) else { return [] }
        if let string = raw as? String {
            return [["id": "msg_\(idPrefix)_0", "type": "message", "role": "user", "status": "completed",
                     "content": [["type": "input_text", "text": string]]]]
        }
        guard let list = raw as? [Any] else { throw .invalidType("input", expected: "a string or an array of items") }
        var items: [[String: Any]] = []
        for (index, entry) in list.enumerated() {
            let param = "input[\(index)]"
            guard var item = entry as? [String: Any] else { throw .invalidType(param, expected: "an object") }
            let type = item["type"] as? String ?? (item["role"] != nil ? "message" : "")
            let prefix: String
            switch type {
            case "message":
                try message(&item, param: param)
                prefix = "msg"
            case "function_call":
                for key in ["call_id", "name", "arguments"] where !(item[key] is String) {
                    throw item[key] == nil ? .missing("\(param).\(key)") : .invalidType("\(param).\(key)", expected: "a string")
                }
                prefix = "fc"
            case "function_call_output":
                guard item["call_id"] is String else { throw .missing("\(param).call_id") }
                guard item["output"] is String || item["output"] is [Any] else { throw .missing("\(param).output") }
                prefix = "fco"
            case "reasoning":
                guard item["summary"] is [Any] else { throw .missing("\(param).summary") }
                prefix = "rs"
            case "":
                throw .missing("\(param).type")
            default:
                throw .invalidValue("\(param).type", "the mock supports 'message', 'function_call', "
                                    + "'function_call_output' and 'reasoning' items.")
            }
            item["type"] = type
            if item["id"] == nil { item["id"] = "\(prefix)_\(idPrefix)_\(index)" }
            items.append(item)
        }
        return items
    }

    private static func message(_ item: inout [String: Any], param: String) throws(MockAPIError) {
        guard let role = item["role"] as? String else { throw .missing("\(param).role") }
        guard ["user", "system", "developer", "assistant"].contains(role) else {
            throw .invalidValue("\(param).role", "Supported values are: 'assistant', 'system', 'developer', and 'user'.")
        }
        if let string = item["content"] as? String {
            item["content"] = [["type": role == "assistant" ? "output_text" : "input_text", "text": string]]
            return
        }
        guard let parts = item["content"] as? [Any] else {
            throw item["content"] == nil ? .missing("\(param).content")
                : .invalidType("\(param).content", expected: "a string or an array of content parts")
        }
        for (index, entry) in parts.enumerated() {
            let partParam = "\(param).content[\(index)]"
            guard let part = entry as? [String: Any], let type = part["type"] as? String else {
                throw .missing("\(partParam).type")
            }
            switch type {
            case "input_text", "output_text":
                guard part["text"] is String else { throw .missing("\(partParam).text") }
            case "refusal":
                guard part["refusal"] is String else { throw .missing("\(partParam).refusal") }
            case "input_image":
                guard part["image_url"] is String || part["file_id"] is String else {
                    throw .missing("\(partParam).image_url")
                }
            case "input_file":
                break
            default:
                throw .invalidValue("\(partParam).type", "Supported values are: 'input_text', 'input_image', "
                                    + "'input_file', 'output_text', and 'refusal'.")
            }
        }
    }
}
