import ArgumentParser
import Foundation
import SluiceGateway
import SluiceOps

/// `sluice report`: the spend report as one self-contained HTML page.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write the spend report: one self-contained HTML page (inline SVG, no script, no network).",
        discussion: """
            Spend per day by route and by each tag seen in the window, budgets with their burn-down \
            and forecast, top routes and keys, the prompt-cache hit ratio per route, and endpoint \
            error rates. Reads Redis only: provider secrets in the config need not resolve, and with \
            --redis no config is read (budgets and endpoints are then the ones Redis holds counters for).
            """)

    @OptionGroup var source: RedisSource
    @Option(help: "How far back, in whole UTC days (1d = today).") var since: String = "30d"
    @Option(name: .customLong("tag"), help: "A tag to chart (repeatable; default: every tag with usage in the window).")
    var tags: [String] = []
    @Option(help: "Where to write the page (- for standard output).") var out: String = "sluice-report.html"
    @Flag(help: "Print the report's figures as one JSON object on standard output instead of writing the page.")
    var json = false

    func validate() throws {
        guard days != nil else { throw ValidationError("--since takes a number of days from 1 to 3650, like 30d") }
    }

    private var days: Int? {
        let digits = since.hasSuffix("d") ? String(since.dropLast()) : since
        return Int(digits).flatMap { (1...3650).contains($0) ? $0 : nil }
    }

    func run() throws {
        let loaded = try source.loadConfig()
        let report = try SpendReport.read(loaded?.config, redis: try source.redisConfig(loaded), days: days ?? 30,
                                          tagNames: tags.isEmpty ? nil : tags)
        if json {
            print(ReportJSON.spend(report))
            return
        }
        let page = SpendReportPage.render(report)
        if out == "-" {
            print(page, terminator: "")
        } else {
            try page.write(toFile: out, atomically: true, encoding: .utf8)
            printError("wrote \(out) (\(report.days.first ?? "") .. \(report.days.last ?? ""), \(page.utf8.count) bytes)")
        }
    }
}
