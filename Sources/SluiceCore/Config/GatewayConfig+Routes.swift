/// Routes as `sluice.yaml` declares them: what a route serves, its endpoints, rules,
/// retries, balancing and response cache (part of `GatewayConfig`).

/// What a route serves; decides which API paths may use it.
public enum RouteType: String, Sendable, CaseIterable {
    case chat
    case completions
    case embeddings
}

/// `routes.NAME:` — what a client names in `model`.
public struct RouteConfig: Sendable, Equatable {
    public var name: String
    public var type: RouteType
    /// Ordered endpoints; `fallbackOnly` ones serve only after the ones before them failed.
    public var endpoints: [EndpointConfig]
    /// Tag rules, evaluated in order before weights.
    public var rules: [RouteRule]
    /// Route-level timeouts (over the provider's, under the endpoint's).
    public var timeouts: Timeouts
    /// Limits declared on the route (enforced by the governance layer).
    public var limits: [LimitConfig]
    /// The endpoint tried first when no tag rule matches (instead of a weighted pick).
    public var defaultEndpoint: String?
    /// Which failures move on, how many attempts, and the deadline.
    public var retry: RetryConfig
    /// Put endpoints that went cold (see `EndpointConfig.coldAfter`) after warm ones.
    public var preferWarm: Bool
    /// Request and response bodies in this route's audit records (off by default).
    public var capture: PayloadCaptureConfig
    /// Tags every call of this route must carry (besides the gateway-wide ones).
    public var requiredTags: RequiredTags = RequiredTags()
    /// Exact-match response cache in Redis (`cache:`); off when `nil`.
    public var cache: ResponseCacheConfig?
    /// How the first endpoint is chosen among the route's primaries (`balance:`).
    public var balance: Balance = .weighted
    /// Checks of requests' and answers' text (`guardrails:`), in order.
    public var guardrails: [GuardrailConfig] = []

    public init(name: String, type: RouteType, endpoints: [EndpointConfig], rules: [RouteRule] = [],
                timeouts: Timeouts = Timeouts(), limits: [LimitConfig] = [], defaultEndpoint: String? = nil,
                retry: RetryConfig = RetryConfig(), preferWarm: Bool = true,
                capture: PayloadCaptureConfig = PayloadCaptureConfig()) {
        self.name = name
        self.type = type
        self.endpoints = endpoints
        self.rules = rules
        self.timeouts = timeouts
        self.limits = limits
        self.defaultEndpoint = defaultEndpoint
        self.retry = retry
        self.preferWarm = preferWarm
        self.capture = capture
    }
}

/// `balance:` of a route: `weighted` (the default: a draw by `weight`); `latency`: the
/// primary with the lowest average latency in the shared health (a stream's time to its
/// first event), except for a share `explore` of calls drawn by weight so every endpoint
/// keeps being measured, and with weights capping the fastest's share (its weight over the
/// largest weight: equal weights do not limit it, weights 1 and 9 hold the lighter one to
/// about a ninth of the latency picks); `least_busy`: the primary with the fewest calls in
/// flight pool-wide (ties drawn by weight), its share capped by weight the same way. An
/// endpoint with weight 0 is never the pick of either.
public enum Balance: Sendable, Equatable {
    case weighted
    case latency(explore: Double)
    case leastBusy
}

/// `cache:` of a route — `{ttl: 10m, max_bytes: 256k, ignore_fields: [user], namespace: key}`.
/// A request is answered from the cache when its route, its namespace and its body (minus
/// `ignore_fields`, members in any order) match a stored successful answer.
public struct ResponseCacheConfig: Sendable, Equatable {
    /// Whose answers a request may read: the caller's key (or principal) by default, so
    /// one tenant never reads another's; `route` shares them across callers; `tag:NAME`
    /// shares them among callers with the same value of that tag.
    public enum Namespace: Sendable, Equatable {
        case key, route, tag(String)
    }

    public var ttl: Duration
    public var maxBytes: Int
    /// Top-level request members that do not change the answer (`user`, `metadata`, …).
    public var ignoreFields: Set<String>
    public var namespace: Namespace

    public init(ttl: Duration = .seconds(600), maxBytes: Int = 256 << 10, ignoreFields: Set<String> = [],
                namespace: Namespace = .key) {
        self.ttl = ttl
        self.maxBytes = maxBytes
        self.ignoreFields = ignoreFields
        self.namespace = namespace
    }
}

/// `retry:` of a route — `{on: [connect, timeout, 429, 5xx], attempts: 3, deadline: 60s, max_wait: 5s}`.
public struct RetryConfig: Sendable, Equatable {
    /// Failures that move on to the next endpoint (or another attempt).
    public var on: FallbackConditions
    /// Upstream calls per request, all endpoints together; `nil` tries each planned endpoint once.
    public var attempts: Int?
    /// The whole request, every attempt and wait included; `nil` leaves only per-call timeouts.
    public var deadline: Duration?
    /// Longest wait before calling an endpoint again (backoff or the provider's `Retry-After`).
    public var maxWait: Duration

    public init(on: FallbackConditions = .defaults, attempts: Int? = nil, deadline: Duration? = nil,
                maxWait: Duration = .seconds(5)) {
        self.on = on
        self.attempts = attempts
        self.deadline = deadline
        self.maxWait = maxWait
    }
}

/// The failures a route moves on from. Client errors (400, 401, 403, 404, 413, 422) are never
/// among them: another endpoint would refuse the same request the same way.
public struct FallbackConditions: Sendable, Equatable {
    /// DNS, TCP or TLS connect failed.
    public var connect: Bool
    /// Connect, first-byte, idle or total timeout.
    public var timeout: Bool
    /// The connection broke or the answer was malformed.
    public var dropped: Bool
    /// Provider statuses (408, 409, 425, 429, 5xx, 529).
    public var statuses: Set<Int>

    public init(connect: Bool, timeout: Bool, dropped: Bool, statuses: Set<Int>) {
        self.connect = connect
        self.timeout = timeout
        self.dropped = dropped
        self.statuses = statuses
    }

    /// Connection errors, timeouts, dropped connections, 408, 429 and every 5xx (529 included).
    public static let defaults = FallbackConditions(connect: true, timeout: true, dropped: true,
                                                    statuses: Set([408, 429]).union(500...599))

    /// Statuses a route may list: the ones a different endpoint can answer better.
    public static func isRetryable(status: Int) -> Bool {
        [408, 409, 425, 429].contains(status) || (500...599).contains(status)
    }
}

/// One endpoint of a route: a provider account and the model to ask it for.
public struct EndpointConfig: Sendable, Equatable {
    /// Name for rules and reports; defaults to `provider/model`.
    public var name: String
    public var provider: String { didSet { upstreamKey = "\(provider)/\(model)" } }
    public var model: String { didSet { upstreamKey = "\(provider)/\(model)" } }
    /// The model's context window in tokens (`context_window`): a request estimated to need
    /// more (prompt + `max_tokens`) skips this endpoint.
    public var contextWindow: Int?
    /// The upstream this endpoint calls (`provider/model`): health and warmth are shared by
    /// every route's endpoint with the same provider account and model.
    public private(set) var upstreamKey: String
    /// Relative share of traffic among the route's primary endpoints.
    public var weight: Int
    /// Serves only when the endpoints before it failed.
    public var fallbackOnly: Bool
    /// Endpoint-level timeout overrides.
    public var timeouts: Timeouts
    /// Top-level request fields set on every call to this endpoint (JSON text by name),
    /// replacing the client's value of the same field.
    public var params: [(name: String, json: String)]
    /// Extra headers sent to this endpoint (after the provider's).
    public var headers: [(name: String, value: Secret)]
    /// Ping the endpoint when no traffic reached it for this long (one responder pool-wide).
    public var keepWarm: Duration?
    /// Without a success for this long the endpoint counts as cold (defaults to `keepWarm`).
    public var coldAfter: Duration?

    public init(name: String, provider: String, model: String, weight: Int = 1, fallbackOnly: Bool = false,
                timeouts: Timeouts = Timeouts(), params: [(name: String, json: String)] = [],
                headers: [(name: String, value: Secret)] = [], keepWarm: Duration? = nil, coldAfter: Duration? = nil) {
        self.name = name
        self.provider = provider
        self.model = model
        self.upstreamKey = "\(provider)/\(model)"
        self.weight = weight
        self.fallbackOnly = fallbackOnly
        self.timeouts = timeouts
        self.params = params
        self.headers = headers
        self.keepWarm = keepWarm
        self.coldAfter = coldAfter ?? keepWarm
    }

    public static func == (lhs: EndpointConfig, rhs: EndpointConfig) -> Bool {
        lhs.name == rhs.name && lhs.provider == rhs.provider && lhs.model == rhs.model && lhs.weight == rhs.weight
            && lhs.fallbackOnly == rhs.fallbackOnly && lhs.timeouts == rhs.timeouts
            && lhs.params.map(\.name) == rhs.params.map(\.name) && lhs.params.map(\.json) == rhs.params.map(\.json)
            && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.keepWarm == rhs.keepWarm
            && lhs.coldAfter == rhs.coldAfter
    }
}

/// `rules: [{when: {tag: value}, use: endpoint}]`.
public struct RouteRule: Sendable, Equatable {
    /// Every tag here must match the request's tags.
    public var when: [String: String]
    /// The endpoint name to use first.
    public var use: String

    public init(when: [String: String], use: String) {
        self.when = when
        self.use = use
    }
}
