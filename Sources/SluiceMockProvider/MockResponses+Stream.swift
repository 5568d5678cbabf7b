import Foundation

/// The Responses API stream: named server-sent events (`event: <type>`), each `data`
/// object carrying its `type` and a `sequence_number` counting from 0, and no `[DONE]`
/// line (unlike chat completions). In order:
///
/// 1. `response.created`, `response.in_progress`: the response with status
///    `in_progress`, empty `output`, `usage` null;
/// 2. per output item (`output_index` i):
///    - reasoning: `response.output_item.added` (empty `summary`); with a summary,
///      `response.reasoning_summary_part.added`, `response.reasoning_summary_text.delta`
///      per word, `response.reasoning_summary_text.done`, `response.reasoning_summary_part.done`
///      (each with `item_id`, `output_index`, `summary_index`); `response.output_item.done`;
///    - message: `response.output_item.added` (status `in_progress`, empty `content`),
///      `response.content_part.added`, `response.output_text.delta` per word (`item_id`,
///      `output_index`, `content_index`, `delta`, `logprobs`), `response.output_text.done`,
///      `response.content_part.done`, `response.output_item.done`;
///    - function call: `response.output_item.added` (empty `arguments`),
///      `response.function_call_arguments.delta` per word of the arguments,
///      `response.function_call_arguments.done`, `response.output_item.done`;
/// 3. `response.completed` with the whole response and its usage
///    (`response.incomplete` when `max_output_tokens` cut it).
///
/// Deltas are the content events `drop=N` counts. The `stream_error=N` fault ends the
/// stream after N of them (or after the last, if fewer) with
/// `{"type": "error", "code": "server_error", "message", "param": null, "sequence_number"}`
/// and no `response.completed`.
extension MockResponses {
    /// The whole stream, the `stream_error` fault applied.
    func events() -> [MockEvent] {
        var stream = EventSequence()
        let opening = snapshot(status: "in_progress")
        stream.add("response.created", ["response": opening])
        stream.add("response.in_progress", ["response": opening])
        for (index, item) in output.enumerated() {
            switch item["type"] as? String {
            case "reasoning": reasoningEvents(item, index: index, into: &stream)
            case "function_call": functionCallEvents(item, index: index, into: &stream)
            default: messageEvents(item, index: index, into: &stream)
            }
        }
        stream.add(incomplete ? "response.incomplete" : "response.completed", ["response": response])
        guard let streamError = call.faults.streamError else { return stream.events }
        return stream.failing(after: streamError)
    }

    private func reasoningEvents(_ item: [String: Any], index: Int, into stream: inout EventSequence) {
        let id = item["id"] as? String ?? ""
        var opened = item
        opened["summary"] = [Any]()
        stream.add("response.output_item.added", ["output_index": index, "item": opened])
        for (summaryIndex, part) in (item["summary"] as? [[String: Any]] ?? []).enumerated() {
            let text = part["text"] as? String ?? ""
            let place: [String: Any] = ["item_id": id, "output_index": index, "summary_index": summaryIndex]
            stream.add("response.reasoning_summary_part.added",
                       place.merging(["part": ["type": "summary_text", "text": ""]]) { $1 })
            for delta in MockAnswer.deltas(of: MockAnswer.words(of: text)) {
                stream.add("response.reasoning_summary_text.delta", place.merging(["delta": delta]) { $1 },
                           content: true)
            }
            stream.add("response.reasoning_summary_text.done", place.merging(["text": text]) { $1 })
            stream.add("response.reasoning_summary_part.done",
                       place.merging(["part": ["type": "summary_text", "text": text]]) { $1 })
        }
        stream.add("response.output_item.done", ["output_index": index, "item": item])
    }

    private func messageEvents(_ item: [String: Any], index: Int, into stream: inout EventSequence) {
        let id = item["id"] as? String ?? ""
        var opened = item
        opened["status"] = "in_progress"
        opened["content"] = [Any]()
        stream.add("response.output_item.added", ["output_index": index, "item": opened])
        let part = (item["content"] as? [[String: Any]])?.first ?? [:]
        let text = part["text"] as? String ?? ""
        let place: [String: Any] = ["item_id": id, "output_index": index, "content_index": 0]
        var emptyPart = part
        emptyPart["text"] = ""
        stream.add("response.content_part.added", place.merging(["part": emptyPart]) { $1 })
        for delta in MockAnswer.deltas(of: MockAnswer.words(of: text)) {
            stream.add("response.output_text.delta", place.merging(["delta": delta, "logprobs": [Any]()]) { $1 },
                       content: true)
        }
        stream.add("response.output_text.done", place.merging(["text": text, "logprobs": [Any]()]) { $1 })
        stream.add("response.content_part.done", place.merging(["part": part]) { $1 })
        stream.add("response.output_item.done", ["output_index": index, "item": item])
    }

    private func functionCallEvents(_ item: [String: Any], index: Int, into stream: inout EventSequence) {
        let id = item["id"] as? String ?? ""
        let arguments = item["arguments"] as? String ?? ""
        var opened = item
        opened["status"] = "in_progress"
        opened["arguments"] = ""
        stream.add("response.output_item.added", ["output_index": index, "item": opened])
        for delta in MockAnswer.deltas(of: MockAnswer.words(of: arguments)) {
            stream.add("response.function_call_arguments.delta", ["item_id": id, "output_index": index, "delta": delta],
                       content: true)
        }
        stream.add("response.function_call_arguments.done",
                   ["item_id": id, "output_index": index, "arguments": arguments])
        stream.add("response.output_item.done", ["output_index": index, "item": item])
    }
}

/// Named events numbered in the order they are added.
private struct EventSequence {
    private(set) var events: [MockEvent] = []

    mutating func add(_ type: String, _ fields: [String: Any], content: Bool = false) {
        var object = fields
        object["type"] = type
        object["sequence_number"] = events.count
        events.append(.named(type, object, isContent: content))
    }

    /// The events up to the `count`-th content event (or the last one, if fewer), then an
    /// `error` event; with no content event at all, everything but the final event.
    func failing(after count: Int) -> [MockEvent] {
        let contentIndices = events.indices.filter { events[$0].isContent }
        let end = if contentIndices.isEmpty { events.count - 1 }
            else if count == 0 { contentIndices[0] }
            else { contentIndices[min(count, contentIndices.count) - 1] + 1 }
        var failed = EventSequence(events: Array(events.prefix(end)))
        failed.add("error", ["code": "server_error", "param": NSNull(),
                             "message": "The server had an error while processing your request (mock fault)."])
        return failed.events
    }
}
