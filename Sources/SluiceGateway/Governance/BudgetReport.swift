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
        /// `nil` when read without the config (`--redis`): Redis does not record it.
        public var enforced: Bool?
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
        try read(config, redis: config.redis, nowMs: nowMs)
    }

    /// The same where the config may be missing (`--redis`): then the budgets are the
    /// counters Redis lists, described by their `about` field.
    public static func read(_ config: GatewayConfig?, redis: RedisConfig,
                            nowMs: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) throws -> BudgetReport {
        let connection = RedisConnection(config: redis)
        defer { connection.close() }
        return try read(config, redis: connection, keys: RedisKeys(prefix: redis.keyPrefix), nowMs: nowMs)
    }

    /// The same on an open connection (`/metrics` uses its own).
    public static func read(_ config: GatewayConfig, redis: RedisConnection, nowMs: Int64) throws(RedisError) -> BudgetReport {
        try read(config, redis: redis, keys: RedisKeys(prefix: config.redis.keyPrefix), nowMs: nowMs)
    }

    public static func read(_ config: GatewayConfig?, redis: RedisConnection, keys: RedisKeys,
                            nowMs: Int64) throws(RedisError) -> BudgetReport {
        guard let config else { return try readWithoutConfig(redis: redis, keys: keys, nowMs: nowMs) }
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
            rows.append(Row(budget: budget.name, per: budget.per.rawValue, scope: scope, period: period.label,
                            periodStartMs: period.startMs, periodEndMs: period.endMs, spentNanos: spent,
                            reservedNanos: reserved, amountNanos: budget.amountNanos, enforced: budget.enforce,
                            burnNanosPerHour: burn,
                            runsOutMs: runsOut(spent: spent, amount: budget.amountNanos, burn: burn, nowMs: nowMs,
                                               endMs: period.endMs)))
        }
        if !stale.isEmpty { _ = try? redis.command(["SREM", keys.budgetIndex] + stale) }
        rows.sort { ($0.budget, $0.scope) < ($1.budget, $1.scope) }
        return BudgetReport(rows: rows, nowMs: nowMs)
    }

    /// Every listed counter whose period (from its `about`: `name|per|scope|start|end`)
    /// holds `nowMs`; the amount is the one the settle script stored.
    static func readWithoutConfig(redis: RedisConnection, keys: RedisKeys, nowMs: Int64) throws(RedisError) -> BudgetReport {
        let ordered = try redis.checked(["SMEMBERS", keys.budgetIndex], idempotent: true).arrayTexts.sorted()
        let replies = try redis.pipeline(ordered.flatMap { [["HGETALL", $0 + ":h"], ["HGETALL", $0 + ":r"]] },
                                         idempotent: true)
        var rows: [Row] = []
        for (index, base) in ordered.enumerated() {
            let fields = replies[index * 2].fieldMap
            let about = (fields["about"] ?? "").split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            let parts = base.dropFirst(keys.budget("").count).split(separator: "|", omittingEmptySubsequences: false)
            guard about.count == 5, parts.count >= 3, let start = Int64(about[3]), let end = Int64(about[4]),
                  start <= nowMs, nowMs < end else { continue }
            let spent = Int64(fields["spent"] ?? "0") ?? 0
            let amount = Int64(fields["amount"] ?? "0") ?? 0
            let burn = burnRate(fields, nowMs: nowMs, periodStartMs: start)
            rows.append(Row(budget: about[0], per: about[1], scope: about[2], period: String(parts[2]),
                            periodStartMs: start, periodEndMs: end, spentNanos: spent,
                            reservedNanos: Settlement.liveReservations(replies[index * 2 + 1].fieldMap, nowMs: nowMs,
                                                                       lifetime: Settlement.reservationLifetime),
                            amountNanos: amount, enforced: nil, burnNanosPerHour: burn,
                            runsOutMs: runsOut(spent: spent, amount: amount, burn: burn, nowMs: nowMs, endMs: end)))
        }
        return BudgetReport(rows: rows, nowMs: nowMs)
    }

    /// When spending at `burn` per hour uses up `amount`: `nowMs` if already spent, `nil`
    /// if not before `endMs`.
    static func runsOut(spent: Int64, amount: Int64, burn: Int64, nowMs: Int64, endMs: Int64) -> Int64? {
        if spent >= amount { return nowMs }
        guard burn > 0 else { return nil }
        let at = nowMs + Int64(Double(amount - spent) / Double(burn) * 3_600_000)
        return at < endMs ? at : nil
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

extension RedisConnection {
    /// Runs a cursor command (`SCAN`, `HSCAN key`) with MATCH (and `extra`, e.g. `TYPE
    /// hash`) to its end, one page of reply items at a time (bounded: the cursor returns to 0).
    public func cursorPages(_ command: [String], match: String, extra: [String] = [],
                            _ page: ([String]) -> Void) throws(RedisError) {
        var cursor = "0"
        for _ in 0..<100_000 {
            guard case .array(let reply) = try checked(command + [cursor, "MATCH", match, "COUNT", "1000"] + extra,
                                                      idempotent: true),
                  reply.count == 2, let next = reply[0].text else { return }
            page(reply[1].arrayTexts)
            cursor = next
            if cursor == "0" { return }
        }
    }
}

extension RedisValue {
    /// The texts of an array reply (empty for anything else).
    public var arrayTexts: [String] {
        guard case .array(let items) = self else { return [] }
        return items.compactMap(\.text)
    }
}
