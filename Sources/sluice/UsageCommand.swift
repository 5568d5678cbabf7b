import ArgumentParser
import Foundation
import SluiceCore
import SluiceGateway

/// `sluice usage`: requests, tokens and cost per group, from the usage totals in Redis.
struct UsageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage",
        abstract: "Requests, tokens and cost per route, key, model or tag value, from Redis.")

    @Option(help: "The configuration file (for the Redis address).") var config: String = "sluice.yaml"
    @Option(help: "Group by route, key, model or tag:NAME.") var by: String = "route"
    @Option(help: "How far back, in whole days (1d = today, in UTC).") var since: String = "7d"
    @Flag(help: "One JSON object per group, one per line.") var json = false

    func validate() throws {
        guard ["route", "key", "model"].contains(by) || (by.hasPrefix("tag:") && by.count > 4) else {
            throw ValidationError("--by must be route, key, model or tag:NAME")
        }
        guard days != nil else { throw ValidationError("--since takes a number of days, like 7d") }
    }

    private var days: Int? {
        let digits = since.hasSuffix("d") ? String(since.dropLast()) : since
        return Int(digits).flatMap { (1...3650).contains($0) ? $0 : nil }
    }

    func run() throws {
        let loaded = try ConfigFile.load(path: config)
        let report = try UsageReport.read(loaded.config, dimension: by, days: days ?? 7)
        if json {
            for row in report.rows {
                print("{\"\(by)\":\(JSONText.quoted(row.group)),\"requests\":\(row.requests),"
                      + "\"prompt_tokens\":\(row.promptTokens),\"completion_tokens\":\(row.completionTokens),"
                      + "\"total_tokens\":\(row.totalTokens),\"cost\":\(Double(row.costMicros) / 1_000_000)}")
            }
            return
        }
        let header = [by.uppercased(), "REQUESTS", "PROMPT", "COMPLETION", "TOTAL", "COST"]
        var lines = [header]
        for row in report.rows {
            lines.append([row.group, String(row.requests), String(row.promptTokens), String(row.completionTokens),
                          String(row.totalTokens), String(format: "%.4f", Double(row.costMicros) / 1_000_000)])
        }
        let widths = header.indices.map { column in lines.map { $0[column].count }.max() ?? 0 }
        print("\(report.days.first ?? "") .. \(report.days.last ?? "") (UTC)")
        for line in lines {
            print(zip(line, widths).map { $0.padded($1) }.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
    }
}
