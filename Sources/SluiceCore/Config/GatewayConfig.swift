/// The whole validated gateway configuration, as loaded from `sluice.yaml`.
///
/// Every value here is resolved: secret references have been read, durations parsed,
/// endpoint references checked. A `GatewayConfig` is immutable and `Sendable`, so the
/// pool shares one instance between all threads of a worker.
public struct GatewayConfig: Sendable {
    /// Where the responder pool listens and how big it is.
    public var server: ServerConfig
    /// The Redis deployment that holds shared state.
    public var redis: RedisConfig
    /// Upstream accounts, by name.
    public var providers: [String: ProviderConfig]
    /// Routes, by name; the client's `model` field names a route.
    public var routes: [String: RouteConfig]
    /// Route names in the order the file declares them (for `GET /v1/models`).
    public var routeOrder: [String]
    /// Policies for identities asserted by nginx in `SLUICE_PRINCIPAL`.
    public var principals: PrincipalPolicies
    /// When an endpoint is put in cooldown pool-wide.
    public var health: HealthPolicy
    /// The audit stream and the local spool.
    public var audit: AuditConfig
    /// Gateway-wide limits, required tags, admission, prices and budgets.
    public var governance: GovernanceConfig
    /// The Responses API's kept conversations and pins.
    public var responses: ResponsesConfig
    /// OpenTelemetry traces (`telemetry:`); off when absent.
    public var telemetry: TelemetryConfig?

    public init(server: ServerConfig, redis: RedisConfig, providers: [String: ProviderConfig],
                routes: [String: RouteConfig], routeOrder: [String], principals: PrincipalPolicies,
                health: HealthPolicy = HealthPolicy(), audit: AuditConfig = AuditConfig(),
                governance: GovernanceConfig = GovernanceConfig(), responses: ResponsesConfig = ResponsesConfig(),
                telemetry: TelemetryConfig? = nil) {
        self.responses = responses
        self.telemetry = telemetry
        self.server = server
        self.redis = redis
        self.providers = providers
        self.routes = routes
        self.routeOrder = routeOrder
        self.principals = principals
        self.health = health
        self.audit = audit
        self.governance = governance
    }
}

/// `telemetry:` — a span per call following OpenTelemetry's GenAI semantic conventions,
/// exported with OTLP/HTTP (protobuf) in batches by a thread of each worker.
public struct TelemetryConfig: Sendable, Equatable {
    /// The OTLP/HTTP traces URL, e.g. `http://127.0.0.1:4318/v1/traces`.
    public var endpoint: String
    /// Headers sent with every export (a collector's API key): secrets, never logged.
    public var headers: [(name: String, value: Secret)]
    /// `service.name` of the resource.
    public var serviceName: String
    /// Spans a worker holds for export; more are dropped and counted.
    public var maxQueue: Int
    /// Spans per export request.
    public var maxBatch: Int
    /// How long a span waits for its batch to fill.
    public var interval: Duration
    /// Time limit of one export request.
    public var timeout: Duration

    public init(endpoint: String, headers: [(name: String, value: Secret)] = [], serviceName: String = "sluice",
                maxQueue: Int = 4096, maxBatch: Int = 512, interval: Duration = .seconds(1), timeout: Duration = .seconds(5)) {
        self.endpoint = endpoint
        self.headers = headers
        self.serviceName = serviceName
        self.maxQueue = maxQueue
        self.maxBatch = maxBatch
        self.interval = interval
        self.timeout = timeout
    }

    public static func == (lhs: TelemetryConfig, rhs: TelemetryConfig) -> Bool {
        lhs.endpoint == rhs.endpoint && lhs.serviceName == rhs.serviceName && lhs.maxQueue == rhs.maxQueue
            && lhs.maxBatch == rhs.maxBatch && lhs.interval == rhs.interval && lhs.timeout == rhs.timeout
            && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }
}

/// `audit:` — `{max_length: 1000000, spool_dir: /var/lib/sluice/spool, usage_days: 400}`.
/// `responses:` — the conversations the gateway keeps for OpenAI's Responses API on
/// routes whose provider has no Responses API (`store`, `previous_response_id`), and the
/// pins that send follow-ups of a native response to the account that holds it.
public struct ResponsesConfig: Sendable, Equatable {
    /// How long a kept conversation or pin lives in Redis (OpenAI keeps responses 30 days).
    public var storeTTL: Duration
    /// The largest conversation kept for one response; a larger one is not kept (its
    /// response says so with `X-Sluice-Response-Stored: false`).
    public var maxBytes: Int

    public init(storeTTL: Duration = .seconds(30 * 86_400), maxBytes: Int = 1 << 20) {
        self.storeTTL = storeTTL
        self.maxBytes = maxBytes
    }
}

public struct AuditConfig: Sendable, Equatable {
    /// Entries the stream keeps (trimmed approximately, `MAXLEN ~`); drain before they go.
    public var maxLength: Int
    /// Where records go when Redis cannot take them; replayed from there once it can.
    public var spoolDirectory: String
    /// How long daily usage totals are kept in Redis.
    public var usageDays: Int

    public init(maxLength: Int = 1_000_000, spoolDirectory: String = "/var/lib/sluice/spool", usageDays: Int = 400) {
        self.maxLength = maxLength
        self.spoolDirectory = spoolDirectory
        self.usageDays = usageDays
    }
}

/// `health:` — when failures put an endpoint in cooldown for every responder.
///
/// Outcomes are counted per endpoint in Redis over a sliding window. An endpoint trips when
/// more than `failureRatio` of at least `minCalls` calls in the window failed, or at once
/// when the provider sent `Retry-After`. Each trip within `maxCooldown × 4` of the last one
/// doubles the cooldown, up to `maxCooldown`.
public struct HealthPolicy: Sendable, Equatable {
    public var window: Duration
    public var minCalls: Int
    public var failureRatio: Double
    public var cooldown: Duration
    public var maxCooldown: Duration

    public init(window: Duration = .seconds(30), minCalls: Int = 5, failureRatio: Double = 0.5,
                cooldown: Duration = .seconds(5), maxCooldown: Duration = .seconds(300)) {
        self.window = window
        self.minCalls = minCalls
        self.failureRatio = failureRatio
        self.cooldown = cooldown
        self.maxCooldown = maxCooldown
    }
}

/// `server:` — the FastCGI socket and the size of the responder pool.
public struct ServerConfig: Sendable, Equatable {
    /// `unix:/path/to/sock`, `/path/to/sock` or `host:port`.
    public var listen: String
    /// Worker processes the master keeps running.
    public var workers: Int
    /// Threads per worker; each owns one FastCGI request, one curl handle, one Redis connection.
    public var threads: Int
    /// The listen backlog.
    public var backlog: Int
    /// Largest request body the responder accepts (nginx should refuse larger ones first).
    public var maxBodyBytes: Int
    /// How long a draining worker may take to finish in-flight requests.
    public var drainTimeout: Duration
    /// Log lines as text or as one JSON object per line (for log shippers).
    public var logFormat: LogFormat = .text

    public enum LogFormat: String, Sendable, Equatable, CaseIterable {
        case text, json
    }

    public init(listen: String = "127.0.0.1:9000", workers: Int = 2, threads: Int = 16, backlog: Int = 1024,
                maxBodyBytes: Int = 8 << 20, drainTimeout: Duration = .seconds(30)) {
        self.listen = listen
        self.workers = workers
        self.threads = threads
        self.backlog = backlog
        self.maxBodyBytes = maxBodyBytes
        self.drainTimeout = drainTimeout
    }
}

/// `redis:` — connection to the shared state store.
public struct RedisConfig: Sendable, Equatable {
    /// `redis://[:password@]host:port/db` or `unix:///path/to/redis.sock`.
    public var url: RedisURL
    /// Connect and command timeout.
    public var timeout: Duration
    /// Prefix of every key Sluice writes, so several gateways can share one Redis.
    public var keyPrefix: String
    /// Replicas that must acknowledge a batch of audit records (`WAIT`) before it counts as
    /// written; a batch not acknowledged in `replicaAckTimeout` is also kept in the local
    /// spool, so a failover that loses it does not lose it for good. 1 under Sentinel, else 0.
    public var replicaAcks: Int
    public var replicaAckTimeout: Duration

    public init(url: RedisURL, timeout: Duration = .milliseconds(500), keyPrefix: String = "sluice",
                replicaAcks: Int? = nil, replicaAckTimeout: Duration = .milliseconds(100)) {
        self.url = url
        self.timeout = timeout
        self.keyPrefix = keyPrefix
        if let replicaAcks {
            self.replicaAcks = replicaAcks
        } else if case .sentinel = url.address {
            self.replicaAcks = 1
        } else {
            self.replicaAcks = 0
        }
        self.replicaAckTimeout = replicaAckTimeout
    }
}

/// A parsed Redis URL. The password is a `Secret` and never printed.
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
        /// The primary Redis Sentinel names for `masterName`, asked of `sentinels` at connect
        /// time and again after a failover.
        case sentinel(RedisSentinels)
    }
    public var address: Address
    public var database: Int
    public var username: String?
    public var password: Secret?

    public init(address: Address, database: Int = 0, username: String? = nil, password: Secret? = nil) {
        self.address = address
        self.database = database
        self.username = username
        self.password = password
    }

    public var description: String {
        switch address {
        case .tcp(let host, let port): return "redis://\(host):\(port)/\(database)"
        case .unix(let path): return "unix://\(path)"
        case .sentinel(let sentinels):
            return "sentinel master '\(sentinels.masterName)' via \(sentinels.nodes.map(\.description).joined(separator: ","))/\(database)"
        }
    }
}

/// `redis: { sentinels: [...], master_name: ... }`: the Sentinels that know which Redis is
/// the primary of `masterName`. User name and password of the data nodes are the
/// `RedisURL`'s; `username` / `password` here are the Sentinels' own (often none).
public struct RedisSentinels: Sendable, Equatable {
    public struct Node: Sendable, Equatable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }
    public var masterName: String
    public var nodes: [Node]
    public var username: String?
    public var password: Secret?

    public init(masterName: String, nodes: [Node], username: String? = nil, password: Secret? = nil) {
        self.masterName = masterName
        self.nodes = nodes
        self.username = username
        self.password = password
    }
}

/// Which upstream API a provider speaks.
public enum ProviderKind: String, Sendable, CaseIterable {
    /// api.openai.com, or anything that speaks its API with `Authorization: Bearer`.
    case openai
    /// Any server speaking OpenAI's API (vLLM, Databricks' OpenAI-compatible path, …),
    /// with a configurable auth header.
    case openaiCompatible = "openai_compatible"
    /// api.anthropic.com's Messages API (`x-api-key`, `anthropic-version`).
    case anthropic
    /// Amazon Bedrock Runtime (Converse, ConverseStream, InvokeModel for embeddings),
    /// signed with AWS Signature Version 4.
    case bedrock
    /// Azure OpenAI: OpenAI's bodies at `/openai/deployments/{deployment}/…?api-version=…`.
    case azureOpenAI = "azure_openai"
    /// Databricks Model Serving: OpenAI's bodies at `/serving-endpoints/{name}/invocations`.
    case databricks
}

/// `providers.NAME:` — one upstream account.
public struct ProviderConfig: Sendable {
    public var name: String
    public var kind: ProviderKind
    /// Base URL up to and including the API version, e.g. `https://api.openai.com/v1`.
    public var baseURL: String
    /// The upstream credential; `nil` for servers that need none.
    public var apiKey: Secret?
    /// Header that carries the credential (default `Authorization`).
    public var authHeader: String
    /// Text before the credential in that header (default `Bearer `; empty for `api-key` styles).
    public var authPrefix: String
    /// Extra headers sent on every call (values may be secrets).
    public var headers: [(name: String, value: Secret)]
    /// Per-provider timeouts (routes and endpoints may override).
    public var timeouts: Timeouts
    /// `anthropic_version:` — the `anthropic-version` header sent to `kind: anthropic`.
    public var anthropicVersion = "2023-06-01"
    /// `bedrock`: the AWS region calls are signed for (`us-east-1`).
    public var region: String?
    /// `bedrock`: the AWS credentials calls are signed with (unless `apiKey` is a Bedrock API key).
    public var awsCredentials: AWSCredentials?
    /// `azure_openai`: the `api-version` query parameter (`2024-10-21`).
    public var apiVersion: String?

    public init(name: String, kind: ProviderKind, baseURL: String, apiKey: Secret?, authHeader: String = "Authorization",
                authPrefix: String = "Bearer ", headers: [(name: String, value: Secret)] = [], timeouts: Timeouts = Timeouts(),
                region: String? = nil, awsCredentials: AWSCredentials? = nil, apiVersion: String? = nil) {
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.authHeader = authHeader
        self.authPrefix = authPrefix
        self.headers = headers
        self.timeouts = timeouts
        self.region = region
        self.awsCredentials = awsCredentials
        self.apiVersion = apiVersion
    }
}

/// An AWS access key pair, and the session token of temporary credentials.
public struct AWSCredentials: Sendable, Equatable {
    public var accessKeyID: Secret
    public var secretAccessKey: Secret
    /// Sent as `x-amz-security-token` (and signed) when set.
    public var sessionToken: Secret?

    public init(accessKeyID: Secret, secretAccessKey: Secret, sessionToken: Secret? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }
}

/// Upstream timeouts. Every field is optional so that levels can be layered
/// (provider, then route, then endpoint); `resolved` fills the defaults.
public struct Timeouts: Sendable, Equatable {
    /// TCP + TLS connect.
    public var connect: Duration?
    /// From sending the request to the first response byte.
    public var firstByte: Duration?
    /// Longest silence between two chunks of a streamed response.
    public var idle: Duration?
    /// The whole upstream call.
    public var total: Duration?

    public init(connect: Duration? = nil, firstByte: Duration? = nil, idle: Duration? = nil, total: Duration? = nil) {
        self.connect = connect
        self.firstByte = firstByte
        self.idle = idle
        self.total = total
    }

    /// `self` where set, otherwise `fallback`.
    public func overriding(_ fallback: Timeouts) -> Timeouts {
        Timeouts(connect: connect ?? fallback.connect, firstByte: firstByte ?? fallback.firstByte,
                 idle: idle ?? fallback.idle, total: total ?? fallback.total)
    }

    /// The defaults: 5 s connect, 120 s to first byte, 120 s idle, 10 min total.
    public static let defaults = Timeouts(connect: .seconds(5), firstByte: .seconds(120), idle: .seconds(120), total: .seconds(600))
}

/// What a route serves; decides which API paths may use it.
public enum RouteType: String, Sendable, CaseIterable {
    case chat
    case completions
    case embeddings
}

/// `routes.NAME:` — what a client names in `model`.
public struct RouteConfig: Sendable {
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
/// flight pool-wide (ties drawn by weight). An endpoint with weight 0 is never the pick of
/// either.
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

/// What a limit counts against.
public enum LimitScope: String, Sendable, CaseIterable {
    case key, principal, route, endpoint, tag
}

/// `limits: [{per: key, requests: 600, window: 1m}]`.
public struct LimitConfig: Sendable, Equatable {
    public var per: LimitScope
    /// For `per: tag`, which tag's value is counted.
    public var tag: String?
    /// Only this tag value, key id, principal, route or endpoint name (`nil`: each one
    /// has a counter of its own).
    public var value: String?
    public var requests: Int?
    public var tokens: Int?
    public var window: Duration

    public init(per: LimitScope, tag: String? = nil, value: String? = nil, requests: Int? = nil, tokens: Int? = nil,
                window: Duration) {
        self.per = per
        self.tag = tag
        self.value = value
        self.requests = requests
        self.tokens = tokens
        self.window = window
    }
}

/// `principals:` — policies for identities nginx asserts in `SLUICE_PRINCIPAL`.
public struct PrincipalPolicies: Sendable, Equatable {
    /// Policy by exact principal name.
    public var named: [String: AccessPolicy]
    /// Policy for any other asserted principal; `nil` refuses them.
    public var fallback: AccessPolicy?

    public init(named: [String: AccessPolicy] = [:], fallback: AccessPolicy? = nil) {
        self.named = named
        self.fallback = fallback
    }

    /// The policy for `principal`, if any.
    public func policy(for principal: String) -> AccessPolicy? {
        named[principal] ?? fallback
    }
}
