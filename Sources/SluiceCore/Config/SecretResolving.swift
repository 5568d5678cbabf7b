/// Reads the values behind secret references in `sluice.yaml`.
///
/// `SluiceCore` does no I/O: the gateway passes an implementation backed by the
/// process environment and the file system, tests pass a fake. The loader turns
/// `${env:NAME}` into `environmentValue("NAME")` and `${file:/path}` into
/// `fileContents("/path")` (trailing whitespace trimmed); anything else is a literal.
public protocol SecretResolving: Sendable {
    /// The value of environment variable `name`, or `nil` when it is not set.
    func environmentValue(_ name: String) -> String?
    /// The whole contents of the file at `path`, as UTF-8 text.
    ///
    /// Throws when the file cannot be read; the error's description is shown to the
    /// operator, so it must not contain the file's contents.
    func fileContents(_ path: String) throws -> String
    /// Whether the secrets under `providers:` are read (default: yes).
    var resolvesProviderSecrets: Bool { get }
}

extension SecretResolving {
    /// Whether the secrets under `providers:` are read. Commands that only talk to Redis
    /// (audit, usage, keys, endpoints) do not need them, so an operator who reads the
    /// audit stream need not hold every provider key.
    public var resolvesProviderSecrets: Bool { true }
}

/// Resolves like `base`, except the secrets under `providers:`, which are left unread.
public struct WithoutProviderSecrets<Base: SecretResolving>: SecretResolving {
    private let base: Base
    public init(_ base: Base) { self.base = base }
    public func environmentValue(_ name: String) -> String? { base.environmentValue(name) }
    public func fileContents(_ path: String) throws -> String { try base.fileContents(path) }
    public var resolvesProviderSecrets: Bool { false }
}
