import SluiceProviders

/// Splits a streamed upstream answer into whole events with the framer its provider's
/// framing needs: server-sent events, or AWS event-stream messages (Bedrock's
/// ConverseStream, whose CRCs the framer checks). Exactly one of the two is set; each
/// is fed in place, so its pending bytes are never copied.
struct EventFramer {
    private var sse: SSEFramer?
    private var aws: EventStreamFramer?

    init(_ framing: StreamFraming) {
        switch framing {
        case .serverSentEvents: sse = SSEFramer()
        case .awsEventStream: aws = EventStreamFramer()
        }
    }

    mutating func feed(_ bytes: UnsafeRawBufferPointer, onEvent: (ArraySlice<UInt8>) -> Bool) -> Bool {
        if sse != nil { return sse!.feed(bytes, onEvent: onEvent) }
        return aws!.feed(bytes, onEvent: onEvent)
    }
}
