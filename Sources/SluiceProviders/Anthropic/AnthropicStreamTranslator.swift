import SluiceCore

/// Anthropic's named stream events → OpenAI `chat.completion.chunk` events, one upstream
/// event at a time (https://docs.anthropic.com/en/docs/build-with-claude/streaming).
///
/// - `message_start` → the first chunk, `delta: {role: assistant, content: ""}`.
/// - `text_delta` → `delta.content`; `thinking_delta` → `delta.reasoning_content`.
/// - a `tool_use` block → a tool call whose OpenAI `index` counts tool calls only: its
///   first delta has `id`, `type`, `function.name` and `arguments: ""`, then each
///   `input_json_delta` sends an `arguments` piece.
/// - `message_delta` → a chunk with `finish_reason`; `message_stop` → the usage chunk
///   (`choices: []`, only when the client asked for usage) and `data: [DONE]`.
/// - `ping`, `signature_delta`, block stops and unknown events are dropped; `error` ends
///   the stream with the error.
///
/// Anthropic reports input tokens in `message_start` and cumulative output tokens in
/// `message_delta`; `usage` holds the totals so far at every step.
public struct AnthropicStreamTranslator: StreamTranslator {
    private let model: String
    private let created: Int
    private let clientWantsUsage: Bool
    private let provider: ProviderConfig?
    private let structured: Bool
    /// The content block that is the forced structured-output tool's call.
    private var structuredBlock: Int?
    private var id = ""
    private var counts: AnthropicUsage?
    /// Content block index → OpenAI tool call index.
    private var toolIndexByBlock: [Int: Int] = [:]
    public private(set) var generatedBytes = 0

    /// - Parameters:
    ///   - model: the route name the client asked for (chunks name it as `model`).
    ///   - created: the chunks' `created` time (Unix seconds).
    ///   - provider: the provider, so that error messages never carry its credentials.
    public init(model: String, created: Int, clientWantsUsage: Bool, provider: ProviderConfig? = nil,
                structured: Bool = false) {
        self.structured = structured
        self.model = model
        self.created = created
        self.clientWantsUsage = clientWantsUsage
        self.provider = provider
    }

    public var usage: TokenUsage? { counts?.tokenUsage }

    public mutating func translate(event: ArraySlice<UInt8>) -> TranslatedEvent {
        let parsed = ServerSentEvent(parsing: event)
        guard let data = parsed.data, let payload = JSONValue.parseObject(data) else {
            return TranslatedEvent(output: [])  // comments and keep-alives
        }
        switch payload["type"]?.stringValue ?? parsed.name {
        case "message_start":
            let message = payload["message"]?.objectValue
            id = message?["id"]?.stringValue ?? id
            if let usage = message?["usage"]?.objectValue { counts = AnthropicUsage(usage) }
            return emit(chunk(delta: JSONObject([("role", .string("assistant")), ("content", .string(""))])))
        case "content_block_start":
            return blockStarted(payload)
        case "content_block_delta":
            return blockDelta(payload)
        case "message_delta":
            if let usage = payload["usage"]?.objectValue {
                var updated = counts ?? AnthropicUsage()
                updated.update(with: usage)
                counts = updated
            }
            guard let stop = payload["delta"]?["stop_reason"]?.stringValue else { return TranslatedEvent(output: []) }
            let finish = structuredBlock != nil && toolIndexByBlock.isEmpty && stop == "tool_use"
                ? "stop" : AnthropicStopReason.finishReason(stop)
            return emit(chunk(delta: JSONObject(), finishReason: finish))
        case "message_stop":
            var out = ""
            if clientWantsUsage, let counts {
                let usageChunk = JSONObject([
                    ("id", .string(id)), ("object", .string("chat.completion.chunk")), ("created", .int(created)),
                    ("model", .string(model)), ("choices", .array([])), ("usage", .object(counts.openAIObject)),
                ])
                out += ServerSentEvent.unnamed(usageChunk.encoded)
            }
            out += "data: [DONE]\n\n"
            return TranslatedEvent(output: Array(out.utf8), isTerminal: true)
        case "error":
            return TranslatedEvent(error: AnthropicErrorBody.streamError(data: data, provider: provider))
        default:
            return TranslatedEvent(output: [])  // ping, content_block_stop, and events added later
        }
    }

    private mutating func blockStarted(_ payload: JSONObject) -> TranslatedEvent {
        guard let block = payload["content_block"]?.objectValue, let index = payload["index"]?.intValue else {
            return TranslatedEvent(output: [])
        }
        switch block["type"]?.stringValue {
        case "tool_use" where structured && block["name"]?.stringValue == StructuredOutputTool.name:
            structuredBlock = index
            return TranslatedEvent(output: [])
        case "redacted_thinking":
            return emit(chunk(delta: JSONObject([("thinking_blocks", .array([.object(block)]))])))
        case "tool_use":
            let toolIndex = toolIndexByBlock.count
            toolIndexByBlock[index] = toolIndex
            let function = JSONObject([("name", block["name"] ?? .string("")), ("arguments", .string(""))])
            let call = JSONObject([("index", .int(toolIndex)), ("id", block["id"] ?? .string("")),
                                   ("type", .string("function")), ("function", .object(function))])
            return emit(chunk(delta: JSONObject([("tool_calls", .array([.object(call)]))])))
        case "text":
            // The block opens empty; any starting text is sent like a delta.
            guard let text = block["text"]?.stringValue, !text.isEmpty else { return TranslatedEvent(output: []) }
            generatedBytes += text.utf8.count
            return emit(chunk(delta: JSONObject([("content", .string(text))])))
        default:
            return TranslatedEvent(output: [])  // thinking opens empty; redacted thinking is never shown
        }
    }

    private mutating func blockDelta(_ payload: JSONObject) -> TranslatedEvent {
        guard let delta = payload["delta"]?.objectValue else { return TranslatedEvent(output: []) }
        switch delta["type"]?.stringValue {
        case "text_delta":
            let text = delta["text"]?.stringValue ?? ""
            generatedBytes += text.utf8.count
            return emit(chunk(delta: JSONObject([("content", .string(text))])))
        case "thinking_delta":
            let thinking = delta["thinking"]?.stringValue ?? ""
            generatedBytes += thinking.utf8.count
            return emit(chunk(delta: JSONObject([("reasoning_content", .string(thinking))])))
        case "signature_delta":
            let block = JSONObject([("type", .string("thinking")), ("thinking", .string("")),
                                    ("signature", delta["signature"] ?? .string(""))])
            return emit(chunk(delta: JSONObject([("thinking_blocks", .array([.object(block)]))])))
        case "input_json_delta" where structuredBlock != nil && payload["index"]?.intValue == structuredBlock:
            let piece = delta["partial_json"]?.stringValue ?? ""
            guard !piece.isEmpty else { return TranslatedEvent(output: []) }
            generatedBytes += piece.utf8.count
            return emit(chunk(delta: JSONObject([("content", .string(piece))])))
        case "input_json_delta":
            let piece = delta["partial_json"]?.stringValue ?? ""
            guard !piece.isEmpty, let index = payload["index"]?.intValue, let toolIndex = toolIndexByBlock[index] else {
                return TranslatedEvent(output: [])
            }
            generatedBytes += piece.utf8.count
            let call = JSONObject([("index", .int(toolIndex)),
                                   ("function", .object(JSONObject([("arguments", .string(piece))])))])
            return emit(chunk(delta: JSONObject([("tool_calls", .array([.object(call)]))])))
        default:
            return TranslatedEvent(output: [])  // citations_delta
        }
    }

    /// One `chat.completion.chunk` with a single choice.
    private func chunk(delta: JSONObject, finishReason: String? = nil) -> JSONObject {
        let choice = JSONObject([("index", .int(0)), ("delta", .object(delta)), ("logprobs", .null),
                                 ("finish_reason", finishReason.map(JSONValue.string) ?? .null)])
        return JSONObject([("id", .string(id)), ("object", .string("chat.completion.chunk")), ("created", .int(created)),
                           ("model", .string(model)), ("choices", .array([.object(choice)]))])
    }

    private func emit(_ chunk: JSONObject) -> TranslatedEvent {
        TranslatedEvent(output: Array(ServerSentEvent.unnamed(chunk.encoded).utf8))
    }
}
