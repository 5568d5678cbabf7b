/// One problem found in a configuration file, located by line, column and field.
///
/// `message` names references (`${env:NAME}`, `${file:/path}`), never the value a
/// reference resolved to, so an issue is always safe to print or log.
public struct ConfigIssue: Sendable, Equatable, CustomStringConvertible {
    /// The file name given to the loader, e.g. `sluice.yaml`.
    public var file: String
    /// 1-based line of the offending node.
    public var line: Int
    /// 1-based column of the offending node (counted in Unicode scalars).
    public var column: Int
    /// Dotted path of the field, e.g. `routes.chat.endpoints[0].provider`; empty for
    /// problems with the file as a whole (a YAML syntax error).
    public var field: String
    /// What is wrong, in words an operator can act on.
    public var message: String

    /// Creates an issue.
    public init(file: String, line: Int, column: Int, field: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.message = message
    }

    /// `sluice.yaml:12:7: routes.chat.endpoints[0].provider: unknown provider "opnai" (known: openai, local)`.
    public var description: String {
        let location = "\(file):\(line):\(column)"
        return field.isEmpty ? "\(location): \(message)" : "\(location): \(field): \(message)"
    }
}

/// Every problem found while loading a configuration file.
///
/// The loader collects all issues of a file before throwing, so an operator fixes
/// them in one round. Issues are ordered by position in the file.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The issues, ordered by line and column; never empty when thrown by the loader.
    public var issues: [ConfigIssue]

    /// Creates an error from its issues.
    public init(issues: [ConfigIssue]) {
        self.issues = issues
    }

    /// One issue per line, in the `file:line:column: field: message` form compilers use.
    public var description: String {
        issues.map(\.description).joined(separator: "\n")
    }
}
