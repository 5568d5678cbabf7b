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
/// `{"location": "Paris"}`, then London, Tokyo…; stop reason `tool_use`.
///
/// Usage: `inputTokens` per ``MockBedrockConverseRequest/inputTokens``, `outputTokens` the
/// words of the answer (of each tool input's JSON text). `metrics.latencyMs` is the
/// response's `delay` in milliseconds, so answers are reproducible.
struct MockBedrockConverse {
    struct ToolCall {
        var id: String
        var name: String
        var location: String

        /// The input as the stream sends it, in two word deltas that concatenate to JSON.
        var inputJSON: String { #"{"location": "\#(location)"}"# }
    }

    enum Content {
        case text([String])
        case tools([ToolCall])
    }

    static let locations = ["Paris", "London", "Tokyo", "Lima", "Oslo", "Cairo", "Sydney", "Quito"]

    var content: Content
    var stopReason: String
    var inputTokens: Int
    var latencyMs: Int

    init(request: MockBedrockConverseRequest, call: MockCall, latencyMs: Int) {
        inputTokens = request.inputTokens
        self.latencyMs = latencyMs
        if let tool = request.calledTool {
            let calls = (0..<(call.faults.bedrock.tools ?? 1)).map { index in
                ToolCall(id: "tooluse_mock_\(call.serial)_\(index)", name: tool, location: Self.locations[index])
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
        if let limit = request.maxTokens, words.count > limit {
            words = Array(words.prefix(limit))
            stopReason = "max_tokens"
        }
        content = .text(words)
    }

    var outputTokens: Int {
        switch content {
        case .text(let words): words.count
        case .tools(let calls): calls.reduce(0) { $0 + MockAnswer.words(of: $1.inputJSON).count }
        }
    }

    var usage: [String: Any] {
        ["inputTokens": inputTokens, "outputTokens": outputTokens, "totalTokens": inputTokens + outputTokens]
    }

    /// The `ConverseResponse` object.
    var response: [String: Any] {
        let blocks: [[String: Any]] = switch content {
        case .text(let words): [["text": words.joined(separator: " ")]]
        case .tools(let calls):
            calls.map { ["toolUse": ["toolUseId": $0.id, "name": $0.name, "input": ["location": $0.location]]] }
        }
        return [
            "output": ["message": ["role": "assistant", "content": blocks]],
            "stopReason": stopReason,
            "usage": usage,
            "metrics": ["latencyMs": latencyMs],
        ]
    }
}
