import Foundation
import SluiceCore
import SluiceGateway
import SluiceOps

/// The JSON forms of the usage, budget and spend reports (`--json`), one object per row.
enum ReportJSON {
    /// One usage group, its name under `key` (`route`, `tag:team`, or `group` in the spend
    /// report). By `endpoint`, also `errors` and `error_rate` (of the attempts, `requests`);
    /// by `route`, Sluice's response cache (`response_cache_lookups`, `_hits`, `_hit_ratio`).
    static func usage(_ row: UsageReport.Row, key: String, dimension: String) -> String {
        var extra = ""
        if dimension == "endpoint" {
            extra = "\"errors\":\(row.errors),\"error_rate\":\(row.errorRate.map { String(format: "%.4f", $0) } ?? "null"),"
        } else if dimension == "route" {
            extra = "\"response_cache_lookups\":\(row.responseCacheLookups),\"response_cache_hits\":\(row.responseCacheHits),"
                + "\"response_cache_hit_ratio\":\(row.responseCacheHitRatio.map { String(format: "%.4f", $0) } ?? "null"),"
        }
        return "{\(JSONText.quoted(key)):\(JSONText.quoted(row.group)),\"requests\":\(row.requests)," + extra
            + "\"prompt_tokens\":\(row.promptTokens),\"completion_tokens\":\(row.completionTokens),"
            + "\"total_tokens\":\(row.totalTokens),\"cache_read_tokens\":\(row.cacheReadTokens),"
            + "\"cache_write_tokens\":\(row.cacheWriteTokens),\"reasoning_tokens\":\(row.reasoningTokens),"
            + "\"cache_hit_ratio\":\(row.cacheHitRatio.map { String(format: "%.4f", $0) } ?? "null"),"
            + "\"cost\":\(Double(row.costMicros) / 1_000_000)}"
    }

    static func budget(_ row: BudgetReport.Row) -> String {
        let runsOut = row.runsOutMs.map { JSONText.quoted(iso($0)) } ?? "null"
        return "{\"budget\":\(JSONText.quoted(row.budget)),\"per\":\(JSONText.quoted(row.per)),"
            + "\"scope\":\(JSONText.quoted(row.scope)),\"period\":\(JSONText.quoted(row.period)),"
            + "\"period_end\":\(JSONText.quoted(iso(row.periodEndMs))),"
            + "\"spent_usd\":\(Money.fixed(Double(row.spentNanos) / 1e9, 6)),"
            + "\"reserved_usd\":\(Money.fixed(Double(row.reservedNanos) / 1e9, 6)),"
            + "\"amount_usd\":\(Money.fixed(Double(row.amountNanos) / 1e9, 6)),"
            + "\"burn_usd_per_hour\":\(Money.fixed(Double(row.burnNanosPerHour) / 1e9, 6)),"
            + "\"runs_out_at\":\(runsOut),\"enforced\":\(row.enforced.map(String.init) ?? "null")}"
    }

    /// The whole spend report as one object: the window, each usage dimension's totals and
    /// days, the budgets (with their period's daily spend), the endpoints' attempts and
    /// failures over the window, and their live state.
    static func spend(_ report: SpendReport) -> String {
        func dimension(_ usage: UsageReport) -> String {
            let daily = zip(usage.days, usage.daily).map { day, rows in
                "{\"day\":\(JSONText.quoted(day)),\"rows\":["
                    + rows.values.sorted { $0.group < $1.group }.map { self.usage($0, key: "group", dimension: usage.dimension) }
                        .joined(separator: ",")
                    + "]}"
            }
            return "{\"dimension\":\(JSONText.quoted(usage.dimension)),\"totals\":["
                + usage.rows.map { self.usage($0, key: "group", dimension: usage.dimension) }.joined(separator: ",")
                + "],\"daily\":[" + daily.joined(separator: ",") + "]}"
        }
        return "{\"from\":\(JSONText.quoted(report.days.first ?? "")),\"to\":\(JSONText.quoted(report.days.last ?? "")),"
            + "\"generated_at\":\(JSONText.quoted(iso(report.nowMs))),"
            + "\"routes\":\(dimension(report.routes)),\"keys\":\(dimension(report.keys)),"
            + "\"tags\":[" + report.tags.map(dimension).joined(separator: ",") + "],"
            + "\"budgets\":[" + zip(report.budgets.rows, report.budgetDays).map { row, days in
                // The budget's object with its period's spend per UTC day (the burn-down's points).
                String(budget(row).dropLast()) + ",\"daily_cost\":["
                    + days.map { "{\"day\":\(JSONText.quoted($0.day)),\"cost\":\(Double($0.costMicros) / 1_000_000)}" }
                        .joined(separator: ",") + "]}"
            }.joined(separator: ",") + "],"
            + "\"endpoint_attempts\":\(dimension(report.endpointUsage)),"
            + "\"endpoints\":[" + report.endpoints.rows.map(EndpointsCommand.json).joined(separator: ",") + "]}"
    }

    static func iso(_ ms: Int64) -> String { Date(timeIntervalSince1970: Double(ms) / 1000).ISO8601Format() }
}
