import SluiceCore
import SluiceRedis
import Synchronization

/// A process's metric increments since the last flush. Calls add to it in memory; the
/// spool thread sends it to Redis once a second in one script call, so the counters cost
/// each request nothing on the Redis side. If Redis is away, the sums wait for the next flush.
final class MetricsBuffer: Sendable {
    private let pending = Mutex([String: Double]())

    func add(_ increments: [(series: String, amount: String)]) {
        pending.withLock { sums in
            for increment in increments {
                sums[increment.series, default: 0] += Double(increment.amount) ?? 0
            }
        }
    }

    /// Adds sums already made (series → amount).
    func add(sums: [String: Double]) {
        pending.withLock { pending in
            pending.merge(sums, uniquingKeysWith: +)
        }
    }

    /// Sends what accumulated to the pool-wide counters.
    /// `tagValues`: values admitted per cost tag (`AuditConfig.metricTagValues`).
    func flush(redis: RedisConnection, keys: RedisKeys, tagValues: Int) {
        let taken = pending.withLock { sums -> [String: Double] in
            defer { sums.removeAll(keepingCapacity: true) }
            return sums
        }
        guard !taken.isEmpty else { return }
        let arguments = [String(tagValues)] + taken.flatMap { [$0.key, String($0.value)] }
        do {
            _ = try redis.evaluate(MetricsScripts.add, keys: [keys.metrics, keys.metricsTagValues], arguments: arguments)
        } catch {
            // Not applied (or unknown): keep the sums for the next try. A timed-out call that
            // was applied after all counts twice; metrics tolerate that, the audit stream does not.
            if error.kind == .connection { add(taken.map { ($0.key, String($0.value)) }) }
        }
    }
}
