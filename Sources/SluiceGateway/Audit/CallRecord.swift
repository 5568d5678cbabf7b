import SluiceCore
import SluiceProviders

/// The API a client called: OpenAI's (`/v1/chat/completions` …) or Anthropic's Messages
/// API (`/v1/messages`), served from the same routes.
enum ClientSurface {
    case openAI, anthropic, responses
}

/// What the pipeline learns about one call while serving it, turned into its
/// `AuditRecord` once the response is out.
final class CallRecord {
    let requestId: String
    let path: String
    let clientAddress: String?
    let started: ContinuousClock.Instant
    let startedMs: Int64
    var caller: Caller?
    var route: String?
    var tags: [String: String] = [:]
    var endpoint: EndpointConfig?
    var attempts: [AuditRecord.Attempt] = []
    var upstream: Duration = .zero
    var usage: TokenUsage?
    var usageSource: AuditRecord.UsageSource = .none
    var stream = false
    var streamCompleted: Bool?
    /// Set by the writer: the status the client got, when its first byte left, the error class.
    var status = 0
    var firstByteAt: ContinuousClock.Instant?
    var errorClass: String?
    /// Set when this call's payloads are captured: the redactor and the raw bodies.
    var redactor: PayloadRedactor?
    var requestBody: [UInt8] = []
    var responseBody: [UInt8] = []
    var credential: String?
    /// The API the client speaks: errors and answers are shaped for it.
    var surface: ClientSurface = .openAI
    /// The call's cost at its endpoint's price, in nano-dollars.
    var costNanos: Int64?
    /// A Responses API stream's state (its next `sequence_number`, for an error event).
    var responsesOutcome: ResponsesStreamOutcome?
    /// Headers every response to this call carries (`x-ratelimit-*`, ignored tags).
    var responseHeaders: [(name: String, value: String)] = []
    /// Trace context (the client's `traceparent`, or a new trace when tracing is on), the
    /// wall-clock start for spans, each attempt's span, and what the answer says of itself.
    var trace: CallTrace?
    var startedUnixNanos: UInt64 = 0
    var attemptSpans: [(spanId: [UInt8], start: ContinuousClock.Instant, end: ContinuousClock.Instant)] = []
    var answer = AnswerFacts()
    /// The response cache's part in this call (routes with `cache:` only).
    var cache: CallCache?
    /// The route's guardrails for this call (routes with `guardrails:` only).
    var guardrails: CallGuardrails?

    /// The pipeline's clock, which says when the call started and when its first byte left.
    private let clock: any GatewayClock

    /// A call starting now on `clock`.
    init(requestId: String, path: String, clientAddress: String?, clock: any GatewayClock) {
        self.requestId = requestId
        self.path = path
        self.clientAddress = clientAddress
        self.clock = clock
        self.started = clock.now
        self.startedMs = clock.unixMs
    }

    /// Records what the client was sent (the first call wins: it is the response head).
    func sent(status: Int, error: GatewayError? = nil) {
        if firstByteAt == nil {
            firstByteAt = clock.now
            self.status = status
        }
        if let error, errorClass == nil {
            errorClass = error.upstreamStatus.map(String.init) ?? error.code.rawValue
        }
    }

    /// Keeps up to a few times the capture cap of what the client was sent.
    func captureResponse(_ bytes: UnsafeRawBufferPointer) {
        guard let redactor, responseBody.count < redactor.config.maxBytes * 4 + 1024 else { return }
        responseBody.append(contentsOf: bytes.prefix(redactor.config.maxBytes * 4 + 1024 - responseBody.count))
    }

    func record(now: ContinuousClock.Instant, secrets: [String]) -> AuditRecord {
        var principal: String?
        var keyId: String?
        switch caller {
        case .key(let record): keyId = record.id
        case .principal(let name, _): principal = name
        case nil: break
        }
        var record = AuditRecord(requestId: requestId, timeMs: startedMs, principal: principal, keyId: keyId,
                           clientAddress: clientAddress, path: path, route: route, endpoint: endpoint?.name,
                           provider: endpoint?.provider, providerModel: endpoint?.model, tags: tags, status: status,
                           errorClass: errorClass, attempts: attempts,
                           latencyMs: Int((now - started).wholeMilliseconds),
                           ttfbMs: firstByteAt.map { Int(($0 - started).wholeMilliseconds) },
                           upstreamMs: Int(upstream.wholeMilliseconds), promptTokens: usage?.prompt,
                           completionTokens: usage?.completion, usageSource: usageSource,
                           cost: costNanos.map { Double($0) / 1e9 }, stream: stream,
                           streamCompleted: streamCompleted)
        record.cache = cache?.result.rawValue
        record.guardrails = guardrails?.auditJSON
        if let usage {
            record.cacheReadTokens = usage.cached
            record.cacheWriteTokens = usage.cacheWrite
            record.cacheWrite1hTokens = usage.cacheWrite1h
            record.reasoningTokens = usage.reasoning
        }
        if let redactor {
            let known = secrets + (credential.map { [$0] } ?? [])
            // What a guardrail matched (masked, blocked or logged) is not kept either.
            let engine = guardrails?.engine
            record.requestBody = redactor.redact(engine?.redact(requestBody) ?? requestBody, secrets: known)
            if guardrails?.streamHadFindings == true {
                // What a guardrail found may be split across the captured events.
                record.responseBody = "[not kept: a guardrail found text in this stream]"
            } else {
                record.responseBody = redactor.redact(engine?.redact(responseBody) ?? responseBody, secrets: known)
            }
        }
        return record
    }
}
