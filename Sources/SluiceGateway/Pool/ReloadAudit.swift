import SluiceCore
import SluiceRedis

/// The admin record of a configuration reload: applied or refused, the file's SHA-256, and
/// the names of the routes, providers and budgets added, removed or changed (any setting,
/// secrets included, compared — never shown). Never a value from the file. The master
/// keeps records Redis did not take and tries again each round.
struct ReloadAudit {
    private var pending: [(batch: AuditBatch, redis: RedisConfig, maxLength: Int)] = []

    static func action(path: String, text: String?, old: GatewayConfig, new: GatewayConfig?, generation: Int,
                       error: String?) -> AdminAudit.Action {
        var details: [(key: String, json: String)] = [("config", JSONText.quoted(path)),
                                                      ("result", JSONText.quoted(new == nil ? "refused" : "applied"))]
        if let text { details.append(("sha256", JSONText.quoted(Digest.sha256Hex(Array(text.utf8))))) }
        details.append(("generation", String(generation)))
        if let new {
            func add(_ kind: String, _ change: (added: [String], removed: [String], changed: [String])) {
                details += [(kind + "_added", AdminAudit.list(change.added)), (kind + "_removed", AdminAudit.list(change.removed)),
                            (kind + "_changed", AdminAudit.list(change.changed))]
            }
            add("routes", diff(old.routes, new.routes))
            add("providers", diff(old.providers, new.providers))
            func budgets(_ config: GatewayConfig) -> [String: BudgetConfig] {
                Dictionary(config.governance.budgets.map { ($0.name, $0) }) { first, _ in first }
            }
            add("budgets", diff(budgets(old), budgets(new)))
        }
        // The reason names fields and lines, never values (ConfigError's messages).
        if let error { details.append(("error", JSONText.quoted(String(error.prefix(2000))))) }
        return AdminAudit.Action("config.reload", details: details)
    }

    /// The names only in `new`, only in `old`, and in both with another value; each sorted.
    static func diff<Value: Equatable>(_ old: [String: Value], _ new: [String: Value])
        -> (added: [String], removed: [String], changed: [String]) {
        (new.keys.filter { old[$0] == nil }.sorted(), old.keys.filter { new[$0] == nil }.sorted(),
         new.keys.filter { name in old[name].map { $0 != new[name] } ?? false }.sorted())
    }

    /// Queues `action`, done by `who`, for the Redis of `config` and tries to send everything queued.
    mutating func record(_ action: AdminAudit.Action, who: [(key: String, json: String)], config: GatewayConfig) -> [String] {
        let keys = RedisKeys(prefix: config.redis.keyPrefix)
        if pending.count < 100 {
            pending.append((AdminAudit.prepared(action, keys: keys, who: who), config.redis, config.audit.maxLength))
        }
        return flush()
    }

    /// Sends what waits, oldest first, until Redis refuses one (the master's loop must not
    /// wait a timeout per record); returns that error.
    mutating func flush() -> [String] {
        while let item = pending.first {
            let redis = RedisConnection(config: item.redis)
            defer { redis.close() }
            do {
                try AdminAudit.record(item.batch, redis: redis, keys: RedisKeys(prefix: item.redis.keyPrefix),
                                      maxLength: item.maxLength)
                pending.removeFirst()
            } catch {
                return ["\(error)"]
            }
        }
        return []
    }

    var isEmpty: Bool { pending.isEmpty }
}
