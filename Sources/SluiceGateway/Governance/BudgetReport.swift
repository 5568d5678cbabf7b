import Foundation
import SluiceCore
import SluiceRedis

/// `sluice usage budgets`: each budget's spend in its current period, the burn rate over
/// the last hour, and when at that rate the budget runs out.
public struct BudgetReport {
    public struct Row: Sendable {
        public var budget: String
        public var per: String
        public var scope: String
        public var period: String
        public var periodStartMs: Int64
        public var periodEndMs: Int64
        public var spentNanos: Int64
        public var reservedNanos: Int64
        public var amountNanos: Int64
        public var enforced: Bool
        /// Nano-dollars per hour over the last hour (or since the period began).
        public var burnNanosPerHour: Int64
        /// When the budget runs out at that rate; `nil` if not before the period ends.
        public var runsOutMs: Int64?
        /// Already spent (100% or more).
        public var exhausted: Bool { spentNanos >= amountNanos }
    }

    public var rows: [Row]
    public var nowMs: Int64

    /// Reads every budget counter of the current periods from Redis.
    public static func read(_ config: GatewayConfig, nowMs: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) throws -> BudgetReport {
        let redis = RedisConnection(config: config.redis)
        defer { redis.close() }
        return try read(config, redis: redis, nowMs: nowMs)
    }

    /// The same on an open connection (`/metrics` uses its own).
    public static func read(_ config: GatewayConfig, redis: RedisConnection, nowMs: Int64) throws(RedisError) -> BudgetReport {
        let keys = RedisKeys(prefix: config.redis.keyPrefix)
        let periods = BudgetPeriods(defaultZone: config.governance.budgetTimeZone)
        var bases = Set(try redis.checked(["SMEMBERS", keys.budgetIndex], idempotent: true).arrayTexts)
        // Budgets of one fixed scope are listed even before their first spend.
        for budget in config.governance.budgets {
            let value: String? = switch budget.per {
            case .gateway: "*"
            case .tag: budget.value.map { "\(budget.tag ?? "")=\($0)" }
            default: budget.value
            }
            guard let value else { continue }
            let period = periods.current(for: budget, nowMs: nowMs)
            let counter = BudgetCounter(budget: budget, scopeValue: value, periodLabel: period.label,
                                        periodStartMs: period.startMs, periodEndMs: period.endMs)
            bases.insert(keys.budget(counter.name))
        }
        let ordered = bases.sorted()
        let replies = try redis.pipeline(ordered.flatMap { [["HGETALL", $0 + ":h"], ["HGETALL", $0 + ":r"]] },
                                         idempotent: true)
        var rows: [Row] = []
        var stale: [String] = []
        for (index, base) in ordered.enumerated() {
            let fields = replies[index * 2].fieldMap
            let reservations = replies[index * 2 + 1].fieldMap
            let name = base.dropFirst(keys.budget("").count).split(separator: "|").first.map(String.init) ?? ""
            guard let budget = config.governance.budgets.first(where: { $0.name == name }) else {
                stale.append(base)
                continue
            }
            let about = (fields["about"] ?? "").split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            let parts = base.dropFirst(keys.budget("").count).split(separator: "|", omittingEmptySubsequences: false)
            let scope = about.count == 5 ? about[2] : parts.count >= 2 ? String(parts[1]) : "*"
            let period = periods.current(for: budget, nowMs: nowMs)
            let periodLabel = parts.count >= 3 ? String(parts[2]) : period.label
            guard periodLabel == period.label else {
                if fields.isEmpty { stale.append(base) }
                continue  // an earlier period
            }
            let spent = Int64(fields["spent"] ?? "0") ?? 0
            let reserved = Settlement.liveReservations(reservations, nowMs: nowMs, lifetime: Settlement.reservationLifetime)
            let burn = burnRate(fields, nowMs: nowMs, periodStartMs: period.startMs)
            var runsOut: Int64?
            if spent < budget.amountNanos, burn > 0 {
                let at = nowMs + Int64(Double(budget.amountNanos - spent) / Double(burn) * 3_600_000)
                if at < period.endMs { runsOut = at }
            } else if spent >= budget.amountNanos {
                runsOut = nowMs
            }
            rows.append(Row(budget: budget.name, per: budget.per.rawValue, scope: scope, period: period.label,
                            periodStartMs: period.startMs, periodEndMs: period.endMs, spentNanos: spent,
                            reservedNanos: reserved, amountNanos: budget.amountNanos, enforced: budget.enforce,
                            burnNanosPerHour: burn, runsOutMs: runsOut))
        }
        if !stale.isEmpty { _ = try? redis.command(["SREM", keys.budgetIndex] + stale) }
        rows.sort { ($0.budget, $0.scope) < ($1.budget, $1.scope) }
        return BudgetReport(rows: rows, nowMs: nowMs)
    }

    /// Spend per hour over the last hour, from the 10-minute buckets (`b<n>`): the buckets
    /// that overlap the last hour, over the time they cover (never before the period began).
    static func burnRate(_ fields: [String: String], nowMs: Int64, periodStartMs: Int64) -> Int64 {
        let bucketMs: Int64 = 600_000
        let from = max(nowMs - 3_600_000, periodStartMs)
        let firstBucket = from / bucketMs
        let lastBucket = nowMs / bucketMs
        var sum: Int64 = 0
        for bucket in firstBucket...max(firstBucket, lastBucket) {
            sum += Int64(fields["b\(bucket)"] ?? "0") ?? 0
        }
        // The buckets span from the start of the first one to now.
        let covered = max(nowMs - max(firstBucket * bucketMs, periodStartMs), 60_000)
        return Int64(Double(sum) / Double(covered) * 3_600_000)
    }
}

extension RedisValue {
    /// The texts of an array reply (empty for anything else).
    public var arrayTexts: [String] {
        guard case .array(let items) = self else { return [] }
        return items.compactMap(\.text)
    }
}
