import ArgumentParser
import Foundation
import SluiceCore
import SluiceGateway
import SluiceRedis

/// `sluice endpoints`: every endpoint's shared health and warmth, read from Redis.
struct EndpointsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpoints",
        abstract: "Show every endpoint's state (healthy, cooling, probing), error rate, latency and warmth.")

    @OptionGroup var source: RedisSource
    @Flag(help: "One JSON object per endpoint, one per line.") var json = false

    func run() throws {
        let loaded = try source.loadConfig()
        let redis = try source.redisConfig(loaded)
        let connection = RedisConnection(config: redis)
        defer { connection.close() }
        let report = try EndpointReport.read(loaded?.config, redis: connection, keys: RedisKeys(prefix: redis.keyPrefix))
        if json {
            for row in report.rows { print(Self.json(row)) }
            return
        }
        if case .sentinel(let sentinels) = redis.url.address {
            print(Self.sentinelLine(SentinelDirectory.shared(for: sentinels, timeout: redis.timeout)))
        }
        let header = ["ROUTE", "ENDPOINT", "STATE", "ERRORS", "CALLS", "LATENCY", "LAST OK", "LAST ERROR", "TRIPS", "WARM"]
        var lines = [header]
        for row in report.rows {
            var state = row.state
            if let until = row.cooldownUntil {
                state += " until " + Self.clock(until) + " (" + Self.ago(until - report.now, future: true) + ")"
            }
            let errors = row.recentErrorRate.map { String(format: "%.0f%%", $0 * 100) } ?? "-"
            let lastError = row.lastError.map { error in
                row.lastFailure.map { "\(error) " + Self.ago(report.now - $0) } ?? error
            } ?? "-"
            let warm = row.keepWarm.map { interval in
                "every \(DurationText.format(interval))" + (row.lastPing.map { ", pinged " + Self.ago(report.now - $0) } ?? "")
            } ?? "-"
            lines.append([row.route, row.endpoint, state, errors, String(row.recentCalls),
                          row.lastLatencyMs.map { "\($0)ms" } ?? "-",
                          row.lastSuccess.map { Self.ago(report.now - $0) } ?? "never", lastError, String(row.trips), warm])
        }
        let widths = header.indices.map { column in lines.map { $0[column].count }.max() ?? 0 }
        for line in lines {
            print(zip(line, widths).map { $0.padded($1) }.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
    }

    /// `redis: primary 10.0.0.2:6379 of 'main' (Sentinel: 1 failover, 1 replica, 2 other Sentinels)`.
    static func sentinelLine(_ directory: SentinelDirectory) -> String {
        let primary = directory.status.primary.map(\.description) ?? "unknown"
        var line = "redis: primary \(primary) of '\(directory.sentinels.masterName)'"
        if let view = directory.sentinelView() {
            func count(_ field: String, _ noun: String) -> String {
                let value = Int(view[field] ?? "") ?? 0
                return "\(value) \(noun)\(value == 1 ? "" : "s")"
            }
            line += " (Sentinel: \(count("config-epoch", "failover")), \(count("num-slaves", "replica")), "
                + "\(count("num-other-sentinels", "other Sentinel")))"
        } else {
            line += " (no Sentinel answered SENTINEL MASTER)"
        }
        return line
    }

    static func json(_ row: EndpointReport.Row) -> String {
        var fields: [(String, String)] = [
            ("route", JSONText.quoted(row.route)), ("endpoint", JSONText.quoted(row.endpoint)),
            ("provider", JSONText.quoted(row.provider)), ("model", JSONText.quoted(row.model)),
            ("state", JSONText.quoted(row.state)), ("recent_calls", String(row.recentCalls)),
            ("trips", String(row.trips)),
        ]
        func add(_ name: String, _ value: String?) { if let value { fields.append((name, value)) } }
        add("cooldown_until_ms", row.cooldownUntil.map { String($0) })
        add("recent_error_rate", row.recentErrorRate.map { String(format: "%.4f", $0) })
        add("last_latency_ms", row.lastLatencyMs.map { String($0) })
        add("last_success_ms", row.lastSuccess.map { String($0) })
        add("last_failure_ms", row.lastFailure.map { String($0) })
        add("last_error", row.lastError.map(JSONText.quoted))
        add("keep_warm_ms", row.keepWarm.map { String($0.wholeMilliseconds) })
        add("last_ping_ms", row.lastPing.map { String($0) })
        return "{" + fields.map { JSONText.quoted($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    /// `HH:MM:SS` in UTC.
    static func clock(_ ms: Int64) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(ms) / 1000)
        return String(date.ISO8601Format().dropFirst(11).prefix(8)) + "Z"
    }

    /// `3s ago`, `in 12s`, `5m ago`.
    static func ago(_ ms: Int64, future: Bool = false) -> String {
        let seconds = max(0, ms / 1000)
        let text = seconds < 120 ? "\(seconds)s" : seconds < 7200 ? "\(seconds / 60)m" : "\(seconds / 3600)h"
        return future ? "in " + text : text + " ago"
    }
}
