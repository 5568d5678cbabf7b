import Foundation
import SluiceCore

/// Reads secrets from the process environment and the file system.
public struct SystemSecretSource: SecretResolving {
    public init() {}

    public func environmentValue(_ name: String) -> String? {
        ProcessInfo.processInfo.environment[name]
    }

    public func fileContents(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }
}

/// Loading `sluice.yaml` from disk (the I/O half of `ConfigLoader`).
public enum ConfigFile {
    /// Reads and validates the file at `path`.
    public static func load(path: String) throws -> LoadedConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(issues: [ConfigIssue(file: path, line: 0, column: 0, field: "",
                                                   message: "cannot read the file: \(error.localizedDescription)")])
        }
        return try load(text: text, name: path)
    }

    /// Validates config `text`; `name` is used in error messages.
    public static func load(text: String, name: String) throws -> LoadedConfig {
        try ConfigLoader.parse(yaml: text, fileName: name, secrets: SystemSecretSource())
    }
}
