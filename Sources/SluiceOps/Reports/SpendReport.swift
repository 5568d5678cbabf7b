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
    public var endpoints: EndpointReport

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
        return SpendReport(nowMs: endpoints.now, days: days, routes: routes,
                           keys: try UsageReport.read(redis: redis, keys: keys, dimension: "key", days: days),
                           tags: try names.sorted().map {
                               try UsageReport.read(redis: redis, keys: keys, dimension: "tag:" + $0, days: days)
                           },
                           budgets: try BudgetReport.read(config, redis: redis, keys: keys, nowMs: endpoints.now),
                           endpoints: endpoints)
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
