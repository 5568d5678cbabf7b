import Crypto

/// A Lua script run atomically by Redis, called by its SHA-1 (`EVALSHA`) so only the
/// digest travels with each call; the source is sent once, when Redis does not know it yet.
public struct RedisScript: Sendable {
    public let source: String
    /// Lower-case hex SHA-1 of `source`, as `SCRIPT LOAD` reports it.
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = Hex.lower(Insecure.SHA1.hash(data: Array(source.utf8)))
    }
}

extension RedisScript {
    /// Every script Sluice runs in Redis, by name: `sluice scripts` lists them with their
    /// SHA-1, which is all `SLOWLOG`, `MONITOR` and `EVALSHA` errors show of a script.
    public static let catalog: [(name: String, script: RedisScript)] = [
        ("limits.admit", LimitScripts.admit), ("limits.settle", LimitScripts.settle),
        ("audit.append", AuditScripts.append), ("audit.append_batch", AuditScripts.appendBatch),
        ("health.snapshot", HealthScripts.snapshot), ("health.report", HealthScripts.report),
        ("health.keep_warm_claim", HealthScripts.keepWarmClaim), ("metrics.add", MetricsScripts.add),
    ]
}
