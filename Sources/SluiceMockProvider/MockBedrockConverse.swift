import Foundation

/// `POST /model/{modelId}/converse` and `/converse-stream`: Bedrock's Converse answer, as
/// JSON or as an event stream (see ``MockBedrockConverseStream``).
///
/// The same rules as the OpenAI chat mock (``MockChat``): the answer is `"Echo: "` + the
/// last user message's text (its `text` blocks, and its tool results when it answers a tool
/// call), made `words` long by that fault, cut at the first `stopSequences` match
/// (`stop_sequence`) and to `inferenceConfig.maxTokens` words (`max_tokens`), else
/// `end_turn`. With `toolConfig`, when `toolChoice` is `any` or `tool`, or the last user
/// text mentions "weather", the answer is instead one `toolUse` block per `tools` fault
/// (default 1) calling the chosen tool (the first, or `toolChoice.tool.name`) with
/// `{"location": "Paris"}`, then London, Tokyo… (with `toolChoice.tool`, a minimal instance
/// of the tool's `inputSchema.json`, see ``MockSchemaInstance``); stop reason `tool_use`.
///
/// With reasoning on (`additionalModelRequestFields.thinking`), the content starts with
/// `{"reasoningContent": {"reasoningText": {"text": "<thinking>", "signature": "<sig>"}}}`
/// (``MockThinking``), whose words count as output tokens.
///
/// Usage: `outputTokens` the words of the reasoning and the answer (of each tool input's
/// JSON text); the prompt's tokens (``MockBedrockConverseRequest/inputTokens``) split by
/// the shared ``MockPromptCache`` (namespace `bedrock` and the model id) into
/// `cacheReadInputTokens`, `cacheWriteInputTokens` and `inputTokens` (the rest); with
/// `cachePoint`s, the cache members and `cacheDetails` (`[{"ttl": "1h"|"5m", "inputTokens"}]`,
/// 1h first, only TTLs written) are present. `totalTokens` is the sum of input, cache read,
/// cache write and output. `metrics.latencyMs` is the response's `delay` in milliseconds,
/// so answers are reproducible.
struct MockBedrockConverse {
    struct ToolCall {
        var id: String
        var name: String
        var value: MockJSONValue

        /// The input as the stream sends it, in word deltas that concatenate to JSON.
        var inputJSON: String { value.text }
    }

    enum Content {
        case text([String])
        case tools([ToolCall])
    }

    static let locations = ["Paris", "London", "Tokyo", "Lima", "Oslo", "Cairo", "Sydney", "Quito"]

    var content: Content
    var stopReason: String
    var cache: MockPromptCache.Usage
    /// Whether the request had `cachePoint`s, so usage shows the cache members.
    var usesCache: Bool
    /// The reasoning text, when reasoning is on.
    var reasoning: String?
    var latencyMs: Int

    init(request: MockBedrockConverseRequest, call: MockCall, latencyMs: Int, cache: MockPromptCache.Usage) {
        self.cache = cache
        usesCache = request.usesCache
        reasoning = request.thinking ? MockThinking.text(about: request.lastUserText) : nil
        self.latencyMs = latencyMs
        if let tool = request.calledTool {
            let forced = request.toolChoice == .tool(tool)
            let calls = (0..<(call.faults.bedrock.tools ?? 1)).map { index in
                let location = Self.locations[index % Self.locations.count]
                let value: MockJSONValue = forced
                    ? MockSchemaInstance.instance(of: request.toolSchemas[tool], sample: location)
                    : .object([.init(key: "location", value: .string(location))])
                return ToolCall(id: "tooluse_mock_\(call.serial)_\(index)", name: tool, value: value)
            }
            content = .tools(calls)
            stopReason = "tool_use"
            return
        }
        var words = MockAnswer.echo(request.lastUserText, targetWords: call.faults.words, limit: nil).words
        stopReason = "end_turn"
        let text = words.joined(separator: " ")
        let stops = request.stopSequences.compactMap { text.range(of: $0)?.lowerBound }
        if let cut = stops.min() {
            words = MockAnswer.words(of: String(text[..<cut]))
            stopReason = "stop_sequence"
        }
        let reserved = reasoning.map { MockAnswer.words(of: $0).count } ?? 0
        if let limit = request.maxTokens.map({ max(0, $0 - reserved) }), words.count > limit {
            words = Array(words.prefix(limit))
            stopReason = "max_tokens"
        }
        content = .text(words)
    }

    var outputTokens: Int {
        let reasoningTokens = reasoning.map { MockAnswer.words(of: $0).count } ?? 0
        return switch content {
        case .text(let words): reasoningTokens + words.count
        case .tools(let calls): reasoningTokens + calls.reduce(0) { $0 + MockAnswer.words(of: $1.inputJSON).count }
        }
    }

    /// The `TokenUsage` object.
    var usage: [String: Any] {
        var usage: [String: Any] = ["inputTokens": cache.input, "outputTokens": outputTokens,
                                    "totalTokens": cache.input + cache.read + cache.write + outputTokens]
        if usesCache {
            usage["cacheReadInputTokens"] = cache.read
            usage["cacheWriteInputTokens"] = cache.write
            var details: [[String: Any]] = []
            if cache.write1h > 0 { details.append(["ttl": "1h", "inputTokens": cache.write1h]) }
            if cache.write5m > 0 { details.append(["ttl": "5m", "inputTokens": cache.write5m]) }
            if !details.isEmpty { usage["cacheDetails"] = details }
        }
        return usage
    }

    /// The reasoning block of the answer, if any.
    var reasoningBlock: [String: Any]? {
        reasoning.map { ["reasoningContent": ["reasoningText": ["text": $0, "signature": MockThinking.signature(for: $0)]]] }
    }

    /// The `ConverseResponse` object.
    var response: [String: Any] {
        let answer: [[String: Any]] = switch content {
        case .text(let words): [["text": words.joined(separator: " ")]]
        case .tools(let calls):
            calls.map { ["toolUse": ["toolUseId": $0.id, "name": $0.name, "input": $0.value.foundation]] }
        }
        let blocks = (reasoningBlock.map { [$0] } ?? []) + answer
        return [
            "output": ["message": ["role": "assistant", "content": blocks]],
            "stopReason": stopReason,
            "usage": usage,
            "metrics": ["latencyMs": latencyMs],
        ]
    }
}
