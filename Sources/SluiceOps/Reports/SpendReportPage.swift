import SluiceCore
import SluiceGateway

/// `SpendReport` as one self-contained HTML page: inline CSS and SVG, no script, no
/// network (a Content-Security-Policy of `default-src 'none'` says so to the browser).
/// Every figure is also in a `data-` attribute of its table row, for tests and scrapers.
public enum SpendReportPage {
    public static func render(_ report: SpendReport) -> String {
        var page = Page()
        page.head(report)
        page.dailySpend(report.routes, title: "Spend per day by route", anchor: "route")
        for tag in report.tags {
            page.dailySpend(tag, title: "Spend per day by tag \(tag.dimension.dropFirst(4))", anchor: tag.dimension)
        }
        page.budgets(report.budgets, days: report.budgetDays)
        page.usageTable(report.routes, title: "Top routes", column: "Route", attribute: "route")
        page.usageTable(report.keys, title: "Top keys", column: "Key", attribute: "key")
        page.cacheHits(report.routes)
        page.endpoints(report.endpointUsage, live: report.endpoints)
        page.text += "</main></body></html>\n"
        return page.text
    }
}

/// The page under construction.
private struct Page {
    var text = ""

    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                          "#9c755f", "#bab0ac"]

    mutating func head(_ report: SpendReport) {
        let requests = report.routes.rows.reduce(0) { $0 + $1.requests }
        let tokens = report.routes.rows.reduce(0) { $0 + $1.totalTokens }
        let cost = report.routes.rows.reduce(0) { $0 + $1.costMicros }
        let window = "\(report.days.first ?? "") – \(report.days.last ?? "") (UTC)"
        text += """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
            <title>Sluice spend report, \(escape(window))</title>
            <style>
            body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
            main{max-width:1040px;margin:0 auto;padding:24px}
            h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:0 0 12px}
            section{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:16px 20px;margin:16px 0}
            .muted{color:#5d6778}.figures{display:flex;gap:16px;flex-wrap:wrap}
            .figure{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:12px 16px;min-width:180px}
            .figure b{display:block;font-size:22px}
            table{border-collapse:collapse;width:100%}th,td{padding:5px 8px;text-align:right;border-bottom:1px solid #eceff3}
            th:first-child,td:first-child{text-align:left}th{font-weight:600;color:#5d6778}
            .bar{background:#e8ecf2;border-radius:3px;height:10px;min-width:120px}.bar span{display:block;height:10px;border-radius:3px;background:#4e79a7}
            .legend{display:flex;flex-wrap:wrap;gap:4px 14px;margin-top:6px}.legend i{display:inline-block;width:10px;height:10px;margin-right:5px;border-radius:2px}
            .bad{color:#b3261e;font-weight:600}.ok{color:#2e7d32}
            svg text{font:11px system-ui,sans-serif;fill:#5d6778}
            </style></head><body><main>
            <h1>Sluice spend report</h1>
            <p class="muted">\(escape(window)) · generated \(escape(AuditRecord.iso8601(report.nowMs))) from the usage totals in Redis</p>
            <div class="figures">
            <div class="figure" data-total="cost" data-value="\(cost)">Spend<b>\(money(micros: cost))</b></div>
            <div class="figure" data-total="requests" data-value="\(requests)">Requests<b>\(requests)</b></div>
            <div class="figure" data-total="tokens" data-value="\(tokens)">Tokens<b>\(tokens)</b></div>
            </div>

            """
    }

    /// A stacked bar per day: the eight costliest groups, the rest as "other".
    mutating func dailySpend(_ usage: UsageReport, title: String, anchor: String) {
        text += "<section id=\"\(escape(anchor))\"><h2>\(escape(title))</h2>\n"
        let ranked = usage.rows.sorted { ($0.costMicros, $1.group) > ($1.costMicros, $0.group) }
        guard ranked.contains(where: { $0.costMicros > 0 || $0.requests > 0 }) else {
            text += "<p class=\"muted\">No calls in this window.</p></section>\n"
            return
        }
        var groups = ranked.prefix(8).map(\.group)
        let other = ranked.count > 8
        if other { groups.append("other") }
        // Cost per day per series (requests when nothing cost anything: a free mock).
        let useCost = ranked.contains { $0.costMicros > 0 }
        func amount(_ row: UsageReport.Row?) -> Double { Double(useCost ? row?.costMicros ?? 0 : row?.requests ?? 0) }
        let stacks: [[Double]] = usage.daily.map { day in
            var values = groups.prefix(8).map { amount(day[$0]) }
            if other {
                values.append(day.filter { !groups.contains($0.key) }.values.reduce(0) { $0 + amount($1) })
            }
            return values
        }
        let peak = max(stacks.map { $0.reduce(0, +) }.max() ?? 0, 1)
        let width = 960.0, height = 240.0, left = 64.0, bottom = 24.0
        let plot = width - left - 8, step = plot / Double(max(stacks.count, 1)), barWidth = max(step * 0.7, 1)
        text += "<svg role=\"img\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\">"
        for tick in 0...4 {
            let value = peak * Double(tick) / 4
            let y = (height - bottom) * (1 - Double(tick) / 4) + 4
            text += "<line x1=\"\(left)\" x2=\"\(width - 8)\" y1=\"\(fixed(y))\" y2=\"\(fixed(y))\" stroke=\"#eceff3\"/>"
            text += "<text x=\"\(left - 6)\" y=\"\(fixed(y + 4))\" text-anchor=\"end\">"
                + (useCost ? axisMoney(micros: value) : String(Int(value))) + "</text>"
        }
        for (index, stack) in stacks.enumerated() {
            var top = height - bottom + 4
            let x = left + Double(index) * step + (step - barWidth) / 2
            for (series, value) in stack.enumerated() where value > 0 {
                let barHeight = value / peak * (height - bottom)
                top -= barHeight
                let label = "\(usage.days[index]) \(groups[series]): " + (useCost ? money(micros: Int(value)) : "\(Int(value)) requests")
                text += "<rect data-day=\"\(usage.days[index])\" data-group=\"\(escape(groups[series]))\" data-value=\"\(Int(value))\" "
                    + "x=\"\(fixed(x))\" y=\"\(fixed(top))\" width=\"\(fixed(barWidth))\" height=\"\(fixed(barHeight))\" "
                    + "fill=\"\(Self.palette[series % Self.palette.count])\"><title>\(escape(label))</title></rect>"
            }
            if stacks.count <= 16 || index % max(stacks.count / 8, 1) == 0 {
                text += "<text x=\"\(fixed(x + barWidth / 2))\" y=\"\(fixed(height - 6))\" text-anchor=\"middle\">"
                    + "\(escape(String(usage.days[index].dropFirst(5))))</text>"
            }
        }
        text += "</svg>\n<div class=\"legend\">"
        for (series, group) in groups.enumerated() {
            text += "<span><i style=\"background:\(Self.palette[series % Self.palette.count])\"></i>\(escape(group))</span>"
        }
        text += "</div>" + (useCost ? "" : "<p class=\"muted\">Nothing cost anything in this window: bars show requests.</p>")
        text += "</section>\n"
    }

    /// Each budget: spent of the amount, a burn-down over its period, and the forecast at
    /// the last hour's burn rate.
    mutating func budgets(_ report: BudgetReport, days: [[(day: String, costMicros: Int)]]) {
        text += "<section id=\"budgets\"><h2>Budgets</h2>\n"
        guard !report.rows.isEmpty else {
            text += "<p class=\"muted\">No budget has spent anything this period.</p></section>\n"
            return
        }
        for (index, row) in report.rows.enumerated() {
            let used = row.amountNanos > 0 ? Double(row.spentNanos) / Double(row.amountNanos) : 0
            let runsOut = row.runsOutMs.map { AuditRecord.iso8601($0) } ?? "not this period"
            text += "<div data-budget=\"\(escape(row.budget))\" data-scope=\"\(escape(row.scope))\" "
                + "data-spent-nanos=\"\(row.spentNanos)\" data-amount-nanos=\"\(row.amountNanos)\">"
            text += "<p><b>\(escape(row.budget))</b> (\(escape(row.per)) \(escape(row.scope)), \(escape(row.period))): "
                + "<span class=\"\(used >= 0.8 ? "bad" : "ok")\">\(money(nanos: row.spentNanos)) of \(money(nanos: row.amountNanos)) "
                + "(\(fixed(used * 100, 1))%)</span> · burn \(money(nanos: row.burnNanosPerHour))/hour · runs out: \(escape(runsOut))"
                + (row.enforced == false ? " · alert only" : "") + "</p>"
            text += burnDown(row, days: index < days.count ? days[index] : [], nowMs: report.nowMs) + "</div>\n"
        }
        text += "<p class=\"muted\">Solid: what is left, at the end of each UTC day of the period so far (from the "
            + "daily usage totals) and now (the budget's counter). Dashed: the forecast at the last hour's burn rate. "
            + "Dotted: an even spend over the period.</p></section>\n"
    }

    private func burnDown(_ row: BudgetReport.Row, days: [(day: String, costMicros: Int)], nowMs: Int64) -> String {
        let width = 960.0, height = 120.0, left = 64.0, top = 8.0, bottom = 20.0
        let span = Double(max(row.periodEndMs - row.periodStartMs, 1))
        let amount = Double(max(row.amountNanos, 1))
        func x(_ ms: Int64) -> Double { left + (width - left - 8) * min(max(Double(ms - row.periodStartMs) / span, 0), 1) }
        func y(_ remaining: Double) -> Double { top + (height - top - bottom) * (1 - min(max(remaining / amount, 0), 1)) }
        let remaining = Double(row.amountNanos - row.spentNanos)
        var svg = "<svg role=\"img\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\">"
        svg += "<text x=\"\(left - 6)\" y=\"\(fixed(y(amount) + 4))\" text-anchor=\"end\">\(money(nanos: row.amountNanos))</text>"
        svg += "<text x=\"\(left - 6)\" y=\"\(fixed(y(0) + 4))\" text-anchor=\"end\">$0</text>"
        svg += "<line x1=\"\(left)\" x2=\"\(width - 8)\" y1=\"\(fixed(y(0)))\" y2=\"\(fixed(y(0)))\" stroke=\"#dde1e7\"/>"
        svg += "<line x1=\"\(fixed(x(row.periodStartMs)))\" y1=\"\(fixed(y(amount)))\" x2=\"\(fixed(x(row.periodEndMs)))\" "
            + "y2=\"\(fixed(y(0)))\" stroke=\"#bab0ac\" stroke-dasharray=\"2 4\"/>"
        // The end of each whole UTC day before now, then now.
        var points = [(x(row.periodStartMs), y(amount))]
        var spent = 0.0
        for (index, day) in days.enumerated() {
            spent += Double(day.costMicros) * 1000
            let dayEnd = (row.periodStartMs / 86_400_000 + Int64(index) + 1) * 86_400_000
            guard dayEnd < nowMs else { break }
            points.append((x(dayEnd), y(amount - spent)))
        }
        points.append((x(nowMs), y(remaining)))
        let daily = days.map { "\($0.day)=\($0.costMicros)" }.joined(separator: " ")
        svg += "<polyline data-points=\"\(points.count)\" data-daily-cost-micros=\"\(daily)\" fill=\"none\" stroke=\"#4e79a7\" stroke-width=\"2.5\" points=\""
            + points.map { "\(fixed($0.0)),\(fixed($0.1))" }.joined(separator: " ") + "\"/>"
        for point in points.dropFirst().dropLast() {
            svg += "<circle cx=\"\(fixed(point.0))\" cy=\"\(fixed(point.1))\" r=\"2.5\" fill=\"#4e79a7\"/>"
        }
        if remaining > 0, row.burnNanosPerHour > 0 {
            let end = row.runsOutMs ?? row.periodEndMs
            let left = remaining - Double(row.burnNanosPerHour) * Double(end - nowMs) / 3_600_000
            svg += "<line x1=\"\(fixed(x(nowMs)))\" y1=\"\(fixed(y(remaining)))\" x2=\"\(fixed(x(end)))\" y2=\"\(fixed(y(left)))\" "
                + "stroke=\"#e15759\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>"
        }
        svg += "<circle cx=\"\(fixed(x(nowMs)))\" cy=\"\(fixed(y(remaining)))\" r=\"4\" fill=\"#4e79a7\"/>"
        svg += "<text x=\"\(left)\" y=\"\(fixed(height - 4))\">\(escape(AuditRecord.iso8601(row.periodStartMs).prefix(10)))</text>"
        svg += "<text x=\"\(width - 8)\" y=\"\(fixed(height - 4))\" text-anchor=\"end\">"
            + "\(escape(AuditRecord.iso8601(row.periodEndMs).prefix(10)))</text>"
        return svg + "</svg>"
    }

    mutating func usageTable(_ usage: UsageReport, title: String, column: String, attribute: String) {
        text += "<section id=\"top-\(attribute)s\"><h2>\(escape(title))</h2>\n"
        let ranked = usage.rows.sorted { ($0.costMicros, $0.requests, $1.group) > ($1.costMicros, $1.requests, $0.group) }
        guard !ranked.isEmpty else {
            text += "<p class=\"muted\">No calls in this window.</p></section>\n"
            return
        }
        let total = max(ranked.reduce(0) { $0 + $1.costMicros }, 1)
        text += "<table><tr><th>\(escape(column))</th><th>Requests</th><th>Prompt tokens</th><th>Completion tokens</th>"
            + "<th>Cost</th><th>Share of cost</th></tr>\n"
        for row in ranked.prefix(20) {
            let share = Double(row.costMicros) / Double(total)
            text += "<tr data-\(attribute)=\"\(escape(row.group))\" data-requests=\"\(row.requests)\" "
                + "data-prompt-tokens=\"\(row.promptTokens)\" data-completion-tokens=\"\(row.completionTokens)\" "
                + "data-cost-micros=\"\(row.costMicros)\"><td>\(escape(row.group))</td><td>\(row.requests)</td>"
                + "<td>\(row.promptTokens)</td><td>\(row.completionTokens)</td><td>\(money(micros: row.costMicros))</td>"
                + "<td><div class=\"bar\"><span style=\"width:\(fixed(share * 100, 1))%\"></span></div></td></tr>\n"
        }
        text += "</table>" + (ranked.count > 20 ? "<p class=\"muted\">\(ranked.count - 20) more not shown.</p>" : "")
        text += "</section>\n"
    }

    /// Sluice's response cache (hits ÷ lookups of the routes that have one), then the
    /// provider prompt cache's hit ratio per route: prompt tokens read from the cache ÷
    /// prompt tokens.
    mutating func cacheHits(_ usage: UsageReport) {
        let cached = usage.rows.filter { $0.responseCacheLookups > 0 }.sorted { $0.group < $1.group }
        text += "<section id=\"response-cache\"><h2>Response-cache hit ratio by route</h2>\n"
        if cached.isEmpty {
            text += "<p class=\"muted\">No route with a response cache had a lookup in this window.</p>"
        } else {
            text += "<table><tr><th>Route</th><th>Lookups</th><th>Hits</th><th>Hit ratio</th><th></th></tr>\n"
            for row in cached {
                let ratio = row.responseCacheHitRatio ?? 0
                text += "<tr data-response-cache-route=\"\(escape(row.group))\" data-lookups=\"\(row.responseCacheLookups)\" "
                    + "data-hits=\"\(row.responseCacheHits)\"><td>\(escape(row.group))</td><td>\(row.responseCacheLookups)</td>"
                    + "<td>\(row.responseCacheHits)</td><td>\(fixed(ratio * 100, 1))%</td>"
                    + "<td><div class=\"bar\"><span style=\"width:\(fixed(ratio * 100, 1))%;background:#76b7b2\"></span></div></td></tr>\n"
            }
            text += "</table>"
        }
        text += "<p class=\"muted\">Calls Sluice answered from its own cache without calling a provider, of the calls "
            + "that looked it up (Cache-Control: no-cache bypasses it).</p></section>\n"
        text += "<section id=\"cache\"><h2>Prompt-cache hit ratio by route</h2>\n"
        let rows = usage.rows.filter { $0.promptTokens > 0 }.sorted { $0.group < $1.group }
        guard !rows.isEmpty else {
            text += "<p class=\"muted\">No prompt tokens in this window.</p></section>\n"
            return
        }
        text += "<table><tr><th>Route</th><th>Prompt tokens</th><th>From the cache</th><th>Hit ratio</th><th></th></tr>\n"
        for row in rows {
            let ratio = row.cacheHitRatio ?? 0
            text += "<tr data-cache-route=\"\(escape(row.group))\" data-hit-ratio=\"\(fixed(ratio, 4))\"><td>\(escape(row.group))</td>"
                + "<td>\(row.promptTokens)</td><td>\(row.cacheReadTokens)</td><td>\(fixed(ratio * 100, 1))%</td>"
                + "<td><div class=\"bar\"><span style=\"width:\(fixed(ratio * 100, 1))%;background:#59a14f\"></span></div></td></tr>\n"
        }
        text += "</table></section>\n"
    }

    /// Each endpoint's upstream attempts and failures over the report's days (the daily
    /// usage totals), with its live state and trips.
    mutating func endpoints(_ usage: UsageReport, live: EndpointReport) {
        text += "<section id=\"endpoints\"><h2>Endpoint error rates (\(escape(usage.days.first ?? "")) – "
            + "\(escape(usage.days.last ?? "")))</h2>\n"
        var current: [String: EndpointReport.Row] = [:]
        for row in live.rows { current[row.route + " " + row.endpoint] = row }
        let names = Set(usage.rows.map(\.group)).union(current.keys).sorted()
        guard !names.isEmpty else {
            text += "<p class=\"muted\">No endpoint was called in this window.</p></section>\n"
            return
        }
        let totals = Dictionary(uniqueKeysWithValues: usage.rows.map { ($0.group, $0) })
        text += "<table><tr><th>Route / endpoint</th><th>Attempts</th><th>Failed</th><th>Error rate</th><th>State now</th>"
            + "<th>Trips</th><th></th></tr>\n"
        for name in names {
            let row = totals[name] ?? UsageReport.Row(group: name)
            let rate = row.errorRate ?? 0
            let space = name.firstIndex(of: " ") ?? name.endIndex
            let shown = row.errorRate.map { fixed($0 * 100, 1) + "%" } ?? "-"
            let state = current[name].map { "<td class=\"" + ($0.state == "healthy" ? "ok" : "bad") + "\">" + escape($0.state) + "</td>" }
                ?? "<td class=\"muted\">-</td>"
            var line = "<tr data-endpoint=\"\(escape(name))\" data-calls=\"\(row.requests)\" data-errors=\"\(row.errors)\" "
                + "data-error-rate=\"\(fixed(rate, 4))\">"
            line += "<td>\(escape(name[..<space])) / \(escape(name[space...].dropFirst()))</td><td>\(row.requests)</td>"
            line += "<td>\(row.errors)</td><td>\(shown)</td>" + state + "<td>\(current[name].map { String($0.trips) } ?? "-")</td>"
            line += "<td><div class=\"bar\"><span style=\"width:\(fixed(rate * 100, 1))%;background:#e15759\"></span></div></td></tr>\n"
            text += line
        }
        text += "</table><p class=\"muted\">Failed: no connection, a timeout, a cut or malformed answer, 408, 429 or 5xx "
            + "(as endpoint health counts them). Attempts before 2026-12-04 are not counted.</p></section>\n"
    }

    /// `$0.015`: two significant digits below a dollar, cents above.
    private func axisMoney(micros: Double) -> String {
        let dollars = micros / 1_000_000
        guard dollars > 0 else { return "$0" }
        if dollars >= 1 { return "$" + fixed(dollars, 2) }
        var places = 2
        while places < 9, dollars * pow10(places) < 10 { places += 1 }
        return "$" + fixed(dollars, places)
    }

    private func pow10(_ places: Int) -> Double { (0..<places).reduce(1.0) { value, _ in value * 10 } }

    private func money(micros: Int) -> String { Money.format(nanos: Int64(micros) * 1000) }
    private func money(nanos: Int64) -> String { Money.format(nanos: nanos) }
    private func fixed(_ value: Double, _ places: Int = 1) -> String { Money.fixed(value, places) }
}

/// Text made safe for HTML content and quoted attributes: tag values and names come from
/// clients.
func escape<S: StringProtocol>(_ text: S) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for character in text.unicodeScalars {
        switch character {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(character)
        }
    }
    return out
}
