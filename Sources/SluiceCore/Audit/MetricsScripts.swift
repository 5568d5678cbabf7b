/// Pool-wide Prometheus counters live in one Redis hash (`RedisKeys.metrics`), one field
/// per series (the series text with its labels), so every responder on every host adds to
/// the same figures and `/metrics` can answer for the whole pool.
public enum MetricsScripts {
    /// `KEYS[1]`: the metrics hash, `KEYS[2]`: the admitted tag values
    /// (`RedisKeys.metricsTagValues`); `ARGV[1]`: values admitted per tag, then series,
    /// increment, series, increment… A cost-by-tag series whose value is not yet admitted
    /// is admitted while its tag has fewer than `ARGV[1]` values, else counted as `other`:
    /// the series stay bounded pool-wide. Runs once a second per process (the flush), not per call.
    public static let add = RedisScript("""
        local cap = tonumber(ARGV[1])
        for i = 2, #ARGV, 2 do
          local series = ARGV[i]
          local tag, value = string.match(series, '^sluice_cost_usd_total{tag="([^"]*)",value="(.*)"}$')
          if tag and redis.call('HEXISTS', KEYS[2], tag .. '=' .. value) == 0 then
            if value ~= 'other' and (tonumber(redis.call('HGET', KEYS[2], '#' .. tag)) or 0) < cap then
              redis.call('HSET', KEYS[2], tag .. '=' .. value, '1')
              redis.call('HINCRBY', KEYS[2], '#' .. tag, 1)
            else
              series = 'sluice_cost_usd_total{tag="' .. tag .. '",value="other"}'
            end
          end
          redis.call('HINCRBYFLOAT', KEYS[1], series, ARGV[i + 1])
        end
        return 1
        """)

    /// Upper bounds of the latency histograms, in seconds.
    public static let buckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

    /// The series one finished call adds to (histograms store per-bucket counts; `/metrics`
    /// makes them cumulative). `metricTags`: the tags whose values get a cost series
    /// (`AuditConfig.metricTags`; `-` for a call without the tag).
    public static func increments(for record: AuditRecord,
                                  metricTags: [String] = []) -> [(series: String, amount: String)] {
        var out: [(series: String, amount: String)] = []
        eachSeries(of: record, metricTags: metricTags) { series, amount in out.append((series.text, amount.text)) }
        return out
    }

    /// The series of many calls' records added up, as `increments(for:)` gives them, for one
    /// flush of the metrics buffer. A settler adds every record of a batch here: each series'
    /// text is made once and kept (up to `keptNames` of them), not made again for every call
    /// with its amounts written as text and read back.
    public struct Sums: Sendable {
        /// Each series and its total.
        public private(set) var values: [String: Double] = [:]
        private var names: [Series: String] = [:]
        private let metricTags: [String]
        /// Series texts kept at most; past it the table starts afresh (labels such as key ids
        /// and tag values are not bounded).
        static let keptNames = 4096

        public init(metricTags: [String] = []) {
            self.metricTags = metricTags
        }

        public var isEmpty: Bool { values.isEmpty }

        /// Adds `record`'s series to the totals.
        public mutating func add(_ record: AuditRecord) {
            MetricsScripts.eachSeries(of: record, metricTags: metricTags) { series, amount in
                let name: String
                if let known = names[series] {
                    name = known
                } else {
                    if names.count >= Self.keptNames { names.removeAll(keepingCapacity: true) }
                    name = series.text
                    names[series] = name
                }
                values[name, default: 0] += amount.value
            }
        }

        /// Empties the totals, keeping the series texts for the next batch.
        public mutating func removeAll() {
            values.removeAll(keepingCapacity: true)
        }
    }

    /// One series, by its labels' values (not yet escaped).
    enum Series: Hashable, Sendable {
        case requests(route: String, endpoint: String, status: Int)
        /// `histogram`: `histograms` index; `bound`: `buckets` index, `buckets.count` for +Inf.
        case bucket(histogram: Int, route: String, bound: Int)
        case sum(histogram: Int, route: String)
        case count(histogram: Int, route: String)
        case tokens(route: String, kind: String)
        case promptCache(route: String, key: String, kind: String)
        case cost(route: String)
        case costByTag(tag: String, value: String)
        case fallbacks(route: String)
        case attempt(route: String, endpoint: String, result: String)
        case incomplete(route: String)

        /// One name a line, each followed by `",` (scripts/prometheus-check finds exported names so).
        static let histograms = [
            "sluice_request_duration_seconds",
            "sluice_time_to_first_byte_seconds",
        ]

        /// The series as `/metrics` and the metrics hash name it.
        var text: String {
            switch self {
            case let .requests(route, endpoint, status):
                return "sluice_requests_total{route=\(label(route)),endpoint=\(label(endpoint)),status=\"\(status)\"}"
            case let .bucket(histogram, route, bound):
                let le = bound < buckets.count ? String(buckets[bound]) : "+Inf"
                return "\(Self.histograms[histogram])_bucket{route=\(label(route)),le=\"\(le)\"}"
            case let .sum(histogram, route):
                return "\(Self.histograms[histogram])_sum{route=\(label(route))}"
            case let .count(histogram, route):
                return "\(Self.histograms[histogram])_count{route=\(label(route))}"
            case let .tokens(route, kind):
                return "sluice_tokens_total{route=\(label(route)),kind=\"\(kind)\"}"
            case let .promptCache(route, key, kind):
                return "sluice_prompt_cache_tokens_total{route=\(label(route)),key=\(label(key)),kind=\"\(kind)\"}"
            case let .cost(route):
                return "sluice_cost_total{route=\(label(route))}"
            case let .costByTag(tag, value):
                return "sluice_cost_usd_total{tag=\"\(tag)\",value=\(label(value))}"
            case let .fallbacks(route):
                return "sluice_fallbacks_total{route=\(label(route))}"
            case let .attempt(route, endpoint, result):
                return "sluice_upstream_attempts_total{route=\(label(route)),endpoint=\(label(endpoint)),result=\(label(result))}"
            case let .incomplete(route):
                return "sluice_streams_incomplete_total{route=\(label(route))}"
            }
        }

        /// A label value, quoted, with `\\`, `"` and newlines escaped.
        private func label(_ value: String) -> String {
            if !value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == 10 }) {
                return "\"" + value + "\""
            }
            var out = ""
            for scalar in value.unicodeScalars {
                switch scalar {
                case "\\": out += "\\\\"
                case "\"": out += "\\\""
                case "\n": out += "\\n"
                default: out.unicodeScalars.append(scalar)
                }
            }
            return "\"" + out + "\""
        }
    }

    /// An increment: a count or token number, or seconds or dollars.
    enum Amount {
        case int(Int)
        case double(Double)

        var text: String {
            switch self {
            case .int(let value): return String(value)
            case .double(let value): return String(value)
            }
        }

        var value: Double {
            switch self {
            case .int(let value): return Double(value)
            case .double(let value): return value
            }
        }
    }

    /// Calls `body` with each series `record` adds to, and the amount, in `increments` order.
    static func eachSeries(of record: AuditRecord, metricTags: [String], _ body: (Series, Amount) -> Void) {
        let route = record.route ?? "-"
        body(.requests(route: route, endpoint: record.endpoint ?? "-", status: record.status), .int(1))
        func observe(_ histogram: Int, _ ms: Int) {
            let seconds = Double(ms) / 1000
            body(.bucket(histogram: histogram, route: route, bound: buckets.firstIndex { seconds <= $0 } ?? buckets.count),
                 .int(1))
            body(.sum(histogram: histogram, route: route), .double(seconds))
            body(.count(histogram: histogram, route: route), .int(1))
        }
        observe(0, record.latencyMs)
        if record.stream, let ttfb = record.ttfbMs { observe(1, ttfb) }
        if let prompt = record.promptTokens, prompt > 0 { body(.tokens(route: route, kind: "prompt"), .int(prompt)) }
        if let completion = record.completionTokens, completion > 0 {
            body(.tokens(route: route, kind: "completion"), .int(completion))
        }
        for (kind, tokens) in [("cache_read", record.cacheReadTokens), ("cache_write", record.cacheWriteTokens),
                               ("cache_write_1h", record.cacheWrite1hTokens), ("reasoning", record.reasoningTokens)] {
            if let tokens, tokens > 0 { body(.tokens(route: route, kind: kind), .int(tokens)) }
        }
        // Per key and route: the prompt cache's share of the prompt (`/metrics` adds the ratio).
        if let prompt = record.promptTokens, prompt > 0 {
            let key = record.keyId ?? record.principal.map { "principal:" + $0 } ?? "-"
            body(.promptCache(route: route, key: key, kind: "prompt"), .int(prompt))
            if let read = record.cacheReadTokens, read > 0 {
                body(.promptCache(route: route, key: key, kind: "cache_read"), .int(read))
            }
        }
        if let cost = record.cost, cost > 0 {
            body(.cost(route: route), .double(cost))
            for tag in metricTags {
                body(.costByTag(tag: tag, value: record.tags[tag] ?? "-"), .double(cost))
            }
        }
        if record.attempts.count > 1 { body(.fallbacks(route: route), .int(1)) }
        for attempt in record.attempts {
            body(.attempt(route: route, endpoint: attempt.endpoint, result: attempt.error), .int(1))
        }
        if record.streamCompleted == false { body(.incomplete(route: route), .int(1)) }
    }
}
