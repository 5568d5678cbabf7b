import SluiceCore
import SluiceRedis

/// `GET /metrics`: Prometheus text for the whole pool, read from Redis in one pipelined
/// round trip — counters every responder adds to (`MetricsScripts`), each live process's
/// thread and spool figures, endpoint health, and the audit stream's length and drain lag.
enum MetricsPage {
    static func render(context: WorkerContext, redis: RedisConnection) throws(RedisError) -> String {
        let keys = context.redisKeys
        let replies = try redis.pipeline([["HGETALL", keys.metrics], ["HGETALL", keys.metricsProcesses], ["TIME"],
                                          ["XLEN", keys.auditStream], ["XINFO", "GROUPS", keys.auditStream]],
                                         idempotent: true)
        var out = ""
        counters(replies[0].fieldMap, into: &out)
        cacheHitRatios(replies[0].fieldMap, into: &out)

        guard case .array(let time) = replies[2], let seconds = time.first?.integer else {
            throw RedisError(.server, "unexpected reply to TIME")
        }
        let nowMs = Int64(seconds) * 1000
        var busy = 0, idle = 0, processes = 0
        var spool: [(String, Int)] = []
        for (process, value) in replies[1].fieldMap.sorted(by: { $0.key < $1.key }) {
            let parts = value.split(separator: " ").compactMap { Int64($0) }
            guard parts.count == 4, nowMs - parts[3] < 5_000 else { continue }  // gone or stopped
            processes += 1
            busy += Int(parts[0])
            idle += Int(parts[1])
            spool.append((process, Int(parts[2])))
        }
        out += "# HELP sluice_responder_processes Responder processes reporting in the last 5 s.\n"
        out += "# TYPE sluice_responder_processes gauge\nsluice_responder_processes \(processes)\n"
        out += "# HELP sluice_responder_threads Responder threads, busy serving a request or idle.\n"
        out += "# TYPE sluice_responder_threads gauge\n"
        out += "sluice_responder_threads{state=\"busy\"} \(busy)\nsluice_responder_threads{state=\"idle\"} \(idle)\n"
        out += "# HELP sluice_audit_spool_records Audit records waiting in a process's local spool for Redis.\n"
        out += "# TYPE sluice_audit_spool_records gauge\n"
        for (process, depth) in spool { out += "sluice_audit_spool_records{process=\"\(process)\"} \(depth)\n" }

        out += "# HELP sluice_audit_stream_entries Entries in the audit stream.\n"
        out += "# TYPE sluice_audit_stream_entries gauge\nsluice_audit_stream_entries \(replies[3].integer ?? 0)\n"
        out += "# HELP sluice_audit_drain_lag Entries not yet delivered to a drain group, and delivered but unacknowledged.\n"
        out += "# TYPE sluice_audit_drain_lag gauge\n"
        if case .array(let groups) = replies[4] {
            for group in groups {
                let fields = group.fieldMap
                guard let name = fields["name"] else { continue }
                out += "sluice_audit_drain_lag{group=\"\(name)\",kind=\"undelivered\"} \(fields["lag"] ?? "0")\n"
                out += "sluice_audit_drain_lag{group=\"\(name)\",kind=\"pending\"} \(fields["pending"] ?? "0")\n"
            }
        }

        if let directory = redis.sentinelDirectory { sentinel(directory, into: &out) }
        if !context.config.governance.budgets.isEmpty {
            budgets(try BudgetReport.read(context.config, redis: redis, nowMs: nowMs), into: &out)
        }

        let report = try EndpointReport.read(context.config, redis: redis)
        out += "# HELP sluice_endpoint_up 1 when the endpoint takes traffic, 0 while it cools down or is probed.\n"
        out += "# TYPE sluice_endpoint_up gauge\n"
        for row in report.rows {
            out += "sluice_endpoint_up{route=\"\(row.route)\",endpoint=\"\(row.endpoint)\",state=\"\(row.state)\"} "
                + (row.state == "healthy" ? "1" : "0") + "\n"
        }
        out += "# HELP sluice_endpoint_trips_total Times the endpoint was put in cooldown.\n"
        out += "# TYPE sluice_endpoint_trips_total counter\n"
        for row in report.rows {
            out += "sluice_endpoint_trips_total{route=\"\(row.route)\",endpoint=\"\(row.endpoint)\"} \(row.trips)\n"
        }
        return out
    }

    /// Each budget's spend and amount in its current period (alert at a share of the two).
    private static func budgets(_ report: BudgetReport, into out: inout String) {
        out += "# HELP sluice_budget_spent_usd Spend of the budget's current period, in US dollars.\n"
        out += "# TYPE sluice_budget_spent_usd gauge\n"
        var amounts = ""
        for row in report.rows {
            let labels = "budget=\"\(label(row.budget))\",per=\"\(label(row.per))\",scope=\"\(label(row.scope))\""
            out += "sluice_budget_spent_usd{\(labels)} \(Money.fixed(Double(row.spentNanos) / 1e9, 9))\n"
            amounts += "sluice_budget_amount_usd{\(labels)} \(Money.fixed(Double(row.amountNanos) / 1e9, 9))\n"
        }
        out += "# HELP sluice_budget_amount_usd The budget's amount per period, in US dollars.\n"
        out += "# TYPE sluice_budget_amount_usd gauge\n" + amounts
    }

    /// A label value in Prometheus's text format: backslash, quote and newline escaped.
    static func label(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    /// Under Redis Sentinel: the primary in use and the failovers Sentinel has made.
    private static func sentinel(_ directory: SentinelDirectory, into out: inout String) {
        let master = directory.sentinels.masterName
        let status = directory.status
        out += "# HELP sluice_redis_primary_info The Redis primary this responder writes to, as Redis Sentinel names it.\n"
        out += "# TYPE sluice_redis_primary_info gauge\n"
        if let primary = status.primary {
            out += "sluice_redis_primary_info{master=\"\(master)\",address=\"\(primary.description)\"} 1\n"
        }
        if let view = directory.sentinelView(), let epoch = view["config-epoch"] {
            out += "# HELP sluice_redis_failovers_total Failovers of the master (Sentinel's config epoch).\n"
            out += "# TYPE sluice_redis_failovers_total counter\n"
            out += "sluice_redis_failovers_total{master=\"\(master)\"} \(epoch)\n"
            out += "# HELP sluice_redis_replicas Replicas Sentinel knows for the master.\n"
            out += "# TYPE sluice_redis_replicas gauge\n"
            out += "sluice_redis_replicas{master=\"\(master)\"} \(view["num-slaves"] ?? "0")\n"
        }
    }

    /// The counter hash as Prometheus families; histogram buckets made cumulative.
    private static func counters(_ fields: [String: String], into out: inout String) {
        let help: [String: (type: String, help: String)] = [
            "sluice_requests_total": ("counter", "Calls answered, by route, endpoint and status."),
            "sluice_request_duration_seconds": ("histogram", "Time from the request to the end of the answer."),
            "sluice_time_to_first_byte_seconds": ("histogram", "Time until a stream's first event reached the client."),
            "sluice_tokens_total": ("counter",
                                    "Tokens by route and kind (prompt, completion; cache_read, cache_write, cache_write_1h are parts of prompt, reasoning of completion)."),
            "sluice_prompt_cache_tokens_total": ("counter", "Prompt tokens and the part read from the prompt cache, by route and key."),
            "sluice_cost_total": ("counter", "Cost of calls by route."),
            "sluice_cost_usd_total": ("counter",
                                      "Cost of calls in US dollars by value of each tag in audit.metric_tags (later values past audit.metric_tag_values: other)."),
            "sluice_fallbacks_total": ("counter", "Calls that needed more than one attempt."),
            "sluice_upstream_attempts_total": ("counter", "Upstream calls by endpoint and result."),
            "sluice_streams_incomplete_total": ("counter", "Streams that ended without their terminal event."),
            "sluice_admission_refused_total": ("counter", "Calls refused by a rate limit or a budget."),
            "sluice_admission_redis_unavailable_total": ("counter", "Admissions decided without Redis (fail-open / fail-closed)."),
            "sluice_budget_alerts_total": ("counter", "Budget thresholds reached."),
            "sluice_guardrail_total": ("counter", "Guardrail decisions by route, guardrail, direction and action."),
            "sluice_response_cache_total": ("counter", "Calls on routes with a response cache, by result (hit, miss, bypass)."),
            "sluice_otel_spans_total": ("counter", "Trace spans sent to the OTLP collector, dropped (queue full) or failed (export refused)."),
        ]
        var families: [String: [(series: String, value: Double)]] = [:]
        for (series, value) in fields {
            guard let number = Double(value) else { continue }
            let name = String(series.prefix { $0 != "{" })
            let family = ["_bucket", "_sum", "_count"].reduce(name) { $0.hasSuffix($1) ? String($0.dropLast($1.count)) : $0 }
            families[family, default: []].append((series, number))
        }
        for family in families.keys.sorted() {
            let info = help[family] ?? ("untyped", "")
            out += "# HELP \(family) \(info.help)\n# TYPE \(family) \(info.type)\n"
            let series = families[family] ?? []
            guard info.type == "histogram" else {
                for item in series.sorted(by: { $0.series < $1.series }) { out += "\(item.series) \(format(item.value))\n" }
                continue
            }
            // Per route: cumulative buckets in order of their bounds, then +Inf, _sum and _count.
            var byRoute: [String: [Double: Double]] = [:]
            var sums: [String: Double] = [:]
            var counts: [String: Double] = [:]
            for item in series {
                guard let open = item.series.firstIndex(of: "{") else { continue }
                let labels = String(item.series[item.series.index(after: open)...].dropLast())
                let route = String(labels.split(separator: ",").first { $0.hasPrefix("route=") } ?? "route=\"-\"")
                if item.series.contains("_bucket{"), let le = labels.split(separator: "le=").last {
                    let bound = Double(le.trimmingCharacters(in: ["\""])) ?? .infinity
                    byRoute[route, default: [:]][bound, default: 0] += item.value
                } else if item.series.contains("_sum{") {
                    sums[route, default: 0] += item.value
                } else if item.series.contains("_count{") {
                    counts[route, default: 0] += item.value
                }
            }
            for route in Set(byRoute.keys).union(counts.keys).sorted() {
                var running = 0.0
                let observed = byRoute[route] ?? [:]
                for bound in MetricsScripts.buckets {
                    running += observed[bound] ?? 0
                    out += "\(family)_bucket{\(route),le=\"\(bound)\"} \(format(running))\n"
                }
                running += observed[.infinity] ?? 0
                out += "\(family)_bucket{\(route),le=\"+Inf\"} \(format(running))\n"
                out += "\(family)_sum{\(route)} \(format(sums[route] ?? 0))\n"
                out += "\(family)_count{\(route)} \(format(counts[route] ?? running))\n"
            }
        }
    }

    /// `sluice_prompt_cache_hit_ratio{route,key}`: cached ÷ prompt tokens since the counters
    /// started (`rate()` of the two counters gives it over any window).
    private static func cacheHitRatios(_ fields: [String: String], into out: inout String) {
        let prefix = "sluice_prompt_cache_tokens_total{"
        var prompt: [String: Double] = [:]
        var read: [String: Double] = [:]
        for (series, value) in fields where series.hasPrefix(prefix) {
            guard let number = Double(value), let kind = series.range(of: ",kind=\"") else { continue }
            let labels = String(series[series.index(series.startIndex, offsetBy: prefix.count)..<kind.lowerBound])
            if series.hasSuffix("kind=\"prompt\"}") { prompt[labels, default: 0] += number } else { read[labels, default: 0] += number }
        }
        guard !prompt.isEmpty else { return }
        out += "# HELP sluice_prompt_cache_hit_ratio Prompt tokens served from the provider's prompt cache ÷ prompt tokens, by route and key.\n"
        out += "# TYPE sluice_prompt_cache_hit_ratio gauge\n"
        for (labels, total) in prompt.sorted(by: { $0.key < $1.key }) where total > 0 {
            out += "sluice_prompt_cache_hit_ratio{\(labels)} \(String(format: "%.4f", (read[labels] ?? 0) / total))\n"
        }
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
