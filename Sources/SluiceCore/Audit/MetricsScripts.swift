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
        func label(_ value: String?) -> String {
            let value = value ?? ""
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
        let route = label(record.route ?? "-")
        var out: [(String, String)] = [
            ("sluice_requests_total{route=\(route),endpoint=\(label(record.endpoint ?? "-")),status=\"\(record.status)\"}", "1"),
        ]
        func observe(_ name: String, _ ms: Int) {
            let seconds = Double(ms) / 1000
            let bound = buckets.first { seconds <= $0 }.map { String($0) } ?? "+Inf"
            out.append(("\(name)_bucket{route=\(route),le=\"\(bound)\"}", "1"))
            out.append(("\(name)_sum{route=\(route)}", String(seconds)))
            out.append(("\(name)_count{route=\(route)}", "1"))
        }
        observe("sluice_request_duration_seconds", record.latencyMs)
        if record.stream, let ttfb = record.ttfbMs { observe("sluice_time_to_first_byte_seconds", ttfb) }
        if let prompt = record.promptTokens, prompt > 0 {
            out.append(("sluice_tokens_total{route=\(route),kind=\"prompt\"}", String(prompt)))
        }
        if let completion = record.completionTokens, completion > 0 {
            out.append(("sluice_tokens_total{route=\(route),kind=\"completion\"}", String(completion)))
        }
        for (kind, tokens) in [("cache_read", record.cacheReadTokens), ("cache_write", record.cacheWriteTokens),
                               ("cache_write_1h", record.cacheWrite1hTokens), ("reasoning", record.reasoningTokens)] {
            if let tokens, tokens > 0 { out.append(("sluice_tokens_total{route=\(route),kind=\"\(kind)\"}", String(tokens))) }
        }
        // Per key and route: the prompt cache's share of the prompt (`/metrics` adds the ratio).
        if let prompt = record.promptTokens, prompt > 0 {
            let key = label(record.keyId ?? record.principal.map { "principal:" + $0 } ?? "-")
            out.append(("sluice_prompt_cache_tokens_total{route=\(route),key=\(key),kind=\"prompt\"}", String(prompt)))
            if let read = record.cacheReadTokens, read > 0 {
                out.append(("sluice_prompt_cache_tokens_total{route=\(route),key=\(key),kind=\"cache_read\"}", String(read)))
            }
        }
        if let cost = record.cost, cost > 0 {
            out.append(("sluice_cost_total{route=\(route)}", String(cost)))
            for tag in metricTags {
                out.append(("sluice_cost_usd_total{tag=\"\(tag)\",value=\(label(record.tags[tag] ?? "-"))}", String(cost)))
            }
        }
        if record.attempts.count > 1 { out.append(("sluice_fallbacks_total{route=\(route)}", "1")) }
        for attempt in record.attempts {
            out.append(("sluice_upstream_attempts_total{route=\(route),endpoint=\(label(attempt.endpoint)),result=\(label(attempt.error))}", "1"))
        }
        if record.streamCompleted == false { out.append(("sluice_streams_incomplete_total{route=\(route)}", "1")) }
        return out
    }
}
