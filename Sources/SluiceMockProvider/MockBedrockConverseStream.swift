import Foundation
import SluiceProviders

/// A ConverseStream answer as `application/vnd.amazon.eventstream` messages, each with the
/// headers `:event-type`, `:content-type: application/json` and `:message-type: event`, in
/// Bedrock's order:
///
/// 1. `messageStart` `{"role": "assistant"}`;
/// 2. with reasoning on, block 0: one `contentBlockDelta`
///    `{"delta": {"reasoningContent": {"text": "word "}}}` per word, then one
///    `{"delta": {"reasoningContent": {"signature": "…"}}}`, then `contentBlockStop`
///    (no `contentBlockStart`); the blocks below then count from 1;
/// 3. text: one `contentBlockDelta` `{"contentBlockIndex": 0, "delta": {"text": "word "}}`
///    per word (no `contentBlockStart`, as Bedrock sends none for text), then
///    `contentBlockStop`; tool use, per call `i`: `contentBlockStart`
///    `{"contentBlockIndex": i, "start": {"toolUse": {"toolUseId", "name"}}}`, two
///    `contentBlockDelta` `{"delta": {"toolUse": {"input": "<partial JSON>"}}}`, `contentBlockStop`;
/// 4. `messageStop` `{"stopReason": …}`;
/// 5. `metadata` `{"usage": {…}, "metrics": {"latencyMs": …}}`, the usage as in ``MockBedrockConverse``.
///
/// Like Bedrock, every payload carries a padding member `p` (letters, of varying length)
/// that clients must ignore. The deltas are the content events `drop` counts. Faults (see
/// ``MockBedrockFaults``): `stream_error` / `stream_exception` end the stream after that
/// many content events with an exception message (`:message-type: exception`,
/// `:exception-type`, payload `{"message": …}`), or after the last content event when there
/// are fewer; `bad_crc=N` spoils the Nth message's CRC.
enum MockBedrockConverseStream {
    private static let padding = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

    static func events(_ answer: MockBedrockConverse, call: MockCall) -> [MockEvent] {
        var events: [(type: String, payload: [String: Any], isContent: Bool)] = [("messageStart", ["role": "assistant"], false)]
        var first = 0
        if let reasoning = answer.reasoning {
            events += MockThinking.pieces(of: reasoning).map {
                ("contentBlockDelta", ["contentBlockIndex": 0, "delta": ["reasoningContent": ["text": $0]]], true)
            }
            events.append(("contentBlockDelta", ["contentBlockIndex": 0,
                                                 "delta": ["reasoningContent": ["signature": MockThinking.signature(for: reasoning)]]],
                           true))
            events.append(("contentBlockStop", ["contentBlockIndex": 0], false))
            first = 1
        }
        switch answer.content {
        case .text(let words):
            let deltas = words.isEmpty ? [""] : MockAnswer.deltas(of: words)
            events += deltas.map { ("contentBlockDelta", ["contentBlockIndex": first, "delta": ["text": $0]], true) }
            events.append(("contentBlockStop", ["contentBlockIndex": first], false))
        case .tools(let calls):
            for (position, call) in calls.enumerated() {
                let index = first + position
                events.append(("contentBlockStart", ["contentBlockIndex": index,
                                                     "start": ["toolUse": ["toolUseId": call.id, "name": call.name]]], false))
                events += MockAnswer.deltas(of: MockAnswer.words(of: call.inputJSON)).map {
                    ("contentBlockDelta", ["contentBlockIndex": index, "delta": ["toolUse": ["input": $0]]], true)
                }
                events.append(("contentBlockStop", ["contentBlockIndex": index], false))
            }
        }
        events.append(("messageStop", ["stopReason": answer.stopReason], false))
        events.append(("metadata", ["usage": answer.usage, "metrics": ["latencyMs": answer.latencyMs]], false))

        var frames: [MockEvent] = []
        var contentSent = 0
        let failure = call.faults.bedrock.streamFailure
        let failAfter = failure.map { min($0.afterContentEvents, events.filter(\.isContent).count) }
        for (index, event) in events.enumerated() {
            if let failure, let failAfter, contentSent >= failAfter, index > 0 {
                frames.append(MockEvent(payload: Data(exception(failure.type)), isContent: false))
                break
            }
            var payload = event.payload
            payload["p"] = String(padding.prefix((call.serial * 7 + index * 13) % padding.count + 1))
            let json = String(decoding: MockJSON.encode(payload), as: UTF8.self)
            frames.append(MockEvent(payload: Data(EventStreamEncoder.event(event.type, json: json)), isContent: event.isContent))
            if event.isContent { contentSent += 1 }
        }
        if let bad = call.faults.bedrock.badCRC, bad <= frames.count {
            frames[bad - 1].payload[frames[bad - 1].payload.count - 1] ^= 0xFF
        }
        return frames
    }

    /// An exception message of `type`, a member of `ConverseStreamOutput`.
    private static func exception(_ type: String) -> [UInt8] {
        var payload: [String: Any] = switch type {
        case "throttlingException": ["message": "Too many requests, please wait before trying again."]
        case "validationException": ["message": "The model could not process the request."]
        case "serviceUnavailableException": ["message": "Bedrock is unable to process your request."]
        case "internalServerException":
            ["message": "The system encountered an unexpected error during processing. Try your request again."]
        default:
            ["message": "An error occurred while streaming the response. Retry your request.",
             "originalStatusCode": 500, "originalMessage": "The model stopped streaming (mock fault)."]
        }
        payload["message"] = (payload["message"] as? String ?? "") + " (mock fault)"
        return EventStreamEncoder.exception(type, json: String(decoding: MockJSON.encode(payload), as: UTF8.self))
    }
}
