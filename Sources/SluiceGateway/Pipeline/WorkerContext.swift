import Logging
import SluiceCore
import SluiceRedis
import Synchronization

/// What every thread of one worker shares: the immutable config and the key cache.
public final class WorkerContext: Sendable {
    public let config: GatewayConfig
    public let keyCache: KeyCache
    public let redisKeys: RedisKeys
    /// Seconds since the epoch when this config was loaded (`created` in model lists).
    public let loadedAt: Int
    public let logger: Logger
    /// Set when a draining worker ran out of time: calls still running stop at their next
    /// progress check, and streams end with an explicit error event instead of being cut.
    public let abandonInFlight = Atomic<Bool>(false)
    /// Where audit records wait while Redis cannot take them.
    let auditSpool: AuditSpool
    let auditJournal: AuditJournals
    /// This machine's name, for audit writer ids.
    let hostName: String
    /// When this process loaded its config, in ms (makes writer ids unique across restarts).
    let loadedAtMs: Int64
    /// Numbers the request pipelines (threads) of this process.
    let pipelineCount = Atomic<Int>(0)
    /// Compiled redactors of the routes that capture payloads.
    let redactors: [String: PayloadRedactor]
    /// Provider credentials, redacted from captured payloads wherever they appear.
    let providerSecrets: [String]
    /// Metric increments waiting for the next flush to Redis.
    let metrics = MetricsBuffer()
    /// Threads serving a request right now.
    let busyThreads = Atomic<Int>(0)
    /// The current period of each budget's calendar.
    let budgetPeriods: BudgetPeriods
    /// Calls this process may admit while Redis is unreachable (fail-open).
    let localAllowance: LocalAllowance
    /// Budget alerts on their way to webhooks.
    let alertNotifier: AlertNotifier
    /// The process's admissions and settlements, combined into shared Redis round trips.
    let governance: any GovernancePort
    /// Room on limits and budgets granted to this process for its next calls (`Leases`).
    let leases: LeaseStore
    /// Each route's guardrails, compiled once (routes with `guardrails:` only).
    let guardrails: [String: GuardrailEngine]
    /// What the cache keys of each route with `cache:` carry of its guardrails
    /// (`CallCache.guardrailsDigest`), made once per config load.
    let cacheGuardrails: [String: String]
    /// Sends spans to an OTLP collector (`telemetry:`); `nil` when tracing is off.
    let traceExporter: TraceExporter?

    public convenience init(config: GatewayConfig, loadedAt: Int, logger: Logger) {
        self.init(config: config, loadedAt: loadedAt, logger: logger, governance: nil)
    }

    /// `governance`: admission and settlement storage (default: Redis, `GovernanceCombiner`).
    init(config: GatewayConfig, loadedAt: Int, logger: Logger, governance: (any GovernancePort)?) {
        self.config = config
        self.keyCache = KeyCache()
        self.redisKeys = RedisKeys(prefix: config.redis.keyPrefix)
        self.loadedAt = loadedAt
        self.logger = logger
        var redactors: [String: PayloadRedactor] = [:]
        for (name, route) in config.routes where route.capture.enabled {
            redactors[name] = try? PayloadRedactor(route.capture)  // validated when the config was loaded
        }
        self.redactors = redactors
        self.guardrails = config.routes.compactMapValues { $0.guardrails.isEmpty ? nil : GuardrailEngine($0.guardrails) }
        self.cacheGuardrails = config.routes.compactMapValues { $0.cache == nil ? nil : CallCache.guardrailsDigest($0) }
        self.providerSecrets = config.providers.values.flatMap { provider in
            let aws = provider.awsCredentials.map { [$0.secretAccessKey, $0.sessionToken] } ?? []
            return ([provider.apiKey] + provider.headers.map(\.value) + aws).compactMap { $0?.exposedValue }
        } + config.routes.values.flatMap { $0.endpoints.flatMap { $0.headers.map(\.value.exposedValue) } }
            + (config.telemetry?.headers.map(\.value.exposedValue) ?? [])
        self.budgetPeriods = BudgetPeriods(defaultZone: config.governance.budgetTimeZone)
        self.localAllowance = LocalAllowance(limit: config.governance.admission.localRequests,
                                             window: config.governance.admission.localWindow)
        self.alertNotifier = AlertNotifier(logger: logger)
        self.leases = LeaseStore(redis: config.redis)
        self.governance = governance ?? GovernanceCombiner(connect: { RedisConnection(config: config.redis) }, keys: redisKeys,
                                             reservationLifetime: Governor.reservationLifetime)
        self.auditSpool = AuditSpool(directory: config.audit.spoolDirectory, logger: logger)
        self.auditJournal = AuditJournals(directory: config.audit.spoolDirectory, stripes: config.server.threads + 1,
                                          logger: logger)
        let hostName = HostName.current
        self.hostName = hostName
        let metrics = self.metrics
        self.traceExporter = config.telemetry.map { TraceExporter(config: $0, metrics: metrics, logger: logger, hostName: hostName) }
        self.loadedAtMs = SystemClock().unixMs
    }
}
