import SluiceProviders

/// Splits a streamed upstream answer into whole events with the framer its provider's
/// framing needs: server-sent events, or AWS event-stream messages (Bedrock).
struct EventFramer {
    private var sse = SSEFramer()
    private let framing: StreamFraming

    init(_ framing: StreamFraming) {
        self.framing = framing
    }

    mutating func feed(_ bytes: UnsafeRawBufferPointer, onEvent: (ArraySlice<UInt8>) -> Bool) -> Bool {
        switch framing {
        case .serverSentEvents, .awsEventStream:
            return sse.feed(bytes, onEvent: onEvent)
        }
    }
}
