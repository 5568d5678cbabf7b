/// The one function family that names every Redis key Sluice uses, all under one prefix.
public struct RedisKeys: Sendable {
    public let prefix: String

    public init(prefix: String) {
        self.prefix = prefix
    }

    /// Hash holding one gateway key's record, found by the key's SHA-256.
    public func gatewayKey(hash: String) -> String { "\(prefix):key:\(hash)" }

    /// Hash of key id → key hash, for listing and revoking by id.
    public var gatewayKeyIndex: String { "\(prefix):keys" }

    /// The audit stream: one entry per call (`AuditScripts.append`).
    public var auditStream: String { "\(prefix):audit" }

    /// The hash of the newest audit entry, which the next entry chains to.
    public var auditHead: String { "\(prefix):audit:head" }

    /// Writer id → the highest sequence number appended, so a replayed record is never added twice.
    public var auditWriters: String { "\(prefix):audit:writers" }

    /// Where `sluice audit drain` moves records that keep failing.
    public var auditDeadLetters: String { "\(prefix):audit:dead" }

    /// Usage totals of one UTC day (`2026-11-26`), every dimension in one hash, so a batch of
    /// records adds to one hash (three commands in the append script, where a hash per
    /// dimension took fifteen): fields `<dimension>=<group>|<total>`, e.g.
    /// `route=chat|requests`, `tag:team=support|cost_micros` (`AuditBatch.usageField`).
    public func usage(day: String) -> String { "\(prefix):usage:\(day)" }

    /// The layout before 2026-12-04, one hash per day and dimension (`route`, `key`,
    /// `model`, `tag:team`) with fields `<group>|<total>`: still read by the reports, and
    /// still written by a replay of a spool or journal line from before.
    public func usage(day: String, dimension: String) -> String { "\(prefix):usage:\(day):\(dimension)" }

    /// Pool-wide counters for `/metrics`: series text → value.
    public var metrics: String { "\(prefix):metrics" }

    /// Values admitted to `sluice_cost_usd_total{tag,value}`: field `<tag>=<value>`, and
    /// `#<tag>` counting them (`MetricsScripts.add` caps it).
    public var metricsTagValues: String { "\(prefix):metrics:tagvalues" }

    /// Each responder process's live figures (`host:pid` → `busy idle spooled unix-ms`).
    public var metricsProcesses: String { "\(prefix):metrics:procs" }

    /// Hash holding one upstream's shared health and warmth (`EndpointConfig.upstreamKey`).
    public func endpointHealth(_ upstream: String) -> String { "\(prefix):ep:\(upstream)" }

    /// Calls in flight to an upstream, pool-wide (`balance: least_busy`): a sorted set of
    /// call tokens scored by when each is given up for lost.
    public func inFlight(_ upstream: String) -> String { "\(prefix):busy:\(upstream)" }

    /// The base name of one limit counter.
    public func limit(_ name: String) -> String { "\(prefix):lim:\(name)" }

    /// One limit counter's hash: amount per bucket, `total` and the oldest bucket `o`
    /// (`LimitScripts`).
    public func limitWindow(_ name: String) -> String { limit(name) + ":w" }

    /// One budget in one period, the base of two hashes: `…:h` (`spent`, burn buckets,
    /// alerted thresholds, `amount`, `about`) and `…:r` (reserved amount per bucket,
    /// `reserved`, oldest bucket `o`).
    public func budget(_ name: String) -> String { "\(prefix):budget:\(name)" }

    /// One Responses API response id's pin or kept conversation (`ResponsesState`).
    public func response(_ id: String) -> String { "\(prefix):resp:\(id)" }

    /// Set of every budget counter that has seen spend, for `sluice usage budgets`.
    public var budgetIndex: String { "\(prefix):budgets" }
}
