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
