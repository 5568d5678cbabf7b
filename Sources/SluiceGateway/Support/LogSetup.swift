import Foundation
import Logging

/// Log lines on standard error: `2026-11-26T10:58:00Z INFO [pid] label: message key=value`.
/// One `write(2)` per line, so lines from many threads and processes do not interleave.
public struct LineLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "\(Self.timestamp()) \(event.level.rawValue.uppercased()) [\(getpid())] \(label): \(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() {
            line += " \(key)=\(merged[key].map { "\($0)" } ?? "")"
        }
        line += "\n"
        line.withUTF8 { buffer in _ = Glibc.write(2, buffer.baseAddress, buffer.count) }
    }

    private static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec)
    }
}

/// Process-wide logging set-up.
public enum LogSetup {
    /// Routes swift-log to `LineLogHandler` at `level` (from `SLUICE_LOG_LEVEL`, default info).
    public static func bootstrap() {
        let level = ProcessInfo.processInfo.environment["SLUICE_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .info
        LoggingSystem.bootstrap { LineLogHandler(label: $0, level: level) }
    }
}
