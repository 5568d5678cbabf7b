import ArgumentParser
import Foundation
import SluiceCore
import SluiceGateway
import SluiceOps

/// `sluice usage [report]`: requests, tokens and cost per group; `sluice usage budgets`:
/// spend, burn rate and run-out time per budget.
struct UsageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage",
        abstract: "Usage per route, key, model or tag value; budgets and their burn rate.",
        subcommands: [UsageReportCommand.self, BudgetsCommand.self], defaultSubcommand: UsageReportCommand.self)
}

/// `sluice usage budgets`.
struct BudgetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "budgets",
        abstract: "Each budget's spend this period, its burn rate over the last hour, and when it runs out at that rate.")

    @OptionGroup var source: RedisSource
    @Flag(help: "One JSON object per budget, one per line.") var json = false

    func run() throws {
        let loaded = try source.loadConfig()
        let report = try BudgetReport.read(loaded?.config, redis: try source.redisConfig(loaded))
        if json {
            for row in report.rows { print(ReportJSON.budget(row)) }
            return
        }
        let header = ["BUDGET", "SCOPE", "PERIOD", "SPENT", "OF", "USED", "BURN/HOUR", "RUNS OUT"]
        var lines = [header]
        for row in report.rows {
            let used = row.amountNanos > 0 ? String(format: "%.1f%%", Double(row.spentNanos) / Double(row.amountNanos) * 100) : "-"
            let runsOut: String
            if row.exhausted {
                runsOut = row.enforced.map { $0 ? "spent (enforced)" : "spent (alert only)" } ?? "spent"
            } else {
                runsOut = row.runsOutMs.map(ReportJSON.iso) ?? "not this \(row.period.contains("W") ? "week" : "period")"
            }
            lines.append([row.budget, row.scope, row.period, Money.format(nanos: row.spentNanos),
                          Money.format(nanos: row.amountNanos), used, Money.format(nanos: row.burnNanosPerHour), runsOut])
        }
        let widths = header.indices.map { column in lines.map { $0[column].count }.max() ?? 0 }
        for line in lines {
            print(zip(line, widths).map { $0.padded($1) }.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
    }
}

/// `sluice usage [report]`: requests, tokens and cost per group, from the usage totals in Redis.
struct UsageReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Requests, tokens and cost per route, key, model or tag value, from Redis.")

    @OptionGroup var source: RedisSource
    @Option(help: "Group by route, key, key-route, model or tag:NAME.") var by: String = "route"
    @Option(help: "How far back, in whole days (1d = today, in UTC).") var since: String = "7d"
    @Flag(help: "One JSON object per group, one per line.") var json = false

    func validate() throws {
        guard ["route", "key", "key-route", "model", "endpoint"].contains(by) || (by.hasPrefix("tag:") && by.count > 4) else {
            throw ValidationError("--by must be route, key, key-route, model, endpoint or tag:NAME")
        }
        guard days != nil else { throw ValidationError("--since takes a number of days, like 7d") }
    }

    private var days: Int? {
        let digits = since.hasSuffix("d") ? String(since.dropLast()) : since
        return Int(digits).flatMap { (1...3650).contains($0) ? $0 : nil }
    }

    func run() throws {
        let report = try UsageReport.read(try source.redisConfig(), dimension: by, days: days ?? 7)
        if json {
            for row in report.rows { print(ReportJSON.usage(row, key: by, dimension: by)) }
            return
        }
        // By endpoint, REQUESTS counts upstream attempts, with the failed ones and their share.
        let endpoint = by == "endpoint"
        let header = [by.uppercased(), endpoint ? "ATTEMPTS" : "REQUESTS"] + (endpoint ? ["ERRORS", "ERROR_RATE"] : [])
            + ["PROMPT", "CACHE_READ", "CACHE_WRITE", "HIT", "COMPLETION", "REASONING", "TOTAL", "COST"]
        var lines = [header]
        for row in report.rows {
            let errors = endpoint ? [String(row.errors), row.errorRate.map { String(format: "%.1f%%", $0 * 100) } ?? "-"] : []
            lines.append([row.group, String(row.requests)] + errors
                         + [String(row.promptTokens), String(row.cacheReadTokens),
                            String(row.cacheWriteTokens), row.cacheHitRatio.map { String(format: "%.1f%%", $0 * 100) } ?? "-",
                            String(row.completionTokens), String(row.reasoningTokens),
                            String(row.totalTokens), String(format: "%.4f", Double(row.costMicros) / 1_000_000)])
        }
        let widths = header.indices.map { column in lines.map { $0[column].count }.max() ?? 0 }
        print("\(report.days.first ?? "") .. \(report.days.last ?? "") (UTC)")
        for line in lines {
            print(zip(line, widths).map { $0.padded($1) }.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
    }
}
