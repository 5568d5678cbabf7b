import SluiceCore

/// The pure functions every provider offers: build the upstream request, turn the
/// provider's error into the client's, and translate a streamed answer event by event.
/// No I/O happens here; the gateway sends what these return.
public protocol ProviderTranslator: Sendable {
    /// The HTTP call that asks `endpoint` to serve `request`.
    func upstreamRequest(for request: APIRequest, endpoint: EndpointConfig, provider: ProviderConfig,
                         limits: TransferLimits) throws(GatewayError) -> UpstreamRequest

    /// The client-facing error for a non-2xx upstream answer.
    func clientError(status: Int, headers: [(name: String, value: String)], body: [UInt8],
                     provider: ProviderConfig) -> GatewayError

    /// A fresh translator for one streamed answer.
    func streamTranslator(for request: APIRequest) -> StreamTranslator

    /// The OpenAI-shaped client body for a successful (2xx) non-streamed answer, or `nil`
    /// to pass the upstream's bytes through unchanged (OpenAI-compatible providers).
    func clientBody(for request: APIRequest, status: Int, body: [UInt8]) throws(GatewayError) -> [UInt8]?

    /// How the provider frames a streamed answer: the relay splits the bytes into events
    /// with the matching framer and hands each whole event to the stream translator.
    var streamFraming: StreamFraming { get }

    /// The usage a successful non-streamed answer reports (`clientBody`'s result, or the
    /// upstream bytes when it returned `nil`); `nil` when it reports none.
    func usage(for request: APIRequest, in clientBody: [UInt8]) -> TokenUsage?

    /// Whether answers are already in the API the client called (a native call, e.g.
    /// `/v1/messages` to Anthropic), so the gateway must not re-shape them; otherwise they
    /// are in OpenAI's chat-completions shape.
    var answersInClientAPI: Bool { get }
}

extension ProviderTranslator {
    public func clientBody(for request: APIRequest, status: Int, body: [UInt8]) throws(GatewayError) -> [UInt8]? { nil }
    public var streamFraming: StreamFraming { .serverSentEvents }
    public func usage(for request: APIRequest, in clientBody: [UInt8]) -> TokenUsage? { TokenUsage.openAI(in: clientBody) }
    public var answersInClientAPI: Bool { false }
}

/// How a provider frames a streamed answer.
public enum StreamFraming: Sendable {
    /// `text/event-stream`: events end at a blank line (`SSEFramer`).
    case serverSentEvents
    /// `application/vnd.amazon.eventstream`: length-prefixed binary messages with CRC32s
    /// (Bedrock's ConverseStream).
    case awsEventStream
}

/// Translates one streamed answer: complete upstream events in, client events out.
public protocol StreamTranslator {
    /// Client bytes for one complete upstream event (may be empty to drop it).
    mutating func translate(event: ArraySlice<UInt8>) -> TranslatedEvent
    /// The usage the provider reported in the stream so far, whether or not the client
    /// asked for it (the gateway always knows the true totals).
    var usage: TokenUsage? { get }
    /// Bytes of generated text relayed so far, to estimate the usage of a cut stream.
    var generatedBytes: Int { get }
}

extension StreamTranslator {
    public var usage: TokenUsage? { nil }
    public var generatedBytes: Int { 0 }
}

/// What one upstream event became.
public struct TranslatedEvent {
    /// Bytes to send to the client now; `nil` means pass the upstream event unchanged.
    public var output: [UInt8]?
    /// The event was the stream's terminal marker (`data: [DONE]`).
    public var isTerminal: Bool
    /// The event carried an error: the stream ends after it.
    public var error: GatewayError?

    public init(output: [UInt8]? = nil, isTerminal: Bool = false, error: GatewayError? = nil) {
        self.output = output
        self.isTerminal = isTerminal
        self.error = error
    }
}
