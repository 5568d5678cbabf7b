import Foundation
import SluiceCore

/// Translates a ConverseStream, one event stream message at a time, into OpenAI
/// `chat.completion.chunk` events (`data: {…}\n\n`), then `data: [DONE]\n\n`
/// (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html).
///
/// - `messageStart` → the first chunk, `delta: {role: "assistant", content: ""}`.
/// - `contentBlockStart` with `toolUse` → a tool call's first delta (`index`, `id`,
///   `type`, `function.name`, `arguments: ""`). Tool call indexes count tool calls only.
/// - `contentBlockDelta` → `delta.content` (text), `delta.tool_calls[].function.arguments`
///   (tool input pieces) or `delta.reasoning_content` (reasoning text).
/// - a reasoning `signature` delta → `delta.thinking_blocks: [{type: thinking, thinking: "",
///   signature}]`; `redactedContent` → `delta.thinking_blocks` with a `redacted_thinking` block.
/// - with `structured` (the client asked for `response_format`), the forced tool's input
///   pieces are `delta.content` and its `tool_use` stop is `finish_reason: stop`.
/// - `messageStop` → a chunk with `finish_reason`.
/// - `metadata` (usage, after `messageStop`) → one usage chunk with `choices: []` when the
///   client asked for usage, then `[DONE]`: the stream's end.
/// - An exception frame (`:message-type: exception`) or a corrupt frame → an error.
public struct BedrockStreamTranslator: StreamTranslator {
    private let id = BedrockIDs.completionID()
    private let created = BedrockIDs.now()
    private let model: String
    private let clientWantsUsage: Bool
    private let structured: Bool
    /// The content block that is the forced structured-output tool's call.
    private var structuredBlock: Int?
    /// Converse content block index → OpenAI tool call index.
    private var toolIndexes: [Int: Int] = [:]
    public private(set) var usage: TokenUsage?
    public private(set) var generatedBytes = 0

    /// `model` is the route name the client asked for; `clientWantsUsage` is its
    /// `stream_options.include_usage`.
    public init(model: String, clientWantsUsage: Bool, structured: Bool = false) {
        self.structured = structured
        self.model = model
        self.clientWantsUsage = clientWantsUsage
    }

    public mutating func translate(event: ArraySlice<UInt8>) -> TranslatedEvent {
        let message: EventStreamMessage
        do {
            message = try EventStreamMessage.decode(event)
        } catch {
            return TranslatedEvent(error: GatewayError(.upstreamError, "Amazon Bedrock's event stream was corrupt (\(error.kind.rawValue))."))
        }
        switch message.header(":message-type") {
        case "exception":
            return TranslatedEvent(error: BedrockErrorBody.streamError(exceptionType: message.header(":exception-type") ?? "exception",
                                                                       payload: message.payload))
        case "error":
            let code = message.header(":error-code") ?? "error"
            let text = message.header(":error-message") ?? "Amazon Bedrock reported an error mid-stream."
            return TranslatedEvent(error: GatewayError(.upstreamError, "Amazon Bedrock reported \(code) mid-stream: \(text)"))
        default:
            break
        }
        let payload = JSONOutput.object(message.payload) ?? [:]
        switch message.header(":event-type") {
        case "messageStart":
            return chunk(delta: ["role": "assistant", "content": ""])
        case "contentBlockStart":
            guard let block = payload["contentBlockIndex"] as? Int,
                  let use = (payload["start"] as? [String: Any])?["toolUse"] as? [String: Any] else { return TranslatedEvent(output: []) }
            if structured && use["name"] as? String == StructuredOutputTool.name {
                structuredBlock = block
                return TranslatedEvent(output: [])
            }
            let index = toolIndexes.count
            toolIndexes[block] = index
            let name = use["name"] as? String ?? ""
            generatedBytes += name.utf8.count
            return chunk(delta: ["tool_calls": [["index": index, "id": use["toolUseId"] as? String ?? "", "type": "function",
                                                 "function": ["name": name, "arguments": ""]]]])
        case "contentBlockDelta":
            return contentDelta(payload)
        case "messageStop":
            let stop = payload["stopReason"] as? String
            let finish = structuredBlock != nil && toolIndexes.isEmpty && stop == "tool_use"
                ? "stop" : BedrockConverseResponse.finishReason(stop)
            return chunk(delta: [:], finishReason: finish)
        case "metadata":
            var output: [UInt8] = []
            if let reported = (payload["usage"] as? [String: Any]).flatMap(BedrockUsage.init) {
                usage = reported.tokenUsage
                if clientWantsUsage {
                    output += sse(["id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                                   "choices": [Any](), "usage": reported.openAI])
                }
            }
            output += Array("data: [DONE]\n\n".utf8)
            return TranslatedEvent(output: output, isTerminal: true)
        default:
            return TranslatedEvent(output: [])  // contentBlockStop, and events added later
        }
    }

    private mutating func contentDelta(_ payload: [String: Any]) -> TranslatedEvent {
        guard let delta = payload["delta"] as? [String: Any] else { return TranslatedEvent(output: []) }
        if let text = delta["text"] as? String {
            generatedBytes += text.utf8.count
            return chunk(delta: ["content": text])
        }
        if let input = (delta["toolUse"] as? [String: Any])?["input"] as? String,
           let block = payload["contentBlockIndex"] as? Int, block == structuredBlock {
            generatedBytes += input.utf8.count
            return input.isEmpty ? TranslatedEvent(output: []) : chunk(delta: ["content": input])
        }
        if let input = (delta["toolUse"] as? [String: Any])?["input"] as? String,
           let block = payload["contentBlockIndex"] as? Int, let index = toolIndexes[block] {
            generatedBytes += input.utf8.count
            return chunk(delta: ["tool_calls": [["index": index, "function": ["arguments": input]]]])
        }
        if let reasoning = delta["reasoningContent"] as? [String: Any] {
            if let text = reasoning["text"] as? String {
                generatedBytes += text.utf8.count
                return chunk(delta: ["reasoning_content": text])
            }
            if let signature = reasoning["signature"] as? String {
                return chunk(delta: ["thinking_blocks": [["type": "thinking", "thinking": "", "signature": signature]]])
            }
            if let redacted = reasoning["redactedContent"] as? String {
                return chunk(delta: ["thinking_blocks": [["type": "redacted_thinking", "data": redacted]]])
            }
        }
        return TranslatedEvent(output: [])  // citations, and deltas added later
    }

    private func chunk(delta: [String: Any], finishReason: String? = nil) -> TranslatedEvent {
        let choice: [String: Any] = ["index": 0, "delta": delta, "logprobs": NSNull(),
                                     "finish_reason": finishReason.map { $0 as Any } ?? NSNull()]
        return TranslatedEvent(output: sse(["id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                                            "choices": [choice]]))
    }

    private func sse(_ object: [String: Any]) -> [UInt8] {
        Array("data: ".utf8) + ((try? JSONOutput.bytes(object)) ?? Array("{}".utf8)) + Array("\n\n".utf8)
    }
}
