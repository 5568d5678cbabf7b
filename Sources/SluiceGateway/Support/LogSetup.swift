import Foundation
import Logging
import SluiceCore

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
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        var line: String
        if LogSetup.json {
            // One object per line: time, level, pid, logger, message, then the metadata.
            line = "{\"time\":\"\(Self.timestamp())\",\"level\":\"\(event.level.rawValue)\",\"pid\":\(getpid()),"
                + "\"logger\":\(JSONText.quoted(label)),\"message\":\(JSONText.quoted("\(event.message)"))"
            for key in merged.keys.sorted() where !["time", "level", "pid", "logger", "message"].contains(key) {
                line += ",\(JSONText.quoted(key)):\(JSONText.quoted(merged[key].map { "\($0)" } ?? ""))"
            }
            line += "}\n"
        } else {
            line = "\(Self.timestamp()) \(event.level.rawValue.uppercased()) [\(getpid())] \(label): \(event.message)"
            for key in merged.keys.sorted() {
                line += " \(key)=\(merged[key].map { "\($0)" } ?? "")"
            }
            line += "\n"
        }
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

    /// JSON lines instead of text (`server.log_format: json`), set once the config is read.
    nonisolated(unsafe) static var json = false

    /// Applies the config's log format. Call before starting threads.
    public static func apply(_ format: ServerConfig.LogFormat) {
        json = format == .json
    }
}
