import SluiceCore
import SluiceFastCGI
import SluiceProviders

/// Receives one upstream answer. A successful stream is relayed to the client event by
/// event as it arrives (each flushed at once); anything else is kept whole so the
/// pipeline can still choose another endpoint or translate the error.
final class UpstreamRelay: UpstreamResponseHandler {
    /// Largest non-streamed answer kept in memory (large embedding batches fit).
    static let bufferLimit = 256 << 20

    private let writer: ClientWriter
    private let context: WorkerContext
    private let wantsStream: Bool
    private var translator: StreamTranslator
    private let extraHeaders: [(name: String, value: String)]
    private var framer: EventFramer
    private let framing: StreamFraming
    private let clock: any GatewayClock
    private var lastPeerCheck: ContinuousClock.Instant

    private(set) var status = 0
    /// When a stream's first event arrived (to be relayed): its time to first event.
    private(set) var firstEventAt: ContinuousClock.Instant?
    private(set) var headers: [(name: String, value: String)] = []
    private(set) var body: [UInt8] = []
    /// The upstream answers with an event stream the client asked for.
    private(set) var isStream = false
    /// The client has received the response head and the first event: no other endpoint
    /// may be tried.
    private(set) var streamStarted = false
    /// The upstream sent its terminal marker.
    private(set) var sawTerminal = false
    /// The stream was ended with an error event already.
    private(set) var endedWithError = false
    /// Why the relay stopped the transfer itself, if it did.
    enum StopReason {
        /// The client went away.
        case clientGone
        /// A non-streamed body grew past `bufferLimit`.
        case overflowed
        /// The worker gave up on in-flight calls (drain timeout).
        case abandoned
        /// The stream failed before its first event reached the client: malformed, or an
        /// error event first (`startFailure` says which).
        case failedBeforeStart
        /// A guardrail blocked the answer; the client has the error event.
        case blockedByGuardrail
    }

    /// Why a stream failed before its first event: the error for the client and the
    /// attempt's error class.
    private(set) var startFailure: (error: GatewayError, errorClass: String)?

    private(set) var stopReason: StopReason?

    init(writer: ClientWriter, context: WorkerContext, clock: any GatewayClock, wantsStream: Bool,
         translator: StreamTranslator, framing: StreamFraming = .serverSentEvents,
         extraHeaders: [(name: String, value: String)]) {
        self.framing = framing
        self.clock = clock
        self.lastPeerCheck = clock.now
        self.framer = EventFramer(framing)
        self.writer = writer
        self.context = context
        self.wantsStream = wantsStream
        self.translator = translator
        self.extraHeaders = extraHeaders
    }

    /// Usage the provider reported in the stream, and the text relayed so far.
    var streamUsage: TokenUsage? { translator.usage }
    var generatedBytes: Int { translator.generatedBytes }

    var contentType: String { headers.first { $0.name == "content-type" }?.value ?? "application/json" }

    func didReceiveHead(status: Int, headers: [(name: String, value: String)]) -> Bool {
        self.status = status
        self.headers = headers
        let streamType = framing == .awsEventStream ? "application/vnd.amazon.eventstream" : "text/event-stream"
        isStream = wantsStream && (200..<300).contains(status) && contentType.hasPrefix(streamType)
        return true
    }

    func didReceive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard isStream else {
            guard body.count + bytes.count <= Self.bufferLimit else {
                stopReason = .overflowed
                return false
            }
            body.append(contentsOf: bytes)
            return true
        }
        let request = writer.request
        var clientGone = false
        let keepGoing = framer.feed(bytes) { event in
            if !streamStarted && framing == .serverSentEvents {
                // Before the first event nothing has reached the client: a keep-alive comment
                // is not worth starting the response for, and a stream that is not what it
                // claims can still go to another endpoint.
                guard let data = SSEFramer.data(of: event) else { return true }
                if !data.elementsEqual("[DONE]".utf8), (try? JSONScanner.validateObject(Array(data))) == nil {
                    stopReason = .failedBeforeStart
                    startFailure = (GatewayError(.upstreamError,
                                                 "The provider's event stream is malformed: its first event is not a JSON object."),
                                    "malformed")
                    return false
                }
            }
            let translated = translator.translate(event: event)
            if !streamStarted {
                if let error = translated.error {
                    // An error as the first event: the answer has not begun, so it is a failed
                    // attempt like an error status, not a cut stream.
                    stopReason = .failedBeforeStart
                    startFailure = (error, "stream_error")
                    return false
                }
                // The client's response starts with the first event, not with the upstream's
                // headers: until then a failed upstream can still be replaced by another endpoint.
                streamStarted = true
                firstEventAt = clock.now
                // The client always gets server-sent events, whatever the provider's framing.
                let clientType = framing == .serverSentEvents && writer.call.surface == .openAI
                    ? contentType : "text/event-stream; charset=utf-8"
                guard writer.startStream(contentType: clientType, extraHeaders: extraHeaders, flush: false) else {
                    clientGone = true
                    return false
                }
            }
            if let error = translated.error {
                endStream(with: error)
                return false
            }
            let call = writer.call
            if context.traceExporter != nil { event.withUnsafeBytes { call.answer.scan($0) } }
            // What the client gets: the translated event, or the provider's as it came;
            // guardrails check it first (and may hold it back a little), and a block ends
            // the stream here.
            if let guardrails = call.guardrails {
                switch guardrails.checkEvent(translated.output ?? Array(event), final: translated.isTerminal) {
                case .block(let error):
                    blocked(error)
                    return false
                case .release(let events):
                    for released in events { released.withUnsafeBytes(deliver) }
                }
            } else if let output = translated.output {
                output.withUnsafeBytes(deliver)
            } else {
                event.withUnsafeBytes(deliver)
            }
            if translated.isTerminal { sawTerminal = true }
            return true
        }
        if clientGone || (streamStarted && !request.flush()) {
            stopReason = .clientGone
            return false
        }
        return keepGoing
    }

    func shouldContinue() -> Bool {
        if context.abandonInFlight.load(ordering: .relaxed) {
            stopReason = .abandoned
            return false
        }
        let now = clock.now
        guard now - lastPeerCheck >= .milliseconds(200) else { return true }
        lastPeerCheck = now
        if writer.request.peerClosed() {
            stopReason = .clientGone
            return false
        }
        return true
    }

    /// Sends one event to the client (and to payload capture and the response cache).
    private func deliver(_ bytes: UnsafeRawBufferPointer) {
        _ = writer.request.write(bytes)
        let call = writer.call
        if call.redactor != nil { call.captureResponse(bytes) }
        call.cache?.capture(bytes)
    }

    /// A guardrail blocked the answer: the error event ends the stream.
    private func blocked(_ error: GatewayError) {
        writer.request.write(writer.streamErrorEvent(error))
        writer.call.sent(status: 200, error: error)
        endedWithError = true
        stopReason = .blockedByGuardrail
    }

    /// Ends a started stream that failed or was cut: what guardrails held back, then an
    /// explicit error event, never the terminal marker, so no client mistakes it for a
    /// complete answer.
    func endStream(with error: GatewayError) {
        guard streamStarted, !endedWithError, stopReason != .clientGone else { return }
        if let guardrails = writer.call.guardrails {
            switch guardrails.releaseHeld() {
            case .block(let blockedBy):
                blocked(blockedBy)
                _ = writer.request.flush()
                return
            case .release(let events):
                for released in events { released.withUnsafeBytes(deliver) }
            }
        }
        let request = writer.request
        request.write(writer.streamErrorEvent(error))
        endedWithError = true
        _ = request.flush()
    }
}
