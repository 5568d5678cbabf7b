import SluiceCore
import SluiceGateway
import SluiceRedis

/// Requests, tokens and cost per group over recent days, from the daily usage totals the
/// audit append keeps in Redis (`RedisKeys.usage(day:)`): milliseconds, whatever the stream holds.
public struct UsageReport: Sendable {
    public struct Row: Sendable, Equatable {
        public var group: String
        public var requests = 0
        public var promptTokens = 0
        public var completionTokens = 0
        public var costMicros = 0
        /// Prompt tokens read from / written to the provider's prompt cache; output tokens
        /// spent reasoning.
        public var cacheReadTokens = 0
        public var cacheWriteTokens = 0
        public var reasoningTokens = 0
        /// Dimension `endpoint`: upstream attempts (`requests`) that failed.
        public var errors = 0
        /// Dimension `route`: calls on a route with a response cache that looked it up
        /// (not `bypass`), and those it answered.
        public var responseCacheLookups = 0
        public var responseCacheHits = 0
        public var totalTokens: Int { promptTokens + completionTokens }
        /// Failed attempts ÷ attempts (dimension `endpoint`).
        public var errorRate: Double? { requests > 0 ? Double(errors) / Double(requests) : nil }
        /// Sluice's own response cache: hits ÷ lookups (dimension `route`).
        public var responseCacheHitRatio: Double? {
            responseCacheLookups > 0 ? Double(responseCacheHits) / Double(responseCacheLookups) : nil
        }
        /// Prompt tokens served from the cache ÷ prompt tokens: when a client's caching
        /// collapses (its prompt prefix changes every call), this falls towards 0.
        public var cacheHitRatio: Double? { promptTokens > 0 ? Double(cacheReadTokens) / Double(promptTokens) : nil }

        public init(group: String) { self.group = group }
    }

    public var dimension: String
    public var days: [String]
    /// Totals over `days`, busiest first.
    public var rows: [Row]
    /// Each day's rows by group, in the order of `days`.
    public var daily: [[String: Row]]

    /// `dimension`: `route`, `key`, `key-route`, `model`, `endpoint` (`<route> <endpoint>`,
    /// counting upstream attempts) or `tag:NAME`; `days`: UTC days ending today.
    public static func read(_ config: RedisConfig, dimension: String, days count: Int) throws(RedisError) -> UsageReport {
        let redis = RedisConnection(config: config)
        defer { redis.close() }
        let days = try recentDays(count, redis: redis)
        return try read(redis: redis, keys: RedisKeys(prefix: config.keyPrefix), dimension: dimension, days: days)
    }

    /// The `count` UTC days ending today by Redis's clock, oldest first (`yyyy-mm-dd`).
    public static func recentDays(_ count: Int, redis: RedisConnection) throws(RedisError) -> [String] {
        guard case .array(let time) = try redis.checked(["TIME"], idempotent: true), let seconds = time.first?.integer else {
            throw RedisError(.server, "unexpected reply to TIME")
        }
        let today = Int64(seconds) * 1000
        return (0..<max(1, count)).reversed().map { String(AuditRecord.iso8601(today - Int64($0) * 86_400_000).prefix(10)) }
    }

    /// One dimension over `days`, on an open connection: each day's hash (its fields of
    /// this dimension, read with HSCAN so a large day never blocks Redis), plus the
    /// per-dimension hash of the layout before 2026-12-04.
    public static func read(redis: RedisConnection, keys: RedisKeys, dimension: String,
                            days: [String]) throws(RedisError) -> UsageReport {
        let legacy = try redis.pipeline(days.map { ["HGETALL", keys.usage(day: $0, dimension: dimension)] }, idempotent: true)
        var totals: [String: Row] = [:]
        var daily: [[String: Row]] = []
        let stem = dimension + "="
        for (index, day) in days.enumerated() {
            var rows: [String: Row] = [:]
            func count(_ field: Substring, _ value: String) {
                guard let bar = field.lastIndex(of: "|"), let number = Int(value) else { return }
                let group = String(field[..<bar])
                add(number, as: field[field.index(after: bar)...], to: &rows[group, default: Row(group: group)])
                add(number, as: field[field.index(after: bar)...], to: &totals[group, default: Row(group: group)])
            }
            for (field, value) in legacy[index].fieldMap { count(Substring(field), value) }
            // HSCAN may return a field twice (a rehash during the scan): each counted once.
            var fields: [String: String] = [:]
            try scan(redis: redis, key: keys.usage(day: day), match: globEscaped(stem) + "*") { field, value in
                if field.utf8.starts(with: stem.utf8) { fields[field] = value }
            }
            for (field, value) in fields {
                count(Substring(String(decoding: field.utf8.dropFirst(stem.utf8.count), as: UTF8.self)), value)
            }
            daily.append(rows)
        }
        let rows = totals.values.sorted { ($0.requests, $1.group) > ($1.requests, $0.group) }
        return UsageReport(dimension: dimension, days: days, rows: rows, daily: daily)
    }

    /// Every field and value of hash `key` matching `match`, by HSCAN (bounded).
    static func scan(redis: RedisConnection, key: String, match: String,
                     _ each: (String, String) -> Void) throws(RedisError) {
        try pages(redis: redis, command: ["HSCAN", key], match: match) { items in
            var index = 0
            while index + 1 < items.count {
                each(items[index], items[index + 1])
                index += 2
            }
        }
    }

    /// Runs a cursor command (`SCAN`, `HSCAN key`) with MATCH to its end, one page of reply
    /// items at a time (bounded: the cursor returns to 0).
    static func pages(redis: RedisConnection, command: [String], match: String,
                      _ page: ([String]) -> Void) throws(RedisError) {
        try redis.cursorPages(command, match: match, page)
    }

    /// `text` as a literal in a Redis glob pattern.
    static func globEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            if "*?[]\\".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }

    private static func add(_ number: Int, as field: Substring, to row: inout Row) {
        switch field {
        case "requests": row.requests += number
        case "prompt_tokens": row.promptTokens += number
        case "completion_tokens": row.completionTokens += number
        case "cost_micros": row.costMicros += number
        case "cache_read_tokens": row.cacheReadTokens += number
        case "cache_write_tokens": row.cacheWriteTokens += number
        case "reasoning_tokens": row.reasoningTokens += number
        case "errors": row.errors += number
        case "response_cache_lookups": row.responseCacheLookups += number
        case "response_cache_hits": row.responseCacheHits += number
        default: break
        }
    }
}
