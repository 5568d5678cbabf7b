/// One upstream's shared state as a request sees it, read from Redis by `HealthScripts.snapshot`.
public struct EndpointHealth: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// Serving traffic.
        case healthy
        /// In cooldown until this time (ms since the epoch, Redis clock): no traffic.
        case cooling(until: Int64)
        /// The cooldown ended and this request holds the pool's one probe lease: it may call it.
        case probeGranted
        /// The cooldown ended and another responder is probing it: no traffic until that ends.
        case probing
    }

    public var state: State
    /// Last successful call (ms since the epoch), if any.
    public var lastSuccess: Int64?
    /// Latency of the last successful call.
    public var lastLatencyMs: Int?
    /// Moving average of successful calls' latency (each weighs 1/5), for `balance: latency`.
    public var averageLatencyMs: Int?
    /// Calls in flight to it, pool-wide (`balance: least_busy` routes only).
    public var inFlight: Int?

    public init(state: State, lastSuccess: Int64? = nil, lastLatencyMs: Int? = nil, averageLatencyMs: Int? = nil,
                inFlight: Int? = nil) {
        self.state = state
        self.lastSuccess = lastSuccess
        self.lastLatencyMs = lastLatencyMs
        self.averageLatencyMs = averageLatencyMs
        self.inFlight = inFlight
    }

    /// Whether a request may call the endpoint now.
    public var isUsable: Bool {
        switch state {
        case .healthy, .probeGranted: return true
        case .cooling, .probing: return false
        }
    }
}

/// The health of a route's upstreams at one instant.
public struct HealthSnapshot: Sendable {
    /// Redis's clock when the snapshot was taken (ms since the epoch).
    public var now: Int64
    /// By `EndpointConfig.upstreamKey`; an upstream missing here is healthy.
    public var byUpstream: [String: EndpointHealth]

    public init(now: Int64, byUpstream: [String: EndpointHealth]) {
        self.now = now
        self.byUpstream = byUpstream
    }

    public func health(of endpoint: EndpointConfig) -> EndpointHealth {
        byUpstream[endpoint.upstreamKey] ?? EndpointHealth(state: .healthy)
    }

    /// When the endpoint can take traffic again: now for usable or probing ones.
    public func availableAt(_ endpoint: EndpointConfig) -> Int64 {
        if case .cooling(let until) = health(of: endpoint).state { return until }
        return now
    }

    /// Without a success for longer than its `coldAfter`: a scale-to-zero endpoint that
    /// would answer the next call slowly.
    public func isCold(_ endpoint: EndpointConfig) -> Bool {
        guard let coldAfter = endpoint.coldAfter else { return false }
        guard let last = health(of: endpoint).lastSuccess else { return true }
        return Duration.milliseconds(now - last) > coldAfter
    }

    /// Parses the reply of `HealthScripts.snapshot`: the time, then six integers per key
    /// (state, cooldown end, last success, last latency, average latency, in flight; 0 / -1
    /// for unknown).
    public static func parse(_ values: [Int], upstreams: [String]) -> HealthSnapshot? {
        guard values.count == 1 + 6 * upstreams.count else { return nil }
        var byUpstream: [String: EndpointHealth] = [:]
        for (index, upstream) in upstreams.enumerated() {
            let base = 1 + index * 6
            let state: EndpointHealth.State
            switch values[base] {
            case 1: state = .cooling(until: Int64(values[base + 1]))
            case 2: state = .probeGranted
            case 3: state = .probing
            default: state = .healthy
            }
            byUpstream[upstream] = EndpointHealth(state: state,
                                                  lastSuccess: values[base + 2] > 0 ? Int64(values[base + 2]) : nil,
                                                  lastLatencyMs: values[base + 3] >= 0 ? values[base + 3] : nil,
                                                  averageLatencyMs: values[base + 4] >= 0 ? values[base + 4] : nil,
                                                  inFlight: values[base + 5] >= 0 ? values[base + 5] : nil)
        }
        return HealthSnapshot(now: Int64(values[0]), byUpstream: byUpstream)
    }
}

/// How one attempt went, for shared endpoint health.
public enum AttemptOutcome: String, Sendable {
    /// The endpoint answered well.
    case ok
    /// A failure that says something about the endpoint (connect, timeout, 408, 429, 5xx, cut stream).
    case fail
    /// The endpoint answered, but the outcome says nothing about its health (a 400, the client left).
    case neutral
}

/// One upstream call of a request, as the attempt chain records it.
public struct AttemptRecord: Sendable, Equatable {
    public var endpoint: String
    public var upstream: String
    public var outcome: AttemptOutcome
    /// Upstream status, or 0 when none arrived.
    public var status: Int
    /// `ok`, a status (`429`), or `connect` / `timeout` / `dropped` / `cancelled`.
    public var errorClass: String
    public var latencyMs: Int
    /// The provider's `Retry-After`, in ms.
    public var retryAfterMs: Int
    /// The call was the pool's half-open probe of a cooled-down endpoint.
    public var wasProbe: Bool

    public init(endpoint: String, upstream: String, outcome: AttemptOutcome, status: Int, errorClass: String,
                latencyMs: Int, retryAfterMs: Int = 0, wasProbe: Bool = false) {
        self.endpoint = endpoint
        self.upstream = upstream
        self.outcome = outcome
        self.status = status
        self.errorClass = errorClass
        self.latencyMs = latencyMs
        self.retryAfterMs = retryAfterMs
        self.wasProbe = wasProbe
    }
}
