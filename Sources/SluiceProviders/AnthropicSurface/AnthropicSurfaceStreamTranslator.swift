import SluiceCore

/// OpenAI `chat.completion.chunk` events → Anthropic's named stream events, for a client
/// of the `/v1/messages` surface (https://docs.anthropic.com/en/docs/build-with-claude/streaming).
///
/// The first chunk opens the message (`message_start`); reasoning (`reasoning_content`)
/// opens a `thinking` block (`thinking_delta`, and `signature_delta` for a signature in
/// `thinking_blocks`), text opens a text block and each tool call a `tool_use` block (`content_block_start`, `content_block_delta` with
/// `text_delta` / `input_json_delta`, `content_block_stop` when the next block starts or
/// the choice finishes). OpenAI sends the usage after the `finish_reason` chunk, in a
/// chunk without choices, so `message_delta` (stop reason and usage) and `message_stop`
/// wait until the usage is known, or until `[DONE]` when it never comes.
///
/// Chain it after a provider's stream translator with `ChainedStreamTranslator`.
public struct AnthropicSurfaceStreamTranslator: StreamTranslator {
    private let model: String
    private var started = false
    private var finished = false
    private var nextBlock = 0
    /// The block open now: its index, and the OpenAI tool call index for a tool_use block.
    private var openBlock: (index: Int, toolIndex: Int?)?
    /// The open block is a thinking block.
    private var thinkingOpen = false
    /// OpenAI tool call index → content block index.
    private var blockByToolIndex: [Int: Int] = [:]
    private var stopReason: String?
    /// The model refused (OpenAI streams the refusal text as `delta.refusal`).
    private var refused = false
    private var reported: MessagesUsage?
    public private(set) var generatedBytes = 0

    /// - Parameter model: the model the client asked for (`message.model`).
    public init(model: String) {
        self.model = model
    }

    public var usage: TokenUsage? { reported?.tokenUsage }

    public mutating func translate(event: ArraySlice<UInt8>) -> TranslatedEvent {
        guard let data = ServerSentEvent(parsing: event).data else { return TranslatedEvent(output: []) }
        if data.elementsEqual("[DONE]".utf8) {
            var out = ""
            if !started { out += start(id: nil) }
            if !finished { out += finish() }
            return TranslatedEvent(output: Array(out.utf8), isTerminal: true)
        }
        guard let chunk = JSONValue.parseObject(data), !finished else { return TranslatedEvent(output: []) }
        if let error = chunk["error"], !error.isNull {
            let message = error["message"]?.stringValue ?? error.stringValue ?? "The provider reported an error mid-stream."
            return TranslatedEvent(error: GatewayError(.upstreamError, message))
        }
        var out = ""
        if !started { out += start(id: chunk["id"]?.stringValue) }
        if let choice = chunk["choices"]?.arrayValue?.first?.objectValue {
            out += translate(choice: choice)
        }
        if let usage = chunk["usage"]?.objectValue { reported = MessagesUsage(usage) }
        var terminal = false
        if stopReason != nil, reported != nil {
            out += finish()
            terminal = true
        }
        return TranslatedEvent(output: Array(out.utf8), isTerminal: terminal)
    }

    private mutating func translate(choice: JSONObject) -> String {
        var out = ""
        let delta = choice["delta"]
        let refusal = delta?["refusal"]?.stringValue
        if refusal != nil { refused = true }
        if let reasoning = delta?["reasoning_content"]?.stringValue, !reasoning.isEmpty {
            if !thinkingOpen {
                out += openNewBlock(JSONObject([("type", .string("thinking")), ("thinking", .string("")),
                                                ("signature", .string(""))]), toolIndex: nil)
                thinkingOpen = true
            }
            generatedBytes += reasoning.utf8.count
            out += event("content_block_delta", [("index", .int(openBlock!.index)),
                                                 ("delta", .object(JSONObject([("type", .string("thinking_delta")),
                                                                               ("thinking", .string(reasoning))])))])
        }
        for block in delta?["thinking_blocks"]?.arrayValue ?? [] {
            if block["type"]?.stringValue == "redacted_thinking", let object = block.objectValue {
                out += openNewBlock(object, toolIndex: nil)
                out += closeOpenBlock()
            } else if let signature = block["signature"]?.stringValue, !signature.isEmpty {
                if !thinkingOpen {
                    out += openNewBlock(JSONObject([("type", .string("thinking")), ("thinking", .string("")),
                                                    ("signature", .string(""))]), toolIndex: nil)
                    thinkingOpen = true
                }
                out += event("content_block_delta", [("index", .int(openBlock!.index)),
                                                     ("delta", .object(JSONObject([("type", .string("signature_delta")),
                                                                                   ("signature", .string(signature))])))])
            }
        }
        if let text = delta?["content"]?.stringValue ?? refusal, !text.isEmpty {
            if openBlock == nil || openBlock?.toolIndex != nil || thinkingOpen {
                out += openNewBlock(JSONObject([("type", .string("text")), ("text", .string(""))]), toolIndex: nil)
            }
            generatedBytes += text.utf8.count
            out += event("content_block_delta", [("index", .int(openBlock!.index)),
                                                 ("delta", .object(JSONObject([("type", .string("text_delta")),
                                                                               ("text", .string(text))])))])
        }
        for call in delta?["tool_calls"]?.arrayValue ?? [] {
            let toolIndex = call["index"]?.intValue ?? 0
            if blockByToolIndex[toolIndex] == nil {
                let block = JSONObject([
                    ("type", .string("tool_use")), ("id", .string(call["id"]?.stringValue ?? "toolu_sluice_\(toolIndex)")),
                    ("name", call["function"]?["name"] ?? .string("")), ("input", .object(JSONObject())),
                ])
                out += openNewBlock(block, toolIndex: toolIndex)
                blockByToolIndex[toolIndex] = openBlock!.index
            }
            if let piece = call["function"]?["arguments"]?.stringValue, !piece.isEmpty, let index = blockByToolIndex[toolIndex] {
                generatedBytes += piece.utf8.count
                out += event("content_block_delta", [("index", .int(index)),
                                                     ("delta", .object(JSONObject([("type", .string("input_json_delta")),
                                                                                   ("partial_json", .string(piece))])))])
            }
        }
        if let finish = choice["finish_reason"]?.stringValue {
            stopReason = refused && finish == "stop" ? "refusal" : MessagesStopReason.stopReason(finish)
            out += closeOpenBlock()
        }
        return out
    }

    /// `message_start` with empty content; input tokens are not known yet (`message_delta` has them).
    private mutating func start(id: String?) -> String {
        started = true
        let usage = JSONObject([("input_tokens", .int(0)), ("output_tokens", .int(0))])
        let message = JSONObject([
            ("id", .string(MessagesStopReason.messageID(id))), ("type", .string("message")), ("role", .string("assistant")),
            ("model", .string(model)), ("content", .array([])), ("stop_reason", .null), ("stop_sequence", .null),
            ("usage", .object(usage)),
        ])
        return event("message_start", [("message", .object(message))])
    }

    private mutating func openNewBlock(_ block: JSONObject, toolIndex: Int?) -> String {
        let out = closeOpenBlock()
        openBlock = (nextBlock, toolIndex)
        nextBlock += 1
        return out + event("content_block_start", [("index", .int(openBlock!.index)), ("content_block", .object(block))])
    }

    private mutating func closeOpenBlock() -> String {
        guard let block = openBlock else { return "" }
        openBlock = nil
        thinkingOpen = false
        return event("content_block_stop", [("index", .int(block.index))])
    }

    /// `message_delta` (stop reason and usage) and `message_stop`.
    private mutating func finish() -> String {
        finished = true
        var out = closeOpenBlock()
        let delta = JSONObject([("stop_reason", .string(stopReason ?? "end_turn")), ("stop_sequence", .null)])
        let usage = (reported ?? MessagesUsage(nil)).anthropicObject
        out += event("message_delta", [("delta", .object(delta)), ("usage", .object(usage))])
        out += event("message_stop", [])
        return out
    }

    /// `event: <type>` with `{"type": <type>, …members}`.
    private func event(_ type: String, _ members: [(key: String, value: JSONValue)]) -> String {
        ServerSentEvent.named(type, JSONObject([("type", .string(type))] + members).encoded)
    }
}
