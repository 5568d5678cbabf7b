import Foundation

/// A Converse / ConverseStream body, checked against botocore's `bedrock-runtime` model and
/// the rules Bedrock adds (conversations start with `user` and alternate roles; `toolUse` /
/// `toolResult` blocks need a `toolConfig`; a turn answers no more tools than the previous
/// turn called). A refusal is a `ValidationException` with Bedrock's wording where it is
/// known. Members the mock does not read (`guardrailConfig`, the rest of
/// `additionalModelRequestFields`, unknown keys) are accepted.
///
/// `cachePoint` blocks (`{"type": "default"}`, optional `"ttl": "5m" | "1h"`) in
/// `toolConfig.tools`, `system` and `messages[].content` end a cached prefix of
/// ``cacheUnits`` (in that order), for ``MockPromptCache``.
///
/// `additionalModelRequestFields.thinking` `{"type": "enabled", "budget_tokens": N}` turns on
/// reasoning (checked as Anthropic checks it; its refusals come back as Bedrock does, as
/// `The model returned the following errors: …`). With it on, `reasoningContent` blocks
/// sent back must carry the signature issued for their text (``MockThinking``), and a
/// final assistant turn with `toolUse` must start with one.
struct MockBedrockConverseRequest {
    enum ToolChoice: Equatable {
        case auto, any
        case tool(String)
    }

    struct Message {
        var role: String
        /// The `text` blocks.
        var texts: [String] = []
        /// Text the model reads besides `text` blocks: tool results and tool-call inputs.
        var otherTexts: [String] = []
        var toolUses = 0
        var toolResults = 0
    }

    var messages: [Message] = []
    var system: [String] = []
    var maxTokens: Int?
    var stopSequences: [String] = []
    /// The names of the `toolSpec` tools, in order.
    var tools: [String] = []
    /// Each tool's `inputSchema.json`, by name.
    var toolSchemas: [String: Any] = [:]
    var toolChoice = ToolChoice.auto
    /// Whether `additionalModelRequestFields.thinking` turns reasoning on.
    var thinking = false
    /// The prompt's blocks in cache order; their tokens add up to ``inputTokens``.
    var cacheUnits: [MockPromptCache.Unit] = []
    /// Whether any `cachePoint` was sent.
    var usesCache: Bool { cacheUnits.contains { $0.breakpoint != nil } }

    /// The error Bedrock relays from an Anthropic model.
    static func modelError(_ message: String) -> MockBedrockError {
        .validation("The model returned the following errors: " + message)
    }

    static let contentMembers = ["text", "image", "document", "video", "audio", "toolUse", "toolResult", "guardContent",
                                 "cachePoint", "reasoningContent", "citationsContent", "searchResult"]
    private static let toolResultMembers = ["json", "text", "image", "document", "video", "searchResult"]

    init(body: [String: Any]) throws(MockBedrockError) {
        guard let rawMessages = body["messages"], !(rawMessages is NSNull) else {
            throw .constraint("messages", value: nil, "Member must not be null")
        }
        guard let list = rawMessages as? [Any] else { throw .validation("The messages field must be a list of Message objects.") }
        try readThinking(body["additionalModelRequestFields"], maxTokens: (body["inferenceConfig"] as? [String: Any])?["maxTokens"] as? Int)
        var messageUnits: [MockPromptCache.Unit] = []
        for (index, item) in list.enumerated() {
            messages.append(try Self.message(item, index: index, thinking: thinking, units: &messageUnits))
        }
        guard messages.first?.role == "user" else {
            throw .validation("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
        }
        for index in messages.indices.dropFirst() {
            guard messages[index].role != messages[index - 1].role else {
                throw .validation("A conversation must alternate between user and assistant roles. Make sure the "
                                  + "conversation alternates between user and assistant roles and try again.")
            }
            guard messages[index].toolResults <= messages[index - 1].toolUses else {
                throw .validation("The number of toolResult blocks at messages.\(index).content exceeds the number of "
                                  + "toolUse blocks of previous turn.")
            }
        }
        var systemUnits: [MockPromptCache.Unit] = []
        system = try Self.system(body["system"], units: &systemUnits)
        try readInferenceConfig(body["inferenceConfig"])
        var toolUnits: [MockPromptCache.Unit] = []
        try readToolConfig(body["toolConfig"], units: &toolUnits)
        cacheUnits = toolUnits + systemUnits + messageUnits
        if thinking, let last = list.lastIndex(where: { ($0 as? [String: Any])?["role"] as? String == "assistant" }),
           let blocks = (list[last] as? [String: Any])?["content"] as? [Any] {
            let members = blocks.compactMap { ($0 as? [String: Any]).flatMap { Self.contentMembers.first(where: $0.keys.contains) } }
            if members.contains("toolUse"), let first = members.first, first != "reasoningContent" {
                let found = ["toolUse": "tool_use", "text": "text"][first] ?? first
                throw Self.modelError(MockThinking.missingThinking(at: "messages.\(last).content.0", found: found))
            }
        }
        if tools.isEmpty, messages.contains(where: { $0.toolUses + $0.toolResults > 0 }) {
            throw .validation("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
        }
    }

    /// The mock's token rule: the words of the system prompt, plus per message the words of
    /// its text (tool inputs and results included) and 3, plus the words of each tool's
    /// `toolSpec` JSON.
    var inputTokens: Int {
        cacheUnits.reduce(0) { $0 + $1.tokens }
    }

    private mutating func readThinking(_ raw: Any?, maxTokens: Int?) throws(MockBedrockError) {
        guard let fields = raw as? [String: Any], let config = fields["thinking"] else { return }
        do throws(MockAPIError) {
            thinking = try MockThinking.enabled(config, maxTokens: maxTokens)
        } catch {
            throw Self.modelError(error.message)
        }
    }

    /// Marks the last of `units` as ending a cached prefix, for a `cachePoint` block.
    private static func cachePoint(_ value: Any, path: String, units: inout [MockPromptCache.Unit]) throws(MockBedrockError) {
        guard let point = value as? [String: Any], point["type"] as? String == "default" else {
            throw .constraint("\(path).cachePoint.type", value: (value as? [String: Any])?["type"] as? String,
                              "Member must satisfy enum value set: [default]")
        }
        var ttl = MockPromptCache.TTL.fiveMinutes
        if let raw = point["ttl"], !(raw is NSNull) {
            guard let value = (raw as? String).flatMap(MockPromptCache.TTL.init(rawValue:)) else {
                throw .constraint("\(path).cachePoint.ttl", value: raw as? String, "Member must satisfy enum value set: [5m, 1h]")
            }
            ttl = value
        }
        guard !units.isEmpty else { return }
        units[units.count - 1].breakpoint = ttl
    }

    /// What the answer echoes: the last user message's text and tool results, joined by spaces.
    var lastUserText: String {
        guard let last = messages.last(where: { $0.role == "user" }) else { return "" }
        return (last.texts + (last.toolResults > 0 ? last.otherTexts : [])).joined(separator: " ")
    }

    /// The tool the answer calls, if it calls one: with tools, when `toolChoice` demands a
    /// call or the last user message's own text mentions "weather".
    var calledTool: String? {
        guard let first = tools.first else { return nil }
        switch toolChoice {
        case .tool(let name): return name
        case .any: return first
        case .auto:
            let text = messages.last(where: { $0.role == "user" })?.texts.joined(separator: " ") ?? ""
            return text.lowercased().contains("weather") ? first : nil
        }
    }

    private static func message(_ item: Any, index: Int, thinking: Bool,
                                units: inout [MockPromptCache.Unit]) throws(MockBedrockError) -> Message {
        guard let object = item as? [String: Any] else { throw .validation("messages.\(index) must be a Message object.") }
        let role = object["role"] as? String
        guard let role, role == "user" || role == "assistant" else {
            throw .constraint("messages.\(index + 1).member.role", value: object["role"] as? String,
                              "Member must satisfy enum value set: [user, assistant]")
        }
        guard let content = object["content"] as? [Any], !content.isEmpty else {
            throw .validation("The content field in the Message object at messages.\(index).content is empty. "
                              + "Add a ContentBlock object to the content field and try again.")
        }
        var message = Message(role: role)
        for (position, item) in content.enumerated() {
            let path = "messages.\(index).content.\(position)"
            let (member, value) = try union(item, members: contentMembers, path: path, shape: "ContentBlock")
            let before = (message.texts + message.otherTexts).reduce(0) { $0 + MockAnswer.words(of: $1).count }
            defer {
                if member != "cachePoint" {
                    let after = (message.texts + message.otherTexts).reduce(0) { $0 + MockAnswer.words(of: $1).count }
                    units.append(.init(text: (position == 0 ? role + "\u{1f}" : "") + MockPromptCache.canonical(item),
                                       tokens: after - before + (position == 0 ? 3 : 0)))
                }
            }
            switch member {
            case "text":
                guard let text = value as? String else { throw .validation("\(path).text must be a string.") }
                message.texts.append(text)
            case "image":
                try image(value, path: "\(path).image")
            case "toolUse":
                guard role == "assistant" else { throw .validation("\(path): toolUse blocks belong in assistant messages.") }
                message.otherTexts.append(try toolUse(value, path: "\(path).toolUse"))
                message.toolUses += 1
            case "toolResult":
                guard role == "user" else { throw .validation("\(path): toolResult blocks belong in user messages.") }
                message.otherTexts += try toolResult(value, path: "\(path).toolResult")
                message.toolResults += 1
            case "cachePoint":
                try cachePoint(value, path: path, units: &units)
            case "reasoningContent":
                guard let reasoning = value as? [String: Any] else { throw .validation("\(path).reasoningContent must be an object.") }
                if thinking, let block = reasoning["reasoningText"] as? [String: Any] {
                    let text = block["text"] as? String ?? ""
                    guard MockThinking.isValid(block["signature"] as? String, for: text) else {
                        throw modelError(MockThinking.invalidSignature(at: path))
                    }
                }
            default:
                guard value is [String: Any] else { throw .validation("\(path).\(member) must be an object.") }
            }
        }
        return message
    }

    /// The one member a union object sets, among `members`; other keys are ignored.
    private static func union(_ item: Any, members: [String], path: String,
                              shape: String) throws(MockBedrockError) -> (String, Any) {
        guard let object = item as? [String: Any] else { throw .validation("\(path) must be a \(shape) object.") }
        let set = members.filter { object[$0] != nil && !(object[$0] is NSNull) }
        guard set.count == 1, let member = set.first, let value = object[member] else {
            let names = members.joined(separator: ", ")
            let found = set.isEmpty ? "it sets none." : "it sets " + set.joined(separator: ", ") + "."
            throw .validation("\(path): a \(shape) must set exactly one of \(names); \(found)")
        }
        return (member, value)
    }

    private static func image(_ value: Any, path: String) throws(MockBedrockError) {
        guard let image = value as? [String: Any] else { throw .validation("\(path) must be an ImageBlock object.") }
        let format = image["format"] as? String
        guard let format, ["png", "jpeg", "gif", "webp"].contains(format) else {
            throw .constraint("\(path).format", value: image["format"] as? String,
                              "Member must satisfy enum value set: [png, jpeg, gif, webp]")
        }
        let (member, source) = try union(image["source"] as Any, members: ["bytes", "s3Location"], path: "\(path).source",
                                         shape: "ImageSource")
        if member == "bytes" {
            guard let text = source as? String, let bytes = Data(base64Encoded: text), !bytes.isEmpty else {
                throw .validation("\(path).source.bytes must be non-empty base64-encoded image bytes.")
            }
        } else {
            guard let location = source as? [String: Any], location["uri"] is String else {
                throw .validation("\(path).source.s3Location must have a uri.")
            }
        }
    }

    /// Checks a `toolUse` block; returns its input as JSON text.
    private static func toolUse(_ value: Any, path: String) throws(MockBedrockError) -> String {
        guard let block = value as? [String: Any] else { throw .validation("\(path) must be a ToolUseBlock object.") }
        try identifier(block["toolUseId"], path: "\(path).toolUseId", allowed: "a-zA-Z0-9_.:-")
        try identifier(block["name"], path: "\(path).name", allowed: "a-zA-Z0-9_-")
        guard let input = block["input"], !(input is NSNull) else {
            throw .constraint("\(path).input", value: nil, "Member must not be null")
        }
        return String(decoding: MockJSON.encode(input), as: UTF8.self)
    }

    /// Checks a `toolResult` block; returns the text of its content.
    private static func toolResult(_ value: Any, path: String) throws(MockBedrockError) -> [String] {
        guard let block = value as? [String: Any] else { throw .validation("\(path) must be a ToolResultBlock object.") }
        try identifier(block["toolUseId"], path: "\(path).toolUseId", allowed: "a-zA-Z0-9_.:-")
        if let status = block["status"], !(status is NSNull) {
            guard let text = status as? String, text == "success" || text == "error" else {
                throw .constraint("\(path).status", value: status, "Member must satisfy enum value set: [success, error]")
            }
        }
        guard let content = block["content"] as? [Any] else {
            throw .constraint("\(path).content", value: nil, "Member must not be null")
        }
        var texts: [String] = []
        for (position, item) in content.enumerated() {
            let (member, value) = try union(item, members: toolResultMembers, path: "\(path).content.\(position)",
                                            shape: "ToolResultContentBlock")
            if member == "text", let text = value as? String { texts.append(text) }
            if member == "json" { texts.append(String(decoding: MockJSON.encode(value), as: UTF8.self)) }
        }
        return texts
    }

    /// A `ToolName` or `ToolUseId`: 1–64 characters of the `allowed` ASCII set.
    private static func identifier(_ value: Any?, path: String, allowed: String) throws(MockBedrockError) {
        guard let text = value as? String else { throw .constraint(path, value: nil, "Member must not be null") }
        let extra = Set(allowed.replacingOccurrences(of: "a-zA-Z0-9", with: "").unicodeScalars)
        let valid = (1...64).contains(text.utf8.count) && text.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || extra.contains($0)
        }
        guard valid else {
            throw .constraint(path, value: text, "Member must satisfy regular expression pattern: [\(allowed)]+")
        }
    }

    private static func system(_ value: Any?, units: inout [MockPromptCache.Unit]) throws(MockBedrockError) -> [String] {
        guard let value, !(value is NSNull) else { return [] }
        guard let list = value as? [Any] else { throw .validation("The system field must be a list of SystemContentBlock objects.") }
        var texts: [String] = []
        for (index, item) in list.enumerated() {
            let (member, value) = try union(item, members: ["text", "guardContent", "cachePoint"], path: "system.\(index)",
                                            shape: "SystemContentBlock")
            if member == "cachePoint" { try cachePoint(value, path: "system.\(index)", units: &units) }
            guard member == "text" else { continue }
            guard let text = value as? String, !text.isEmpty else {
                throw .constraint("system.\(index + 1).member.text", value: value, "Member must have length greater than or equal to 1")
            }
            texts.append(text)
            units.append(.init(text: "system\u{1f}" + MockPromptCache.canonical(item), tokens: MockAnswer.words(of: text).count))
        }
        return texts
    }

    private mutating func readInferenceConfig(_ value: Any?) throws(MockBedrockError) {
        guard let value, !(value is NSNull) else { return }
        guard let config = value as? [String: Any] else { throw .validation("The inferenceConfig field must be an object.") }
        if let raw = config["maxTokens"], !(raw is NSNull) {
            guard let tokens = raw as? Int else { throw .validation("inferenceConfig.maxTokens must be an integer.") }
            guard tokens >= 1 else {
                throw .constraint("inferenceConfig.maxTokens", value: tokens, "Member must have value greater than or equal to 1")
            }
            maxTokens = tokens
        }
        for key in ["temperature", "topP"] {
            guard let raw = config[key], !(raw is NSNull) else { continue }
            guard let number = raw as? Double else { throw .validation("inferenceConfig.\(key) must be a number.") }
            if number < 0 {
                throw .constraint("inferenceConfig.\(key)", value: number, "Member must have value greater than or equal to 0")
            }
            if number > 1 {
                throw .constraint("inferenceConfig.\(key)", value: number, "Member must have value less than or equal to 1")
            }
        }
        if let raw = config["stopSequences"], !(raw is NSNull) {
            guard let list = raw as? [String] else { throw .validation("inferenceConfig.stopSequences must be a list of strings.") }
            guard !list.contains(where: \.isEmpty) else {
                throw .constraint("inferenceConfig.stopSequences", value: nil, "Member must have length greater than or equal to 1")
            }
            stopSequences = list
        }
    }

    private mutating func readToolConfig(_ value: Any?, units: inout [MockPromptCache.Unit]) throws(MockBedrockError) {
        guard let value, !(value is NSNull) else { return }
        guard let config = value as? [String: Any] else { throw .validation("The toolConfig field must be an object.") }
        guard let list = config["tools"] as? [Any], !list.isEmpty else {
            throw .constraint("toolConfig.tools", value: nil, "Member must have length greater than or equal to 1")
        }
        for (index, item) in list.enumerated() {
            let path = "toolConfig.tools.\(index)"
            let (member, value) = try Self.union(item, members: ["toolSpec", "systemTool", "cachePoint"], path: path, shape: "Tool")
            if member == "cachePoint" { try Self.cachePoint(value, path: path, units: &units) }
            guard member == "toolSpec" else { continue }
            guard let spec = value as? [String: Any] else { throw .validation("\(path).toolSpec must be an object.") }
            try Self.identifier(spec["name"], path: "\(path).toolSpec.name", allowed: "a-zA-Z0-9_-")
            let (_, schema) = try Self.union(spec["inputSchema"] as Any, members: ["json"], path: "\(path).toolSpec.inputSchema",
                                             shape: "ToolInputSchema")
            guard schema is [String: Any] else { throw .validation("\(path).toolSpec.inputSchema.json must be a JSON object.") }
            tools.append(spec["name"] as? String ?? "")
            toolSchemas[spec["name"] as? String ?? ""] = schema
            units.append(.init(text: "tool\u{1f}" + MockPromptCache.canonical(item),
                               tokens: MockAnswer.words(of: MockJSONValue(spec).text).count))
        }
        guard let rawChoice = config["toolChoice"], !(rawChoice is NSNull) else { return }
        let (choice, detail) = try Self.union(rawChoice, members: ["auto", "any", "tool"], path: "toolConfig.toolChoice",
                                              shape: "ToolChoice")
        switch choice {
        case "any": toolChoice = .any
        case "tool":
            let name = (detail as? [String: Any])?["name"]
            try Self.identifier(name, path: "toolConfig.toolChoice.tool.name", allowed: "a-zA-Z0-9_-")
            guard let name = name as? String, tools.contains(name) else {
                throw .validation("The tool \(name ?? "") named in toolConfig.toolChoice is not in toolConfig.tools.")
            }
            toolChoice = .tool(name)
        default: toolChoice = .auto
        }
    }
}
