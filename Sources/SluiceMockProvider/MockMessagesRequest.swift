import Foundation

/// A `POST /v1/messages` (or `/v1/messages/count_tokens`) body, checked the way
/// Anthropic checks it; every problem is a 400 `invalid_request_error` whose message
/// names the field first (`max_tokens: Field required`), as Anthropic's do.
///
/// Checked: unknown top-level fields (`Extra inputs are not permitted`, which catches
/// OpenAI-only fields such as `n` or `stream_options`); `model`; `max_tokens` (an
/// integer ≥ 1, required except for count_tokens); `messages` (non-empty, roles `user`
/// or `assistant`, the first from the user; consecutive turns of one role are allowed,
/// Anthropic merges them); content as a non-empty string or an array of blocks
/// (`text` with non-empty text, `image` and `document` with a `source`, `tool_use`,
/// `tool_result`, thinking blocks); a final assistant turn must not end with whitespace;
/// `system` (a string or text blocks); `temperature` (0–1); `stop_sequences`; `stream`;
/// `tools` (custom tools need `name` and `input_schema`; typed server tools pass);
/// `tool_choice` (`auto`, `any`, `tool` with `name`, `none`; only with `tools`).
///
/// Extended thinking (``MockThinking``): `thinking` is `{"type": "enabled", "budget_tokens": N}`
/// with 1024 ≤ N < `max_tokens`, `{"type": "disabled"}` or `{"type": "adaptive"}`; it may
/// not be combined with a `tool_choice` that forces a tool. With thinking on, every
/// `thinking` block sent back must carry the signature the mock issued for its text
/// (`messages.1.content.0: Invalid `signature` in `thinking` block`), and a final
/// assistant turn holding `tool_use` must start with a thinking block (Anthropic's
/// "Expected `thinking` or `redacted_thinking`, but found `tool_use`…").
///
/// Prompt caching: `cache_control` `{"type": "ephemeral"}` (optionally `"ttl": "5m"` or
/// `"1h"`) on tools, system text blocks and message content blocks, at most 4 of them.
/// The request becomes ``cacheUnits`` in Anthropic's cache order (tools, system,
/// messages) for ``MockPromptCache``.
struct MockMessagesRequest {
    enum ToolChoice: Equatable {
        case auto, any, none
        case tool(String)

        var forcesTool: Bool {
            switch self {
            case .any, .tool: true
            case .auto, .none: false
            }
        }
    }

    var model: String
    var maxTokens: Int?
    /// Each message's role and text: its text blocks and `tool_result` texts, joined by spaces.
    var messages: [(role: String, text: String)]
    var system: String?
    var stopSequences: [String]
    var stream: Bool
    /// The tools' names, in order.
    var tools: [String]
    /// Each custom tool's `input_schema`, by name.
    var toolSchemas: [String: Any] = [:]
    var toolChoice: ToolChoice
    /// Whether extended thinking is on (`thinking.type` `enabled` or `adaptive`).
    var thinking: Bool
    /// The prompt's blocks in cache order, their tokens adding up to ``inputTokens``.
    var cacheUnits: [MockPromptCache.Unit] = []
    /// Whether any block carries `cache_control`.
    var usesCache: Bool { cacheUnits.contains { $0.breakpoint != nil } }

    private static let messageFields: Set<String> = [
        "model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream", "temperature",
        "top_p", "top_k", "tools", "tool_choice", "thinking", "service_tier", "container", "mcp_servers",
        "context_management",
    ]
    private static let countTokensFields: Set<String> = [
        "model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers", "context_management",
    ]
    private static let blockTypes = ["text", "image", "document", "search_result", "tool_use", "tool_result",
                                     "thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result"]

    /// The `model` of `body`, checked, before anything else is: faults hang on it.
    static func model(of body: [String: Any]) throws(MockAPIError) -> String {
        guard let raw = body["model"], !(raw is NSNull) else { throw .anthropicInvalid("model: Field required") }
        guard let model = raw as? String else { throw .anthropicInvalid("model: Input should be a valid string") }
        return model
    }

    init(body: [String: Any], countTokens: Bool) throws(MockAPIError) {
        let known = countTokens ? Self.countTokensFields : Self.messageFields
        if let extra = body.keys.sorted().first(where: { !known.contains($0) }) {
            throw .anthropicInvalid("\(extra): Extra inputs are not permitted")
        }
        model = try Self.model(of: body)
        if countTokens {
            maxTokens = nil
        } else {
            guard let raw = body["max_tokens"], !(raw is NSNull) else {
                throw .anthropicInvalid("max_tokens: Field required")
            }
            guard let value = raw as? Int else {
                throw .anthropicInvalid("max_tokens: Input should be a valid integer")
            }
            guard value >= 1 else { throw .anthropicInvalid("max_tokens: Input should be greater than or equal to 1") }
            maxTokens = value
        }
        thinking = try MockThinking.enabled(body["thinking"], maxTokens: maxTokens)
        let toolUnits: [MockPromptCache.Unit]
        (tools, toolSchemas, toolUnits) = try Self.tools(body["tools"])
        let systemUnits: [MockPromptCache.Unit]
        (system, systemUnits) = try Self.system(body["system"])
        let messageUnits: [MockPromptCache.Unit]
        (messages, messageUnits) = try Self.messages(body["messages"], thinking: thinking)
        cacheUnits = toolUnits + systemUnits + messageUnits
        let breakpoints = cacheUnits.filter { $0.breakpoint != nil }.count
        guard breakpoints <= 4 else {
            throw .anthropicInvalid("A maximum of 4 blocks with cache_control may be provided. Found \(breakpoints).")
        }
        try Self.checkNumber("temperature", body["temperature"], in: 0...1)
        try Self.checkNumber("top_p", body["top_p"], in: 0...1)
        stopSequences = try Self.strings("stop_sequences", body["stop_sequences"])
        switch body["stream"] {
        case nil, is NSNull: stream = false
        case let value as Bool: stream = value
        default: throw .anthropicInvalid("stream: Input should be a valid boolean")
        }
        toolChoice = try Self.toolChoice(body["tool_choice"], hasTools: !tools.isEmpty)
        if thinking, toolChoice.forcesTool {
            throw .anthropicInvalid("Thinking may not be enabled when tool_choice forces tool use.")
        }
    }

    /// The text of the last user turn, which the answer echoes.
    var lastUserText: String {
        messages.last { $0.role == "user" }?.text ?? ""
    }

    /// The mock's input tokens: the words of the system prompt and of every message, plus
    /// 3 per message and 3 for a system prompt, so that a chat request translated from
    /// OpenAI's shape counts the same as it would there; plus the words of each tool's
    /// JSON definition.
    var inputTokens: Int {
        cacheUnits.reduce(0) { $0 + $1.tokens }
    }

    private static func messages(_ raw: Any?, thinking: Bool) throws(MockAPIError)
        -> ([(role: String, text: String)], [MockPromptCache.Unit]) {
        guard let raw, !(raw is NSNull) else { throw .anthropicInvalid("messages: Field required") }
        guard let list = raw as? [Any] else { throw .anthropicInvalid("messages: Input should be a valid list") }
        guard !list.isEmpty else { throw .anthropicInvalid("messages: at least one message is required") }
        var messages: [(role: String, text: String)] = []
        var units: [MockPromptCache.Unit] = []
        for (index, item) in list.enumerated() {
            let path = "messages.\(index)"
            guard let message = item as? [String: Any] else {
                throw .anthropicInvalid("\(path): Input should be a valid dictionary")
            }
            guard let role = message["role"] as? String, role == "user" || role == "assistant" else {
                throw .anthropicInvalid("\(path).role: Input should be 'user' or 'assistant'")
            }
            guard let content = message["content"], !(content is NSNull) else {
                throw .anthropicInvalid("\(path).content: Field required")
            }
            let isFinal = index == list.count - 1
            let (text, messageUnits) = try Self.text(of: content, role: role, path: path,
                                                     finalAssistant: isFinal && role == "assistant", thinking: thinking)
            messages.append((role, text))
            units += messageUnits
        }
        guard messages[0].role == "user" else {
            throw .anthropicInvalid(#"messages: first message must use the "user" role"#)
        }
        if thinking, let last = list.lastIndex(where: { ($0 as? [String: Any])?["role"] as? String == "assistant" }),
           let blocks = (list[last] as? [String: Any])?["content"] as? [Any] {
            let types = blocks.compactMap { ($0 as? [String: Any])?["type"] as? String }
            if types.contains("tool_use"), let first = types.first, first != "thinking", first != "redacted_thinking" {
                throw .anthropicInvalid(MockThinking.missingThinking(at: "messages.\(last).content.0", found: first))
            }
        }
        return (messages, units)
    }

    private static func text(of content: Any, role: String, path: String, finalAssistant: Bool,
                             thinking: Bool) throws(MockAPIError) -> (String, [MockPromptCache.Unit]) {
        let emptyContent = MockAPIError.anthropicInvalid(
            "\(path): all messages must have non-empty content except for the optional final assistant message")
        let text: String
        var units: [MockPromptCache.Unit] = []
        if let string = content as? String {
            guard !string.isEmpty || finalAssistant else { throw emptyContent }
            text = string
            units.append(.init(text: role + "\u{1f}" + MockPromptCache.canonical(string),
                               tokens: MockAnswer.words(of: string).count + 3))
        } else if let blocks = content as? [Any] {
            guard !blocks.isEmpty || finalAssistant else { throw emptyContent }
            var texts: [String] = []
            for (index, block) in blocks.enumerated() {
                let blockPath = "\(path).content.\(index)"
                let blockText = try Self.blockText(block, path: blockPath, thinking: thinking)
                if let blockText { texts.append(blockText) }
                let marker = index == 0 ? role + "\u{1f}" : ""
                units.append(.init(text: marker + MockPromptCache.canonical(block),
                                   tokens: MockAnswer.words(of: blockText ?? "").count + (index == 0 ? 3 : 0),
                                   breakpoint: try Self.cacheControl(of: block, path: blockPath)))
            }
            if blocks.isEmpty { units.append(.init(text: role + "\u{1f}[]", tokens: 3)) }
            text = texts.joined(separator: " ")
        } else {
            throw .anthropicInvalid("\(path).content: Input should be a valid string or a valid list")
        }
        if finalAssistant, let last = text.unicodeScalars.last, CharacterSet.whitespacesAndNewlines.contains(last) {
            throw .anthropicInvalid("messages: final assistant content cannot end with trailing whitespace")
        }
        return (text, units)
    }

    /// The TTL of a block's `cache_control` breakpoint, if it has one.
    static func cacheControl(of raw: Any, path: String) throws(MockAPIError) -> MockPromptCache.TTL? {
        guard let block = raw as? [String: Any], let control = block["cache_control"], !(control is NSNull) else {
            return nil
        }
        guard let object = control as? [String: Any] else {
            throw .anthropicInvalid("\(path).cache_control: Input should be a valid dictionary")
        }
        guard object["type"] as? String == "ephemeral" else {
            let tag = (object["type"] as? String).map { "'\($0)'" } ?? "none"
            throw .anthropicInvalid("\(path).cache_control: Input tag \(tag) found using 'type' does not match any of "
                + "the expected tags: 'ephemeral'")
        }
        if let extra = object.keys.sorted().first(where: { $0 != "type" && $0 != "ttl" }) {
            throw .anthropicInvalid("\(path).cache_control.ephemeral.\(extra): Extra inputs are not permitted")
        }
        guard let rawTTL = object["ttl"], !(rawTTL is NSNull) else { return .fiveMinutes }
        guard let ttl = (rawTTL as? String).flatMap(MockPromptCache.TTL.init(rawValue:)) else {
            throw .anthropicInvalid("\(path).cache_control.ephemeral.ttl: Input should be '5m' or '1h'")
        }
        return ttl
    }

    /// Checks one content block; returns the text it contributes, if any.
    private static func blockText(_ raw: Any, path: String, thinking: Bool) throws(MockAPIError) -> String? {
        guard let block = raw as? [String: Any] else { throw .anthropicInvalid("\(path): Input should be a valid dictionary") }
        guard let type = block["type"] as? String else { throw .anthropicInvalid("\(path).type: Field required") }
        switch type {
        case "text":
            guard let text = block["text"] as? String else { throw .anthropicInvalid("\(path).text: Field required") }
            guard !text.isEmpty else { throw .anthropicInvalid("messages: text content blocks must be non-empty") }
            return text
        case "image", "document":
            guard block["source"] is [String: Any] else { throw .anthropicInvalid("\(path).source: Field required") }
            return nil
        case "tool_use":
            for field in ["id", "name"] where !(block[field] is String) {
                throw .anthropicInvalid("\(path).\(field): Field required")
            }
            guard block["input"] is [String: Any] else { throw .anthropicInvalid("\(path).input: Field required") }
            return nil
        case "tool_result":
            guard block["tool_use_id"] is String else { throw .anthropicInvalid("\(path).tool_use_id: Field required") }
            if let string = block["content"] as? String { return string }
            let parts = (block["content"] as? [Any] ?? []).compactMap { part -> String? in
                guard let part = part as? [String: Any], part["type"] as? String == "text" else { return nil }
                return part["text"] as? String
            }
            return parts.isEmpty ? nil : parts.joined(separator: " ")
        case "thinking":
            guard let text = block["thinking"] as? String else { throw .anthropicInvalid("\(path).thinking: Field required") }
            if thinking, !MockThinking.isValid(block["signature"] as? String, for: text) {
                throw .anthropicInvalid(MockThinking.invalidSignature(at: path))
            }
            return nil
        case _ where blockTypes.contains(type):
            return nil
        default:
            let expected = blockTypes.map { "'\($0)'" }.joined(separator: ", ")
            throw .anthropicInvalid(
                "\(path): Input tag '\(type)' found using 'type' does not match any of the expected tags: \(expected)")
        }
    }

    private static func system(_ raw: Any?) throws(MockAPIError) -> (String?, [MockPromptCache.Unit]) {
        switch raw {
        case nil, is NSNull: return (nil, [])
        case let string as String:
            return (string, [.init(text: "system\u{1f}" + MockPromptCache.canonical(string),
                                   tokens: MockAnswer.words(of: string).count + 3)])
        case let blocks as [Any]:
            var texts: [String] = []
            var units: [MockPromptCache.Unit] = []
            for (index, item) in blocks.enumerated() {
                guard let block = item as? [String: Any], block["type"] as? String == "text",
                      let text = block["text"] as? String else {
                    throw .anthropicInvalid("system.\(index): Input should be a valid text block")
                }
                texts.append(text)
                units.append(.init(text: (index == 0 ? "system\u{1f}" : "") + MockPromptCache.canonical(block),
                                   tokens: MockAnswer.words(of: text).count + (index == 0 ? 3 : 0),
                                   breakpoint: try cacheControl(of: block, path: "system.\(index)")))
            }
            return (texts.joined(separator: " "), units)
        default:
            throw .anthropicInvalid("system: Input should be a valid string or a valid list")
        }
    }

    private static func checkNumber(_ field: String, _ raw: Any?, in range: ClosedRange<Double>) throws(MockAPIError) {
        guard let raw, !(raw is NSNull) else { return }
        guard let value = raw as? Double else {
            throw .anthropicInvalid("\(field): Input should be a valid number")
        }
        if value < range.lowerBound {
            throw .anthropicInvalid("\(field): Input should be greater than or equal to \(Int(range.lowerBound))")
        }
        if value > range.upperBound {
            throw .anthropicInvalid("\(field): Input should be less than or equal to \(Int(range.upperBound))")
        }
    }

    private static func strings(_ field: String, _ raw: Any?) throws(MockAPIError) -> [String] {
        guard let raw, !(raw is NSNull) else { return [] }
        guard let list = raw as? [Any] else { throw .anthropicInvalid("\(field): Input should be a valid list") }
        var strings: [String] = []
        for (index, item) in list.enumerated() {
            guard let string = item as? String else {
                throw .anthropicInvalid("\(field).\(index): Input should be a valid string")
            }
            strings.append(string)
        }
        return strings
    }

    private static func tools(_ raw: Any?) throws(MockAPIError)
        -> ([String], [String: Any], [MockPromptCache.Unit]) {
        guard let raw, !(raw is NSNull) else { return ([], [:], []) }
        guard let list = raw as? [Any] else { throw .anthropicInvalid("tools: Input should be a valid list") }
        var names: [String] = []
        var schemas: [String: Any] = [:]
        var units: [MockPromptCache.Unit] = []
        for (index, item) in list.enumerated() {
            guard let tool = item as? [String: Any] else {
                throw .anthropicInvalid("tools.\(index): Input should be a valid dictionary")
            }
            guard let name = tool["name"] as? String else { throw .anthropicInvalid("tools.\(index).name: Field required") }
            let custom = (tool["type"] as? String).map { $0 == "custom" } ?? true
            if custom {
                guard Self.isValidToolName(name) else {
                    throw .anthropicInvalid("tools.\(index).name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'")
                }
                guard let schema = tool["input_schema"] as? [String: Any] else {
                    throw .anthropicInvalid("tools.\(index).input_schema: Field required")
                }
                schemas[name] = schema
            }
            names.append(name)
            var definition = tool
            definition["cache_control"] = nil
            units.append(.init(text: "tool\u{1f}" + MockPromptCache.canonical(tool),
                               tokens: MockAnswer.words(of: MockJSONValue(definition).text).count,
                               breakpoint: try cacheControl(of: tool, path: "tools.\(index)")))
        }
        return (names, schemas, units)
    }

    private static func isValidToolName(_ name: String) -> Bool {
        (1...128).contains(name.count) && name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == "_" || scalar == "-")
        }
    }

    private static func toolChoice(_ raw: Any?, hasTools: Bool) throws(MockAPIError) -> ToolChoice {
        guard let raw, !(raw is NSNull) else { return .auto }
        guard hasTools else { throw .anthropicInvalid("tool_choice may only be specified while providing tools") }
        guard let choice = raw as? [String: Any] else {
            throw .anthropicInvalid("tool_choice: Input should be a valid dictionary")
        }
        switch choice["type"] as? String {
        case "auto": return .auto
        case "any": return .any
        case "none": return ToolChoice.none
        case "tool":
            guard let name = choice["name"] as? String else { throw .anthropicInvalid("tool_choice.name: Field required") }
            return .tool(name)
        default:
            let tag = (choice["type"] as? String).map { "'\($0)'" } ?? "none"
            throw .anthropicInvalid("tool_choice: Input tag \(tag) found using 'type' does not match any of the "
                + "expected tags: 'auto', 'any', 'tool', 'none'")
        }
    }
}
