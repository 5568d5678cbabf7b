/// A client's request body, validated and read just enough to route it.
///
/// The body is kept as the client's bytes: only the `model` value is replaced when
/// the request goes upstream (`upstreamBody(model:)`), everything else passes
/// through untouched.
public struct APIRequest: Sendable {
    public let operation: APIOperation
    /// The client's bytes.
    public let body: [UInt8]
    /// The route name the client asked for.
    public let model: String
    /// `stream: true`.
    public let stream: Bool
    /// `stream_options.include_usage: true`.
    public let includeUsage: Bool
    /// The client's cap on output tokens (`max_completion_tokens`, else `max_tokens`),
    /// clamped to `0...TokenUsage.maxCount` (the governor adds it to the prompt estimate).
    public let maxTokens: Int?
    /// The client's headers that the provider reads and the gateway forwards on a native
    /// call (lower-case names: `anthropic-beta`, `anthropic-version`), or reads to translate
    /// (Bedrock's `anthropic_beta`).
    public var clientHeaders: [(name: String, value: String)] = []
    /// Byte range of the `model` value (quotes included) in `body`.
    private let modelRange: Range<Int>
    /// Every top-level member's name and value range, in body order.
    private let members: [(key: String, range: Range<Int>)]

    /// Validates `body` for `operation`: well-formed JSON object, `model` a non-empty
    /// string, and every known field of the right JSON type.
    public init(operation: APIOperation, body: [UInt8]) throws(GatewayError) {
        guard !body.isEmpty else {
            throw GatewayError(.invalidJSON, "The request body is empty; expected a JSON object.")
        }
        let members: [JSONScanner.Member]
        do {
            members = try JSONScanner.topLevelMembers(of: body)
        } catch {
            throw GatewayError(.invalidJSON, "The request body is not valid JSON: \(error.description).")
        }
        var model: (String, Range<Int>)?
        var stream = false
        var includeUsage = false
        var maxTokens: Int?
        var maxCompletionTokens: Int?
        let expectedKinds = Self.expectedKinds(operation)
        var seen = Set<String>()
        for member in members {
            // A duplicate key is read differently by different parsers (first or last wins):
            // the body that goes upstream must mean exactly what was validated.
            guard seen.insert(member.key).inserted else {
                throw GatewayError.invalidRequest("Duplicate key '\(member.key)' in the request body.", param: member.key)
            }
            if let expected = expectedKinds[member.key], !expected.contains(member.kind) {
                let names = expected.map(\.rawValue).sorted().joined(separator: " or ")
                throw GatewayError.invalidRequest(
                    "Invalid type for '\(member.key)': expected \(names), got \(member.kind.rawValue).", param: member.key)
            }
            switch member.key {
            case "model":
                model = (JSONScanner.decodeString(at: member.range, in: body), member.range)
            case "max_tokens" where member.kind == .number:
                maxTokens = Int(String(decoding: body[member.range], as: UTF8.self))
            case "max_completion_tokens" where member.kind == .number, "max_output_tokens" where member.kind == .number:
                maxCompletionTokens = Int(String(decoding: body[member.range], as: UTF8.self))
            case "stream":
                stream = member.kind == .bool && body[member.range.lowerBound] == UInt8(ascii: "t")
            case "stream_options" where member.kind == .object:
                for option in JSONScanner.members(of: member.range, in: body) where option.key == "include_usage" {
                    guard option.kind == .bool || option.kind == .null else {
                        throw GatewayError.invalidRequest(
                            "Invalid type for 'stream_options.include_usage': expected bool, got \(option.kind.rawValue).",
                            param: "stream_options.include_usage")
                    }
                    includeUsage = option.kind == .bool && body[option.range.lowerBound] == UInt8(ascii: "t")
                }
            default:
                break
            }
        }
        guard let (name, range) = model else {
            throw GatewayError.invalidRequest("Missing required parameter: 'model'.", param: "model")
        }
        guard !name.isEmpty else {
            throw GatewayError.invalidRequest("'model' must name a route.", param: "model")
        }
        for required in Self.requiredFields(operation) where !members.contains(where: { $0.key == required }) {
            throw GatewayError.invalidRequest("Missing required parameter: '\(required)'.", param: required)
        }
        if stream && !operation.canStream {
            throw GatewayError.invalidRequest("'stream' is not supported for \(operation.rawValue).", param: "stream")
        }
        self.operation = operation
        self.body = body
        self.model = name
        self.stream = stream
        self.includeUsage = includeUsage
        self.maxTokens = (maxCompletionTokens ?? maxTokens).map(TokenUsage.count)
        self.modelRange = range
        self.members = members.map { ($0.key, $0.range) }
    }

    /// The body to send upstream: the client's bytes with `model` set to `model`, and each
    /// of `params` (name → JSON text) replacing the client's value or added at the end.
    /// Nothing else is re-encoded.
    public func upstreamBody(model upstreamModel: String, params: [(name: String, json: String)] = []) -> [UInt8] {
        var edits: [(range: Range<Int>, text: String)] = [(modelRange, JSONText.quoted(upstreamModel))]
        var appended = ""
        for param in params {
            let existing = members.filter { $0.key == param.name }
            if existing.isEmpty {
                appended += "," + JSONText.quoted(param.name) + ":" + param.json
            } else {
                edits += existing.map { ($0.range, param.json) }
            }
        }
        if !appended.isEmpty, let close = body.lastIndex(of: UInt8(ascii: "}")) {
            if members.isEmpty { appended.removeFirst() }
            edits.append((close..<close, appended))
        }
        edits.sort { $0.range.lowerBound < $1.range.lowerBound }
        var out: [UInt8] = []
        out.reserveCapacity(body.count + upstreamModel.utf8.count + appended.utf8.count)
        var position = 0
        for edit in edits {
            out.append(contentsOf: body[position..<edit.range.lowerBound])
            out.append(contentsOf: edit.text.utf8)
            position = edit.range.upperBound
        }
        out.append(contentsOf: body[position...])
        return out
    }

    private static func requiredFields(_ operation: APIOperation) -> [String] {
        switch operation {
        case .chatCompletions: return ["messages"]
        case .completions: return ["prompt"]
        case .embeddings: return ["input"]
        case .messages: return ["messages", "max_tokens"]
        case .countTokens: return ["messages"]
        case .responses: return []
        }
    }

    /// The value of top-level member `name` as JSON text, if the body has it.
    public func member(_ name: String) -> ArraySlice<UInt8>? {
        members.first { $0.key == name }.map { body[$0.range] }
    }

    /// The names of the body's top-level members, in body order.
    public var memberNames: [String] { members.map(\.key) }

    private typealias Kinds = Set<JSONScanner.Kind>
    private static let number: Kinds = [.number, .null]
    private static let common: [String: Kinds] = [
        "model": [.string], "stream": [.bool, .null], "stream_options": [.object, .null],
        "user": [.string, .null], "n": number, "temperature": number, "top_p": number,
        "max_tokens": number, "presence_penalty": number, "frequency_penalty": number,
        "seed": number, "stop": [.string, .array, .null], "logit_bias": [.object, .null],
        "metadata": [.object, .null],
    ]

    /// The JSON types each known field may have, per operation (built once).
    private static func expectedKinds(_ operation: APIOperation) -> [String: Kinds] {
        switch operation {
        case .chatCompletions: return chatKinds
        case .completions: return completionKinds
        case .embeddings: return embeddingKinds
        case .messages, .countTokens: return messagesKinds
        case .responses: return responsesKinds
        }
    }

    /// The Responses API's fields (openai-python `ResponseCreateParams`).
    private static let responsesKinds: [String: Kinds] = [
        "model": [.string], "input": [.string, .array], "instructions": [.string, .null], "stream": [.bool, .null],
        "store": [.bool, .null], "previous_response_id": [.string, .null], "tools": [.array, .null],
        "tool_choice": [.string, .object, .null], "parallel_tool_calls": [.bool, .null], "reasoning": [.object, .null],
        "text": [.object, .null], "max_output_tokens": number, "temperature": number, "top_p": number,
        "metadata": [.object, .null], "user": [.string, .null], "include": [.array, .null],
    ]

    /// Anthropic's Messages fields (https://docs.anthropic.com/en/api/messages).
    private static let messagesKinds: [String: Kinds] = [
        "model": [.string], "messages": [.array], "max_tokens": [.number], "system": [.string, .array],
        "stream": [.bool], "stop_sequences": [.array], "temperature": [.number], "top_p": [.number],
        "top_k": [.number], "tools": [.array], "tool_choice": [.object], "metadata": [.object],
        "thinking": [.object], "service_tier": [.string],
    ]

    private static let chatKinds: [String: Kinds] = common.merging([
        "messages": [.array], "max_completion_tokens": number, "tools": [.array, .null],
        "tool_choice": [.string, .object, .null], "parallel_tool_calls": [.bool, .null],
        "response_format": [.object, .null], "logprobs": [.bool, .null], "top_logprobs": number,
        "functions": [.array, .null], "function_call": [.string, .object, .null],
        "store": [.bool, .null], "reasoning_effort": [.string, .null], "modalities": [.array, .null],
    ]) { $1 }

    private static let completionKinds: [String: Kinds] = common.merging([
        "prompt": [.string, .array], "suffix": [.string, .null], "echo": [.bool, .null],
        "best_of": number, "logprobs": number,
    ]) { $1 }

    private static let embeddingKinds: [String: Kinds] = [
        "model": [.string], "input": [.string, .array], "encoding_format": [.string, .null],
        "dimensions": number, "user": [.string, .null],
    ]
}
