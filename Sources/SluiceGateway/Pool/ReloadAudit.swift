import SluiceCore
import SluiceRedis

/// The admin record of a configuration reload: applied or refused, the file's SHA-256, and
/// the routes, providers and budgets added, removed or (budgets) changed. Never a value
/// from the file. The master keeps records Redis did not take and tries again each round.
struct ReloadAudit {
    private var pending: [(batch: AuditBatch, redis: RedisConfig, maxLength: Int)] = []

    static func action(path: String, text: String?, old: GatewayConfig, new: GatewayConfig?, generation: Int,
                       error: String?) -> AdminAudit.Action {
        var details: [(key: String, json: String)] = [("config", JSONText.quoted(path)),
                                                      ("result", JSONText.quoted(new == nil ? "refused" : "applied"))]
        if let text { details.append(("sha256", JSONText.quoted(Digest.sha256Hex(Array(text.utf8))))) }
        details.append(("generation", String(generation)))
        if let new {
            let oldRoutes = Set(old.routeOrder), newRoutes = Set(new.routeOrder)
            details.append(("routes_added", AdminAudit.list(newRoutes.subtracting(oldRoutes).sorted())))
            details.append(("routes_removed", AdminAudit.list(oldRoutes.subtracting(newRoutes).sorted())))
            let oldProviders = Set(old.providers.keys), newProviders = Set(new.providers.keys)
            details.append(("providers_added", AdminAudit.list(newProviders.subtracting(oldProviders).sorted())))
            details.append(("providers_removed", AdminAudit.list(oldProviders.subtracting(newProviders).sorted())))
            let oldBudgets = Dictionary(old.governance.budgets.map { ($0.name, $0) }) { first, _ in first }
            let newBudgets = Dictionary(new.governance.budgets.map { ($0.name, $0) }) { first, _ in first }
            details.append(("budgets_added", AdminAudit.list(newBudgets.keys.filter { oldBudgets[$0] == nil }.sorted())))
            details.append(("budgets_removed", AdminAudit.list(oldBudgets.keys.filter { newBudgets[$0] == nil }.sorted())))
            details.append(("budgets_changed", AdminAudit.list(newBudgets.keys.filter {
                oldBudgets[$0] != nil && oldBudgets[$0] != newBudgets[$0]
            }.sorted())))
        }
        // The reason names fields and lines, never values (ConfigError's messages).
        if let error { details.append(("error", JSONText.quoted(String(error.prefix(2000))))) }
        return AdminAudit.Action("config.reload", details: details)
    }

    /// Queues `action` for the Redis of `config` and tries to send everything queued.
    mutating func record(_ action: AdminAudit.Action, config: GatewayConfig) -> [String] {
        let keys = RedisKeys(prefix: config.redis.keyPrefix)
        if pending.count < 100 { pending.append((AdminAudit.prepared(action, keys: keys), config.redis, config.audit.maxLength)) }
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
