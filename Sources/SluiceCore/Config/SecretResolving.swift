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
}
