import Yams

/// A validated configuration and the warnings worth showing the operator.
public struct LoadedConfig: Sendable {
    /// The configuration, with every secret resolved and every reference checked.
    public var config: GatewayConfig
    /// Things that are valid but probably not what the operator expects.
    public var warnings: [String]

    /// Creates a loaded configuration.
    public init(config: GatewayConfig, warnings: [String] = []) {
        self.config = config
        self.warnings = warnings
    }
}

/// Turns the text of `sluice.yaml` into a `GatewayConfig`.
///
/// The loader is pure: it reads secrets only through the `SecretResolving` it is
/// given and prints nothing. It checks the whole file and reports every problem at
/// once, each with its line, column and field path.
public enum ConfigLoader {
    /// Parses and validates `yaml`.
    ///
    /// - Parameters:
    ///   - yaml: the file's text.
    ///   - fileName: the name used in issue locations, e.g. `sluice.yaml`.
    ///   - secrets: where `${env:…}` and `${file:…}` references are read.
    /// - Throws: `ConfigError` listing every problem in the file, YAML syntax errors included.
    public static func parse(yaml: String, fileName: String,
                             secrets: some SecretResolving) throws(ConfigError) -> LoadedConfig {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigError(issues: [syntaxIssue(error, yaml: yaml, fileName: fileName)])
        }
        let reader = Reader(fileName: fileName, secrets: secrets)
        guard let root else {
            reader.report("the file is empty (expected at least 'redis', 'providers' and 'routes')", at: nil, field: "")
            throw reader.error
        }
        guard let config = reader.gatewayConfig(root), reader.issues.isEmpty else {
            throw reader.error
        }
        return LoadedConfig(config: config, warnings: reader.warnings)
    }

    /// The top-level keys of `sluice.yaml`.
    static let topLevelFields = ["server", "redis", "providers", "routes", "principals", "health", "audit", "limits",
                                 "required_tags", "admission", "prices", "budgets", "budget_time_zone", "responses",
                                 "telemetry"]

    /// A Yams error as an issue that names the line, without quoting the file's text
    /// (the offending line could hold a literal secret).
    static func syntaxIssue(_ error: any Error, yaml: String, fileName: String) -> ConfigIssue {
        func issue(_ position: (line: Int, column: Int)?, _ message: String) -> ConfigIssue {
            ConfigIssue(file: fileName, line: position?.line ?? 1, column: position?.column ?? 1,
                        field: "", message: message)
        }
        guard let yamlError = error as? YamlError else {
            return issue(nil, "cannot parse YAML: \(error)")
        }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let detail = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return issue((mark.line, mark.column), "YAML syntax error: \(problem)\(detail)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return issue((context.mark.line, context.mark.column), "duplicate key \(keys) in one mapping")
        case .reader(let problem, let offset, _, _):
            return issue(offset.flatMap { position(ofCharacterOffset: $0, in: yaml) }, "cannot read YAML: \(problem)")
        default:
            return issue(nil, "cannot parse YAML: \(yamlError)")
        }
    }

    /// The 1-based line and column of the character at `offset`.
    static func position(ofCharacterOffset offset: Int, in text: String) -> (line: Int, column: Int)? {
        guard let index = text.index(text.startIndex, offsetBy: offset, limitedBy: text.endIndex) else { return nil }
        let before = text[..<index]
        let line = before.reduce(1) { $1.isNewline ? $0 + 1 : $0 }
        let lineStart = before.lastIndex(where: \.isNewline).map { before.index(after: $0) } ?? before.startIndex
        return (line, before[lineStart...].unicodeScalars.count + 1)
    }
}

extension ConfigLoader.Reader {
    /// The whole file: every section read and cross-checked.
    func gatewayConfig(_ root: Node) -> GatewayConfig? {
        guard let fields = fields(root, at: "", allowed: ConfigLoader.topLevelFields) else { return nil }
        let server = fields["server"].map { serverConfig($0, at: "server") } ?? ServerConfig()
        let redis = required(fields, "redis").flatMap { redisConfig($0, at: "redis") }
        let providers = required(fields, "providers").map { providerConfigs($0, at: "providers") }
        let routes = required(fields, "routes").map {
            routeConfigs($0, at: "routes", providerNames: providers?.names ?? [])
        }
        let principals = fields["principals"].map {
            principalPolicies($0, at: "principals", routeNames: routes?.order ?? [],
                              guardrailNames: Set(routes?.byName.values.flatMap { $0.guardrails.map(\.name) } ?? []))
        } ?? PrincipalPolicies()
        let health = fields["health"].map { healthPolicy($0, at: "health") } ?? HealthPolicy()
        let audit = fields["audit"].map { auditConfig($0, at: "audit") } ?? AuditConfig()
        let responses = fields["responses"].map { responsesConfig($0, at: "responses") } ?? ResponsesConfig()
        let governance = self.governance(fields, routeNames: routes?.order ?? [])
        let telemetry = fields["telemetry"].flatMap { telemetryConfig($0, at: "telemetry") }

        guard let redis, let providers, let routes else { return nil }
        return GatewayConfig(server: server, redis: redis, providers: providers.byName, routes: routes.byName,
                             routeOrder: routes.order, principals: principals, health: health, audit: audit,
                             governance: governance, responses: responses, telemetry: telemetry)
    }
}
