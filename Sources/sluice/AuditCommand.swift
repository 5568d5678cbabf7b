import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SluiceCore
import SluiceGateway
import SluiceOps
import SluiceRedis

/// `sluice audit …`: the operator's view of the audit stream in Redis.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Follow the audit stream and verify its hash chain.",
        subcommands: [
            AuditTailCommand.self,
            AuditVerifyCommand.self,
            AuditDrainCommand.self,
        ])
}

/// `sluice audit tail`: one line per call as calls complete, or JSON lines.
struct AuditTailCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail", abstract: "Follow audit records as calls complete, optionally filtered.")

    @OptionGroup var source: RedisSource
    @Option(help: "Only records of these kinds: call, alert, admin (comma-separated; default: all).") var kind: String?
    @Option(help: "Only calls to this route.") var route: String?
    @Option(help: "Only calls with this tag, as k=v (repeat: all must match).") var tag: [String] = []
    @Option(help: "Only calls by this principal or key id.") var principal: String?
    @Option(help: "Only calls with this status: 200, 429, 4xx, 5xx (comma-separated for several).") var status: String?
    @Flag(help: "Print each record's JSON as stored, one per line.") var json = false
    // `.unconditional`, so a relative start such as `-10m` is read as the value, not as an option.
    @Option(parsing: .unconditional,
            help: "Where to start: now, a stream id, an ISO 8601 time or -10m / -2h (inclusive).") var from = "now"
    @Option(help: "Stop after this many records.") var count: Int?

    func validate() throws {
        guard AuditTail.Start(parsing: from) != nil else {
            throw ValidationError("--from must be now, a stream id (1795…-0), an ISO 8601 time or -10m / -2h")
        }
        _ = try filter()
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        let loaded = try source.loadConfig()
        let redis = try source.redisConfig(loaded)
        let tail = try AuditTail(redis: redis, stream: RedisKeys(prefix: redis.keyPrefix).auditStream,
                                 from: AuditTail.Start(parsing: from) ?? .now, filter: try filter())
        let colour = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
        let routes = loaded?.config.routes.values.map { $0 } ?? []
        var line = AuditLine(colour: colour, routes: routes.map(\.name), endpoints: routes.flatMap { $0.endpoints.map(\.name) })
        if !json { write(line.header) }
        try tail.follow(count: count) { entry in
            write(json ? entry.json : line.format(entry))
        }
    }

    private func filter() throws -> AuditFilter {
        var tags: [String: String] = [:]
        for pair in tag {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("--tag must be k=v, not \(pair)") }
            tags[parts[0]] = parts[1]
        }
        var statusMatch: AuditFilter.Status?
        if let status {
            guard let parsed = AuditFilter.Status(parsing: status) else {
                throw ValidationError("--status must be a code (200, 429) or a class (4xx, 5xx), not \(status)")
            }
            statusMatch = parsed
        }
        var filter = AuditFilter(route: route, tags: tags, principal: principal, status: statusMatch)
        if let kind {
            let kinds = Set(kind.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            guard !kinds.isEmpty, kinds.isSubset(of: ["call", "alert", "admin"]) else {
                throw ValidationError("--kind takes call, alert or admin (comma-separated), not \(kind)")
            }
            filter.kinds = kinds
        }
        return filter
    }

    /// One line straight to stdout (unbuffered, so `| grep` sees each call at once).
    private func write(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}

/// `sluice audit verify`: recompute the hash chain over a range of the stream.
struct AuditVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the audit stream's hash chain; exits 1 when an entry was deleted or altered.")

    @OptionGroup var source: RedisSource
    @Option(parsing: .unconditional, help: "The first stream id to check (default: the oldest).") var from = "-"
    @Option(parsing: .unconditional, help: "The last stream id to check (default: the newest).") var to = "+"
    @Flag(help: "Print the report as one JSON object.") var json = false

    func run() throws {
        let redis = try source.redisConfig()
        let report = try AuditChain.verify(redis: RedisConnection(config: redis),
                                           stream: RedisKeys(prefix: redis.keyPrefix).auditStream, from: from, to: to)
        if json {
            let breaks: [[String: Any]] = report.breaks.map { item in
                var entry: [String: Any] = ["entry": item.entryId, "kind": item.kind == .altered ? "altered" : "missing_before"]
                if let previous = item.previousId { entry["after"] = previous }
                return entry
            }
            var object: [String: Any] = ["checked": report.checked, "intact": report.intact, "breaks": breaks]
            if let first = report.firstId { object["first"] = first }
            if let last = report.lastId { object["last"] = last }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            if !report.intact { throw ExitCode(1) }
            return
        }
        let range = report.firstId.map { first in " (\(first) … \(report.lastId ?? first))" } ?? ""
        print("checked \(report.checked) \(report.checked == 1 ? "entry" : "entries")\(range)")
        if report.intact {
            print("chain intact")
            return
        }
        for item in report.breaks { print(item.description) }
        print("\(report.breaks.count) \(report.breaks.count == 1 ? "break" : "breaks") in the chain")
        throw ExitCode(1)
    }
}
