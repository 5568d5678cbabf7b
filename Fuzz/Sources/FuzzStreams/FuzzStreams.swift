import FuzzSupport
import SluiceCore
import SluiceProviders

/// libFuzzer entry point: the input is a streamed answer, read every way the gateway
/// reads one:
///
/// 1. as server-sent events, framed by `SSEFramer` (whole, and byte by byte: both must
///    give the same events) and fed to the chains the pipeline builds (OpenAI or
///    Anthropic provider → Anthropic or Responses surface) and the native passthroughs;
/// 2. as an AWS event stream, framed by `EventStreamFramer` (whole, and in 3-byte pieces)
///    and fed to Bedrock's stream translator; and, since random bytes rarely carry valid
///    CRCs, the input's SSE events re-encoded as event stream messages (`event: <type>`
///    names the `:event-type`; `exception:<type>` and `error:<code>` make exception and
///    error frames), fed to Bedrock's translator chained to the surfaces.
///
/// Every translator's `usage` and `generatedBytes` are read after each event, as the
/// relay does. Error events are answers; a trap is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    sseStream(bytes)
    awsStream(bytes)
    return 0
}

// MARK: - Streams

/// Runs `events` through `translator` as the relay does: `usage` and `generatedBytes`
/// after every event, and nothing after an error.
func relay(_ events: [[UInt8]], through translator: any StreamTranslator) {
    var translator = translator
    for event in events {
        let translated = translator.translate(event: event[...])
        _ = translator.usage
        _ = translator.generatedBytes
        if let error = translated.error {
            _ = error.streamEvent
            return
        }
    }
}

/// The events `SSEFramer` makes of `bytes` fed in pieces of `piece` bytes.
func sseEvents(_ bytes: [UInt8], piece: Int) -> [[UInt8]] {
    var framer = SSEFramer()
    var events: [[UInt8]] = []
    var start = 0
    while start < bytes.count {
        let end = min(bytes.count, start + piece)
        _ = bytes[start..<end].withUnsafeBytes { framer.feed($0) { events.append(Array($0)); return true } }
        start = end
    }
    _ = framer.unfinished
    return events
}

/// An event without its final line terminators, which depend on where a feed ended
/// (a CR-only stream's last LF may be dropped).
func trimmed(_ event: [UInt8]) -> ArraySlice<UInt8> {
    var slice = event[...]
    while let last = slice.last, last == 0x0A || last == 0x0D { slice = slice.dropLast() }
    return slice
}

func sseStream(_ bytes: [UInt8]) {
    let events = sseEvents(bytes, piece: max(1, bytes.count))
    // However the bytes arrive, the framer must make the same events of them.
    if bytes.count <= 4096 {
        let single = sseEvents(bytes, piece: 1)
        precondition(single.map(trimmed).elementsEqual(events.map(trimmed), by: ==),
                     "SSEFramer frames differently byte by byte: \(events.count) vs \(single.count) events")
    }
    for event in events { _ = SSEFramer.data(of: event[...]) }

    // The chains the pipeline builds (a chain runs its first translator in full, and the
    // OpenAI one passes most chunks on unchanged, so the surfaces see them as sent), and
    // the native passthroughs.
    let openAI = OpenAITranslator(dialect: .openai)
    let anthropic = AnthropicTranslator(now: { 0 })
    relay(events, through: ChainedStreamTranslator(openAI.streamTranslator(for: Requests.chat),
                                                   AnthropicSurface.streamTranslator(model: "route")))
    relay(events, through: ChainedStreamTranslator(openAI.streamTranslator(for: Requests.chatNoUsage), responsesSurface()))
    relay(events, through: ChainedStreamTranslator(anthropic.streamTranslator(for: Requests.chat), responsesSurface()))
    relay(events, through: ChainedStreamTranslator(anthropic.streamTranslator(for: Requests.chatStructured),
                                                   AnthropicSurface.streamTranslator(model: "route")))
    relay(events, through: AnthropicPassthrough().streamTranslator(for: Requests.messages))
    relay(events, through: ResponsesPassthroughStream(outcome: ResponsesStreamOutcome()))
}

/// The messages `EventStreamFramer` makes of `bytes` fed in pieces of `piece` bytes, and
/// whether it gave up on a corrupt frame.
func awsEvents(_ bytes: [UInt8], piece: Int) -> (events: [[UInt8]], failed: Bool) {
    var framer = EventStreamFramer()
    var events: [[UInt8]] = []
    var start = 0
    while start < bytes.count {
        let end = min(bytes.count, start + piece)
        let going = bytes[start..<end].withUnsafeBytes { framer.feed($0) { events.append(Array($0)); return true } }
        if !going { break }
        start = end
    }
    _ = framer.unfinished
    return (events, framer.failure != nil)
}

/// The input's SSE events as Bedrock would frame them.
func encodedAsEventStream(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    for event in sseEvents(bytes, piece: max(1, bytes.count)) {
        var name = "contentBlockDelta"
        for line in event.split(whereSeparator: { $0 == 0x0A || $0 == 0x0D }) where line.starts(with: "event:".utf8) {
            var value = line.dropFirst(6)
            if value.first == 0x20 { value = value.dropFirst() }
            name = String(decoding: value, as: UTF8.self)
        }
        let payload = SSEFramer.data(of: event[...]).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        if name.hasPrefix("exception:") {
            out += EventStreamEncoder.exception(String(name.dropFirst(10)), json: payload)
        } else if name.hasPrefix("error:") {
            out += EventStreamEncoder.encode(headers: [(":message-type", .string("error")),
                                                       (":error-code", .string(String(name.dropFirst(6)))),
                                                       (":error-message", .string(payload))], payload: [])
        } else {
            out += EventStreamEncoder.event(name, json: payload)
        }
    }
    return out
}

func awsStream(_ bytes: [UInt8]) {
    let raw = awsEvents(bytes, piece: max(1, bytes.count))
    if bytes.count <= 4096 {
        // The same messages however the bytes arrive; a corrupt frame is handed on with
        // what had arrived of it, so only its start must agree.
        let pieces = awsEvents(bytes, piece: 3)
        let same = pieces.failed == raw.failed && pieces.events.count == raw.events.count
            && pieces.events.dropLast() == raw.events.dropLast()
            && (raw.failed ? raw.events.last!.starts(with: pieces.events.last!) : pieces.events.last == raw.events.last)
        precondition(same, "EventStreamFramer frames differently in pieces")
    }
    for event in raw.events { _ = try? EventStreamMessage.decode(event[...]).stringHeaders }
    let bedrock = BedrockTranslator()
    relay(raw.events, through: bedrock.streamTranslator(for: Requests.chat))

    let frames = encodedAsEventStream(bytes)
    let encoded = awsEvents(frames, piece: max(1, frames.count))
    // (A header value over 64 KiB cannot be encoded; inputs stay far below that.)
    precondition(!encoded.failed || bytes.count > 60_000, "EventStreamEncoder wrote a frame the framer refuses")
    relay(encoded.events, through: ChainedStreamTranslator(bedrock.streamTranslator(for: Requests.chat),
                                                           AnthropicSurface.streamTranslator(model: "route")))
    relay(encoded.events, through: ChainedStreamTranslator(bedrock.streamTranslator(for: Requests.chatStructured),
                                                           responsesSurface()))
}
