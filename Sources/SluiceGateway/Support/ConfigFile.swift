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
    /// Reads and validates the file at `path`. With `providerSecrets: false` the secrets
    /// under `providers:` are not read (for commands that only talk to Redis); such a
    /// config must never serve calls.
    public static func load(path: String, providerSecrets: Bool = true) throws -> LoadedConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(issues: [ConfigIssue(file: path, line: 0, column: 0, field: "",
                                                   message: "cannot read the file: \(error.localizedDescription)")])
        }
        guard providerSecrets else {
            return try ConfigLoader.parse(yaml: text, fileName: path, secrets: WithoutProviderSecrets(SystemSecretSource()))
        }
        return try load(text: text, name: path)
    }

    /// Validates config `text`; `name` is used in error messages.
    public static func load(text: String, name: String) throws -> LoadedConfig {
        try ConfigLoader.parse(yaml: text, fileName: name, secrets: SystemSecretSource())
    }
}
