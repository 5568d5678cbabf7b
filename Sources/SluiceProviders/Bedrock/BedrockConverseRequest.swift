import Foundation
import SluiceCore

/// An OpenAI chat request as a Bedrock Converse request body
/// (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html).
///
/// - `system` / `developer` messages → `system: [{text}]`.
/// - `user` content → `text` blocks and `image` blocks (`{format, source: {bytes}}`) from
///   `data:` URLs; Bedrock takes no image URLs.
/// - `assistant` content → `text` blocks, `tool_calls` → `toolUse {toolUseId, name, input}`.
/// - `tool` messages → a `user` turn of `toolResult {toolUseId, content: [{text}]}` blocks.
/// - Consecutive turns of one role are merged (Converse wants them alternating).
/// - `max_tokens` / `max_completion_tokens`, `temperature`, `top_p`, `stop` →
///   `inferenceConfig`; `tools` / `tool_choice` → `toolConfig`.
/// - `cache_control` on a content part, system part or tool → a `cachePoint` block right
///   after it (`ttl` kept); an assistant's `thinking_blocks` → `reasoningContent` blocks
///   first in its turn (signatures and redacted content kept).
/// - `reasoning_effort` / `thinking` → `additionalModelRequestFields.thinking`; `top_k` →
///   `additionalModelRequestFields.top_k`; the client's `anthropic-beta` header →
///   `additionalModelRequestFields.anthropic_beta`; `user` → `requestMetadata.user`;
///   `response_format` → a forced tool (`StructuredOutputTool`).
/// Everything else is refused or translated as `ChatContract` says.
enum BedrockConverseRequest {
    static func body(for request: APIRequest, params: [(name: String, json: String)]) throws(GatewayError) -> [UInt8] {
        guard let chat = JSONOutput.object(request.body), let contract = JSONValue.parseObject(request.body) else {
            throw GatewayError(.invalidJSON, "The request body is not a JSON object.")
        }
        try ChatContract.check(contract, kind: .bedrock, providerName: "Amazon Bedrock")
        guard let messages = chat["messages"] as? [[String: Any]] else {
            throw GatewayError.invalidRequest("'messages' must be an array of message objects.", param: "messages")
        }
        var system: [[String: Any]] = []
        var turns: [(role: String, blocks: [[String: Any]])] = []
        func append(_ role: String, _ blocks: [[String: Any]]) {
            guard !blocks.isEmpty else { return }
            if turns.last?.role == role { turns[turns.count - 1].blocks += blocks } else { turns.append((role, blocks)) }
        }
        for (index, message) in messages.enumerated() {
            let param = "messages[\(index)]"
            switch message["role"] as? String {
            case "system", "developer":
                system += try systemBlocks(message["content"], param: param + ".content")
            case "user":
                append("user", try userBlocks(message["content"], param: param + ".content"))
            case "assistant":
                append("assistant", try assistantBlocks(message, param: param))
            case "tool":
                guard let id = message["tool_call_id"] as? String else {
                    throw GatewayError.invalidRequest("A tool message needs 'tool_call_id'.", param: param + ".tool_call_id")
                }
                let text = try textParts(message["content"], param: param + ".content").joined()
                var result: [String: Any] = ["toolUseId": id, "content": [["text": text]]]
                if message["is_error"] as? Bool == true { result["status"] = "error" }
                append("user", [["toolResult": result]] + cachePoint(after: message["content"]))
            case let role:
                throw GatewayError.invalidRequest("Unsupported message role '\(role ?? "null")' for Amazon Bedrock.",
                                                  param: param + ".role")
            }
        }
        var body: [String: Any] = ["messages": turns.map { ["role": $0.role, "content": $0.blocks] }]
        if !system.isEmpty { body["system"] = system }
        var inference = try inferenceConfig(chat) ?? [:]
        var additional: [String: Any] = [:]
        let cap = try AnthropicRequestBody.maxTokens(contract)
        let reasoning = try ReasoningBudget.thinking(contract, maxTokens: cap, defaultMaxTokens: AnthropicRequestBody.defaultMaxTokens)
        if let reasoning {
            additional["thinking"] = JSONOutput.object(Array(reasoning.thinking.encoded.utf8)) ?? [:]
            inference["maxTokens"] = reasoning.maxTokens
        }
        if let topK = chat["top_k"] as? NSNumber { additional["top_k"] = topK }
        let betas = request.clientHeaders.filter { $0.name == "anthropic-beta" }
            .flatMap { $0.value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
        if !betas.isEmpty { additional["anthropic_beta"] = betas }
        if !inference.isEmpty { body["inferenceConfig"] = inference }
        if !additional.isEmpty { body["additionalModelRequestFields"] = additional }
        if let user = chat["user"] as? String ?? chat["safety_identifier"] as? String {
            body["requestMetadata"] = ["user": user]
        }
        let usesTools = turns.contains { $0.blocks.contains { $0["toolUse"] != nil || $0["toolResult"] != nil } }
        var tools = try toolConfig(chat, historyUsesTools: usesTools)
        if let structured = try StructuredOutputTool.schema(contract["response_format"]) {
            guard reasoning == nil else {
                throw GatewayError.invalidRequest(
                    "Amazon Bedrock cannot force the structured-output tool while thinking: leave out 'reasoning_effort' or 'response_format'.",
                    param: "response_format")
            }
            if let choice = tools?["toolChoice"] as? [String: Any], choice["auto"] == nil {
                throw GatewayError.invalidRequest("'response_format' cannot be combined with a 'tool_choice' for Amazon Bedrock.",
                                                  param: "response_format")
            }
            var config = tools ?? ["tools": [[String: Any]]()]
            let spec: [String: Any] = ["name": StructuredOutputTool.name, "description": structured.description,
                                       "inputSchema": ["json": JSONOutput.object(structured.schema.bytes) ?? [:]]]
            config["tools"] = (config["tools"] as? [[String: Any]] ?? []) + [["toolSpec": spec]]
            config["toolChoice"] = ["tool": ["name": StructuredOutputTool.name]]
            tools = config
        }
        if let tools { body["toolConfig"] = tools }
        return try BedrockBody.encode(body, params: params, what: "Converse")
    }

    /// `[{cachePoint: {type: default, ttl?}}]` when the last part of `content` that has a
    /// `cache_control` asks for one, else nothing.
    private static func cachePoint(after content: Any?) -> [[String: Any]] {
        guard let parts = content as? [[String: Any]],
              let cache = parts.last(where: { $0["cache_control"] is [String: Any] })?["cache_control"] as? [String: Any] else {
            return []
        }
        return [cachePoint(cache)]
    }

    /// A `cachePoint` block for one `cache_control` object.
    private static func cachePoint(_ cache: [String: Any]) -> [String: Any] {
        var point: [String: Any] = ["type": "default"]
        if let ttl = cache["ttl"] as? String { point["ttl"] = ttl }
        return ["cachePoint": point]
    }

    /// System text blocks, each marked part followed by its `cachePoint`.
    private static func systemBlocks(_ content: Any?, param: String) throws(GatewayError) -> [[String: Any]] {
        guard let parts = content as? [[String: Any]] else {
            return try textParts(content, param: param).map { ["text": $0] }
        }
        var blocks: [[String: Any]] = []
        for (index, part) in parts.enumerated() {
            guard part["type"] as? String == "text", let text = part["text"] as? String else {
                throw GatewayError.invalidRequest("Only text parts are supported here.", param: "\(param)[\(index)]")
            }
            if !text.isEmpty { blocks.append(["text": text]) }
            if let cache = part["cache_control"] as? [String: Any] { blocks.append(cachePoint(cache)) }
        }
        return blocks
    }

    /// The text of a `content` that must be text: a string or an array of `text` parts.
    private static func textParts(_ content: Any?, param: String) throws(GatewayError) -> [String] {
        switch content {
        case nil, is NSNull: return []
        case let text as String: return text.isEmpty ? [] : [text]
        case let parts as [[String: Any]]:
            var texts: [String] = []
            for (index, part) in parts.enumerated() {
                guard part["type"] as? String == "text", let text = part["text"] as? String else {
                    throw GatewayError.invalidRequest("Only text parts are supported here.", param: "\(param)[\(index)]")
                }
                if !text.isEmpty { texts.append(text) }
            }
            return texts
        default:
            throw GatewayError.invalidRequest("'content' must be a string or an array of content parts.", param: param)
        }
    }

    private static func userBlocks(_ content: Any?, param: String) throws(GatewayError) -> [[String: Any]] {
        guard let parts = content as? [[String: Any]] else {
            return try textParts(content, param: param).map { ["text": $0] }
        }
        var blocks: [[String: Any]] = []
        for (index, part) in parts.enumerated() {
            switch part["type"] as? String {
            case "text":
                if let text = part["text"] as? String, !text.isEmpty { blocks.append(["text": text]) }
            case "image_url":
                let url = (part["image_url"] as? [String: Any])?["url"] as? String ?? part["image_url"] as? String
                blocks.append(["image": try image(url, param: "\(param)[\(index)].image_url.url")])
            case let type:
                throw GatewayError.invalidRequest("Content part type '\(type ?? "null")' is not supported by Amazon Bedrock.",
                                                  param: "\(param)[\(index)].type")
            }
            if let cache = part["cache_control"] as? [String: Any] { blocks.append(cachePoint(cache)) }
        }
        return blocks
    }

    /// `data:image/png;base64,…` → `{format: "png", source: {bytes: "…"}}` (blobs are base64 in JSON).
    private static func image(_ url: String?, param: String) throws(GatewayError) -> [String: Any] {
        guard let url, url.hasPrefix("data:"), let comma = url.firstIndex(of: ","),
              url[..<comma].hasSuffix(";base64") else {
            throw GatewayError.invalidRequest("Amazon Bedrock takes images inline: use a data:image/…;base64 URL.", param: param)
        }
        let mediaType = url[url.index(url.startIndex, offsetBy: 5)..<comma].dropLast(7).lowercased()
        let formats = ["image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif", "image/webp": "webp"]
        guard let format = formats[mediaType] else {
            throw GatewayError.invalidRequest("Image type '\(mediaType)' is not supported (png, jpeg, gif, webp).", param: param)
        }
        return ["format": format, "source": ["bytes": String(url[url.index(after: comma)...])]]
    }

    private static func assistantBlocks(_ message: [String: Any], param: String) throws(GatewayError) -> [[String: Any]] {
        var blocks: [[String: Any]] = []
        for (index, block) in (message["thinking_blocks"] as? [[String: Any]] ?? []).enumerated() {
            switch block["type"] as? String {
            case "thinking":
                var text: [String: Any] = ["text": block["thinking"] as? String ?? ""]
                if let signature = block["signature"] as? String { text["signature"] = signature }
                blocks.append(["reasoningContent": ["reasoningText": text]])
            case "redacted_thinking":
                blocks.append(["reasoningContent": ["redactedContent": block["data"] as? String ?? ""]])
            default:
                throw GatewayError.invalidRequest("A thinking block must be of type thinking or redacted_thinking.",
                                                  param: "\(param).thinking_blocks[\(index)]")
            }
        }
        if let parts = message["content"] as? [[String: Any]] {
            for part in parts {
                if let text = part["text"] as? String ?? part["refusal"] as? String, !text.isEmpty { blocks.append(["text": text]) }
                if let cache = part["cache_control"] as? [String: Any] { blocks.append(cachePoint(cache)) }
            }
        } else {
            blocks += try textParts(message["content"], param: param + ".content").map { ["text": $0] }
        }
        guard let calls = message["tool_calls"] as? [[String: Any]] else { return blocks }
        for (index, call) in calls.enumerated() {
            let callParam = "\(param).tool_calls[\(index)]"
            guard let id = call["id"] as? String, let function = call["function"] as? [String: Any],
                  let name = function["name"] as? String else {
                throw GatewayError.invalidRequest("A tool call needs 'id' and 'function.name'.", param: callParam)
            }
            let arguments = function["arguments"] as? String ?? ""
            let input: Any
            if arguments.trimmingCharacters(in: .whitespaces).isEmpty {
                input = [String: Any]()
            } else if let parsed = try? JSONSerialization.jsonObject(with: Data(arguments.utf8), options: [.fragmentsAllowed]) {
                input = parsed
            } else {
                throw GatewayError.invalidRequest("Tool call arguments must be JSON.", param: callParam + ".function.arguments")
            }
            blocks.append(["toolUse": ["toolUseId": id, "name": name, "input": input]])
        }
        return blocks
    }

    private static func inferenceConfig(_ chat: [String: Any]) throws(GatewayError) -> [String: Any]? {
        if let n = chat["n"] as? Int, n != 1 {
            throw GatewayError.invalidRequest("Amazon Bedrock returns one choice per request; 'n' must be 1.", param: "n")
        }
        var config: [String: Any] = [:]
        if let maxTokens = (chat["max_completion_tokens"] as? NSNumber) ?? (chat["max_tokens"] as? NSNumber) {
            config["maxTokens"] = maxTokens.intValue
        }
        if let temperature = chat["temperature"] as? NSNumber { config["temperature"] = temperature }
        if let topP = chat["top_p"] as? NSNumber { config["topP"] = topP }
        switch chat["stop"] {
        case let stop as String: config["stopSequences"] = [stop]
        case let stops as [String]: if !stops.isEmpty { config["stopSequences"] = stops }
        default: break
        }
        return config.isEmpty ? nil : config
    }

    /// `tools` → `toolConfig.tools[].toolSpec`; `tool_choice` `auto` / `required` / a named
    /// function → `auto` / `any` / `tool`. `none` has no Converse equivalent: the tools are
    /// left out, unless earlier turns used them (Converse then requires `toolConfig`).
    private static func toolConfig(_ chat: [String: Any], historyUsesTools: Bool) throws(GatewayError) -> [String: Any]? {
        guard let tools = chat["tools"] as? [[String: Any]], !tools.isEmpty else { return nil }
        var specs: [[String: Any]] = []
        for (index, tool) in tools.enumerated() {
            guard tool["type"] as? String == "function", let function = tool["function"] as? [String: Any],
                  let name = function["name"] as? String else {
                throw GatewayError.invalidRequest("Only function tools with a name are supported.", param: "tools[\(index)]")
            }
            var spec: [String: Any] = [
                "name": name,
                "inputSchema": ["json": function["parameters"] ?? ["type": "object", "properties": [String: Any]()]],
            ]
            if let description = function["description"] as? String, !description.isEmpty { spec["description"] = description }
            guard name != StructuredOutputTool.name else {
                throw GatewayError.invalidRequest("The tool name '\(name)' is reserved by the gateway.",
                                                  param: "tools[\(index)].function.name")
            }
            specs.append(["toolSpec": spec])
            if let cache = tool["cache_control"] as? [String: Any] { specs.append(cachePoint(cache)) }
        }
        var config: [String: Any] = ["tools": specs]
        switch chat["tool_choice"] {
        case nil, is NSNull: break
        case let choice as String:
            switch choice {
            case "auto": config["toolChoice"] = ["auto": [String: Any]()]
            case "required": config["toolChoice"] = ["any": [String: Any]()]
            case "none": if !historyUsesTools { return nil }
            default: throw GatewayError.invalidRequest("Unknown tool_choice '\(choice)'.", param: "tool_choice")
            }
        case let choice as [String: Any]:
            guard let name = (choice["function"] as? [String: Any])?["name"] as? String else {
                throw GatewayError.invalidRequest("tool_choice must name a function.", param: "tool_choice")
            }
            config["toolChoice"] = ["tool": ["name": name]]
        default:
            throw GatewayError.invalidRequest("tool_choice must be a string or an object.", param: "tool_choice")
        }
        return config
    }
}
