import SluiceCore
import SluiceGateway
import SluiceRedis

/// What `sluice report` puts on its page: usage per day by route, key and every tag seen in
/// the window, budgets with their burn rate, and endpoint health, read from Redis.
public struct SpendReport {
    /// Redis's clock when the report was read (ms since the epoch).
    public var nowMs: Int64
    public var days: [String]
    public var routes: UsageReport
    public var keys: UsageReport
    /// One per tag name with usage in the window, by name.
    public var tags: [UsageReport]
    public var budgets: BudgetReport
    /// Per budget row (in `budgets.rows` order): spend by UTC day of its period so far,
    /// from the usage totals of the dimension it counts (`budgetDimension`).
    public var budgetDays: [[(day: String, costMicros: Int)]]
    /// The live health of each endpoint (state, trips).
    public var endpoints: EndpointReport
    /// Upstream attempts and failures per `<route> <endpoint>` over `days`.
    public var endpointUsage: UsageReport

    /// Reads `days` UTC days ending today. `tagNames`: the tags to chart (`nil`: every tag
    /// with usage in the window, found with `SCAN`). Without a config (`--redis`), the
    /// budgets and endpoints are the ones Redis holds counters for.
    public static func read(_ config: GatewayConfig?, redis redisConfig: RedisConfig, days count: Int,
                            tagNames: [String]? = nil) throws -> SpendReport {
        let redis = RedisConnection(config: redisConfig)
        defer { redis.close() }
        let keys = RedisKeys(prefix: redisConfig.keyPrefix)
        let days = try UsageReport.recentDays(count, redis: redis)
        let names = try tagNames ?? tagDimensions(redis: redis, keys: keys, days: Set(days))
        let routes = try UsageReport.read(redis: redis, keys: keys, dimension: "route", days: days)
        let endpoints = try EndpointReport.read(config, redis: redis, keys: keys)
        let budgets = try BudgetReport.read(config, redis: redis, keys: keys, nowMs: endpoints.now)
        var read: [String: UsageReport] = [:]
        let budgetDays = try budgets.rows.map { row -> [(day: String, costMicros: Int)] in
            let (dimension, group) = budgetDimension(per: row.per, scope: row.scope)
            let periodDays = utcDays(from: row.periodStartMs, to: endpoints.now)
            let cacheKey = dimension + " " + (periodDays.first ?? "")
            let usage = try read[cacheKey] ?? UsageReport.read(redis: redis, keys: keys, dimension: dimension, days: periodDays)
            read[cacheKey] = usage
            return zip(usage.days, usage.daily).map { day, rows in
                (day, group.map { rows[$0]?.costMicros ?? 0 } ?? rows.values.reduce(0) { $0 + $1.costMicros })
            }
        }
        return SpendReport(nowMs: endpoints.now, days: days, routes: routes,
                           keys: try UsageReport.read(redis: redis, keys: keys, dimension: "key", days: days),
                           tags: try names.sorted().map {
                               try UsageReport.read(redis: redis, keys: keys, dimension: "tag:" + $0, days: days)
                           },
                           budgets: budgets, budgetDays: budgetDays, endpoints: endpoints,
                           endpointUsage: try UsageReport.read(redis: redis, keys: keys, dimension: "endpoint", days: days))
    }

    /// The usage dimension and group a budget scope's spend is counted in (`nil` group:
    /// every group, for `per: gateway`).
    static func budgetDimension(per: String, scope: String) -> (dimension: String, group: String?) {
        switch per {
        case "route": return ("route", scope)
        case "key": return ("key", scope)
        case "principal": return ("key", "principal:" + scope)
        case "tag":
            let equals = scope.firstIndex(of: "=") ?? scope.endIndex
            return ("tag:" + scope[..<equals], String(scope[equals...].dropFirst()))
        default: return ("route", nil)
        }
    }

    /// The UTC days (`yyyy-mm-dd`) from the one holding `fromMs` to the one holding `toMs`
    /// (at most 400).
    static func utcDays(from fromMs: Int64, to toMs: Int64) -> [String] {
        let first = fromMs / 86_400_000, last = max(first, toMs / 86_400_000)
        return (first...min(last, first + 399)).map { String(AuditRecord.iso8601($0 * 86_400_000).prefix(10)) }
    }

    /// Tag names with usage on one of `days`: fields `tag:<name>=…` of the day's hash, and
    /// hashes `<prefix>:usage:<day>:tag:<name>` of the layout before 2026-12-04.
    public static func tagDimensions(redis: RedisConnection, keys: RedisKeys, days: Set<String>) throws(RedisError) -> [String] {
        var names = Set<String>()
        for day in days.sorted() {
            try UsageReport.scan(redis: redis, key: keys.usage(day: day), match: "tag:*") { field, _ in
                guard let equals = field.firstIndex(of: "=") else { return }
                names.insert(String(field[field.index(field.startIndex, offsetBy: 4)..<equals]))
            }
        }
        return try legacyTagDimensions(redis: redis, keys: keys, days: days, into: names)
    }

    private static func legacyTagDimensions(redis: RedisConnection, keys: RedisKeys, days: Set<String>,
                                            into found: Set<String>) throws(RedisError) -> [String] {
        let pattern = keys.usage(day: "*", dimension: "tag:*")
        let prefix = keys.usage(day: "", dimension: "").dropLast()  // "<prefix>:usage:"
        var names = found
        try UsageReport.pages(redis: redis, command: ["SCAN"], match: pattern) { keys in
            for key in keys where key.hasPrefix(prefix) {
                let rest = key.dropFirst(prefix.count)       // "<day>:tag:<name>"
                guard let colon = rest.firstIndex(of: ":"), days.contains(String(rest[..<colon])) else { continue }
                let dimension = rest[rest.index(after: colon)...]
                if dimension.hasPrefix("tag:") { names.insert(String(dimension.dropFirst(4))) }
            }
        }
        return names.sorted()
    }
}
