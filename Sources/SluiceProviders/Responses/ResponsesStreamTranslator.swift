import SluiceCore

/// OpenAI `chat.completion.chunk` events → the Responses API's stream events
/// (https://platform.openai.com/docs/api-reference/responses-streaming), each
/// `event: <type>` with `data: {"type": …, "sequence_number": n, …}`:
///
/// - first chunk → `response.created`, `response.in_progress` (the response, empty output);
/// - `reasoning_content` → a `reasoning` item: `response.output_item.added`, then with a
///   summary asked for `response.reasoning_summary_part.added`,
///   `response.reasoning_summary_text.delta`… `.done`, `response.reasoning_summary_part.done`;
///   `response.output_item.done` carries the signed blocks in `encrypted_content`;
/// - `content` → a `message` item: `response.output_item.added`,
///   `response.content_part.added`, `response.output_text.delta`…,
///   `response.output_text.done`, `response.content_part.done`, `response.output_item.done`;
/// - each tool call → a `function_call` item: `response.output_item.added`,
///   `response.function_call_arguments.delta`…, `response.function_call_arguments.done`,
///   `response.output_item.done`;
/// - the end (`[DONE]`, after the usage chunk) → `response.completed` (or
///   `response.incomplete` for an answer cut at the cap) with the whole response and usage.
///
/// Chain it after a provider's chat stream translator with `ChainedStreamTranslator`.
struct ResponsesStreamTranslator: StreamTranslator {
    private let context: ResponsesContext
    private let outcome: ResponsesStreamOutcome
    private var started = false
    private var finished = false
    /// Items done so far, in output order.
    private var output: [JSONValue] = []
    private enum Open {
        case reasoning(id: String, text: String, blocks: [JSONValue])
        case message(id: String, text: String)
        case call(id: String, callID: String, name: String, arguments: String, chatIndex: Int)
    }
    private var open: Open?
    private var finish: String?
    private var usageObject: JSONObject?
    /// For the stored conversation: the assistant's text, tool calls and thinking blocks.
    private var text = ""
    private var calls: [JSONValue] = []
    private var thinking: [JSONValue] = []
    private(set) var generatedBytes = 0

    init(context: ResponsesContext, outcome: ResponsesStreamOutcome) {
        self.context = context
        self.outcome = outcome
    }

    mutating func translate(event: ArraySlice<UInt8>) -> TranslatedEvent {
        guard let data = ServerSentEvent(parsing: event).data else { return TranslatedEvent(output: []) }
        var out = ""
        if data.elementsEqual("[DONE]".utf8) {
            if !started { out += start() }
            if !finished { out += end() }
            return TranslatedEvent(output: Array(out.utf8), isTerminal: true)
        }
        guard let chunk = JSONValue.parseObject(data), !finished else { return TranslatedEvent(output: []) }
        if let error = chunk["error"], !error.isNull {
            let message = error["message"]?.stringValue ?? "The provider reported an error mid-stream."
            return TranslatedEvent(error: GatewayError(.upstreamError, message))
        }
        if !started { out += start() }
        if let choice = chunk["choices"]?.arrayValue?.first?.objectValue {
            out += translate(choice: choice)
        }
        if let usage = chunk["usage"]?.objectValue { usageObject = usage }
        return TranslatedEvent(output: Array(out.utf8))
    }

    private mutating func translate(choice: JSONObject) -> String {
        var out = ""
        let delta = choice["delta"]
        if let reasoning = delta?["reasoning_content"]?.stringValue, !reasoning.isEmpty {
            if case .reasoning(let id, let soFar, let blocks)? = open {
                out += summaryDelta(id: id, delta: reasoning)
                open = .reasoning(id: id, text: soFar + reasoning, blocks: blocks)
            } else {
                out += close()
                let id = ResponsesItems.newID("rs")
                out += emit("response.output_item.added", [("output_index", .int(output.count)),
                                                           ("item", .object(JSONObject([("id", .string(id)), ("type", .string("reasoning")),
                                                                                        ("summary", .array([]))])))])
                if context.wantsSummary {
                    out += emit("response.reasoning_summary_part.added", [
                        ("item_id", .string(id)), ("output_index", .int(output.count)), ("summary_index", .int(0)),
                        ("part", .object(JSONObject([("type", .string("summary_text")), ("text", .string(""))])))])
                }
                out += summaryDelta(id: id, delta: reasoning)
                open = .reasoning(id: id, text: reasoning, blocks: [])
            }
            generatedBytes += reasoning.utf8.count
        }
        for block in delta?["thinking_blocks"]?.arrayValue ?? [] {
            // A signature closes the thinking it signs; a redacted block stands alone.
            guard case .reasoning(let id, let soFar, var blocks)? = open else {
                if block["type"]?.stringValue == "redacted_thinking" {
                    thinking.append(block)
                    out += close()
                    let id = ResponsesItems.newID("rs")
                    out += emit("response.output_item.added", [("output_index", .int(output.count)),
                                                               ("item", .object(JSONObject([("id", .string(id)), ("type", .string("reasoning")),
                                                                                            ("summary", .array([]))])))])
                    open = .reasoning(id: id, text: "", blocks: [block])
                }
                continue
            }
            if block["type"]?.stringValue == "thinking", let signature = block["signature"] {
                let signed = JSONValue.object(JSONObject([("type", .string("thinking")), ("thinking", .string(soFar)),
                                                          ("signature", signature)]))
                blocks.append(signed)
                thinking.append(signed)
            } else {
                blocks.append(block)
                thinking.append(block)
            }
            open = .reasoning(id: id, text: soFar, blocks: blocks)
        }
        if let piece = delta?["content"]?.stringValue ?? delta?["refusal"]?.stringValue, !piece.isEmpty {
            if case .message(let id, let soFar)? = open {
                out += textDelta(id: id, piece)
                open = .message(id: id, text: soFar + piece)
            } else {
                out += close()
                let id = ResponsesItems.newID("msg")
                out += emit("response.output_item.added", [("output_index", .int(output.count)),
                                                           ("item", ResponsesItems.message(id: id, parts: [], done: false))])
                out += emit("response.content_part.added", [("item_id", .string(id)), ("output_index", .int(output.count)),
                                                            ("content_index", .int(0)), ("part", ResponsesItems.outputText(""))])
                out += textDelta(id: id, piece)
                open = .message(id: id, text: piece)
            }
            text += piece
            generatedBytes += piece.utf8.count
        }
        for call in delta?["tool_calls"]?.arrayValue ?? [] {
            let index = call["index"]?.intValue ?? 0
            let piece = call["function"]?["arguments"]?.stringValue ?? ""
            if case .call(let id, let callID, let name, let arguments, let chatIndex)? = open, chatIndex == index {
                if !piece.isEmpty {
                    out += emit("response.function_call_arguments.delta", [("item_id", .string(id)),
                                                                           ("output_index", .int(output.count)),
                                                                           ("delta", .string(piece))])
                }
                open = .call(id: id, callID: callID, name: name, arguments: arguments + piece, chatIndex: index)
            } else {
                out += close()
                let id = ResponsesItems.newID("fc")
                let callID = call["id"]?.stringValue ?? "call_\(index)"
                let name = call["function"]?["name"]?.stringValue ?? ""
                out += emit("response.output_item.added", [
                    ("output_index", .int(output.count)),
                    ("item", ResponsesItems.functionCall(id: id, callID: callID, name: name, arguments: "", done: false))])
                if !piece.isEmpty {
                    out += emit("response.function_call_arguments.delta", [("item_id", .string(id)),
                                                                           ("output_index", .int(output.count)),
                                                                           ("delta", .string(piece))])
                }
                open = .call(id: id, callID: callID, name: name, arguments: piece, chatIndex: index)
            }
            generatedBytes += piece.utf8.count
        }
        if let reason = choice["finish_reason"]?.stringValue {
            finish = reason
            out += close()
        }
        return out
    }

    private mutating func summaryDelta(id: String, delta: String) -> String {
        guard context.wantsSummary else { return "" }
        return emit("response.reasoning_summary_text.delta", [("item_id", .string(id)), ("output_index", .int(output.count)),
                                                              ("summary_index", .int(0)), ("delta", .string(delta))])
    }

    private mutating func textDelta(id: String, _ piece: String) -> String {
        emit("response.output_text.delta", [("item_id", .string(id)), ("output_index", .int(output.count)),
                                            ("content_index", .int(0)), ("delta", .string(piece)), ("logprobs", .array([]))])
    }

    /// Ends the open item with its `.done` events.
    private mutating func close() -> String {
        guard let item = open else { return "" }
        open = nil
        var out = ""
        let index = output.count
        switch item {
        case .reasoning(let id, let text, let blocks):
            if context.wantsSummary {
                out += emit("response.reasoning_summary_text.done", [("item_id", .string(id)), ("output_index", .int(index)),
                                                                     ("summary_index", .int(0)), ("text", .string(text))])
                out += emit("response.reasoning_summary_part.done", [
                    ("item_id", .string(id)), ("output_index", .int(index)), ("summary_index", .int(0)),
                    ("part", .object(JSONObject([("type", .string("summary_text")), ("text", .string(text))])))])
            }
            let done = ResponsesItems.reasoning(text: text, blocks: blocks, context: context, id: id)
                ?? .object(JSONObject([("id", .string(id)), ("type", .string("reasoning")), ("summary", .array([]))]))
            out += emit("response.output_item.done", [("output_index", .int(index)), ("item", done)])
            output.append(done)
        case .message(let id, let text):
            out += emit("response.output_text.done", [("item_id", .string(id)), ("output_index", .int(index)),
                                                      ("content_index", .int(0)), ("text", .string(text)), ("logprobs", .array([]))])
            out += emit("response.content_part.done", [("item_id", .string(id)), ("output_index", .int(index)),
                                                       ("content_index", .int(0)), ("part", ResponsesItems.outputText(text))])
            let done = ResponsesItems.message(id: id, parts: [ResponsesItems.outputText(text)], done: true)
            out += emit("response.output_item.done", [("output_index", .int(index)), ("item", done)])
            output.append(done)
        case .call(let id, let callID, let name, let arguments, _):
            out += emit("response.function_call_arguments.done", [("item_id", .string(id)), ("output_index", .int(index)),
                                                                  ("name", .string(name)), ("arguments", .string(arguments))])
            let done = ResponsesItems.functionCall(id: id, callID: callID, name: name, arguments: arguments, done: true)
            out += emit("response.output_item.done", [("output_index", .int(index)), ("item", done)])
            output.append(done)
            calls.append(.object(JSONObject([
                ("id", .string(callID)), ("type", .string("function")),
                ("function", .object(JSONObject([("name", .string(name)), ("arguments", .string(arguments))]))),
            ])))
        }
        return out
    }

    private mutating func start() -> String {
        started = true
        let response = context.object(status: "in_progress", output: [], usage: nil, finish: nil)
        return emit("response.created", [("response", .object(response))])
            + emit("response.in_progress", [("response", .object(response))])
    }

    /// `response.completed` (or `response.incomplete`) with every item and the usage.
    private mutating func end() -> String {
        var out = close()
        finished = true
        let status = ResponsesItems.status(finish)
        let response = context.object(status: status, output: output, usage: usageObject, finish: finish)
        out += emit(status == "completed" ? "response.completed" : "response.incomplete", [("response", .object(response))])
        outcome.response = response.bytes
        var assistant = JSONObject([("role", .string("assistant")), ("content", text.isEmpty ? .null : .string(text))])
        if !calls.isEmpty { assistant["tool_calls"] = .array(calls) }
        if !thinking.isEmpty { assistant["thinking_blocks"] = .array(thinking) }
        outcome.assistant = assistant.bytes
        return out
    }

    /// `event: <type>` with `{"type": <type>, …, "sequence_number": n}`.
    private func emit(_ type: String, _ members: [(key: String, value: JSONValue)]) -> String {
        let payload = JSONObject([("type", .string(type))] + members + [("sequence_number", .int(outcome.sequence))])
        outcome.sequence += 1
        return ServerSentEvent.named(type, payload.encoded)
    }
}
