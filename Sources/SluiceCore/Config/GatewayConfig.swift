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

/// `audit:` — `{max_length: 1000000, spool_dir: /var/lib/sluice/spool, usage_days: 400,
/// metric_tags: [team], metric_tag_values: 50}`.
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
    /// Tags whose values get a cost series on `/metrics` (`sluice_cost_usd_total{tag,value}`).
    public var metricTags: [String]
    /// Values per metric tag, pool-wide; calls with later values count as `value="other"`,
    /// so the series stay bounded whatever clients send.
    public var metricTagValues: Int

    public init(maxLength: Int = 1_000_000, spoolDirectory: String = "/var/lib/sluice/spool", usageDays: Int = 400,
                metricTags: [String] = [], metricTagValues: Int = 50) {
        self.maxLength = maxLength
        self.spoolDirectory = spoolDirectory
        self.usageDays = usageDays
        self.metricTags = metricTags
        self.metricTagValues = metricTagValues
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

extension ProviderConfig: Equatable {
    /// Every setting (secrets compared by value; a reload's record names changed providers,
    /// never what changed). Written out because `headers` holds tuples: a new setting
    /// belongs here too.
    public static func == (lhs: ProviderConfig, rhs: ProviderConfig) -> Bool {
        lhs.name == rhs.name && lhs.kind == rhs.kind && lhs.baseURL == rhs.baseURL && lhs.apiKey == rhs.apiKey
            && lhs.authHeader == rhs.authHeader && lhs.authPrefix == rhs.authPrefix
            && lhs.headers.elementsEqual(rhs.headers) { $0.name == $1.name && $0.value == $1.value }
            && lhs.timeouts == rhs.timeouts && lhs.anthropicVersion == rhs.anthropicVersion && lhs.region == rhs.region
            && lhs.awsCredentials == rhs.awsCredentials && lhs.apiVersion == rhs.apiVersion
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
