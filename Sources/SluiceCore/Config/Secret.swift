/// A resolved secret value (provider key, Redis password, header value).
///
/// Its `description` never shows the value, so a secret that ends up in string
/// interpolation, a log line or an error message prints as `<secret>`.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The value, for the one place that must send it upstream.
    public let exposedValue: String
    /// Where it came from (`env:NAME`, `file:/path`, or `literal`), safe to print.
    public let origin: String

    public init(_ value: String, origin: String) {
        self.exposedValue = value
        self.origin = origin
    }

    public var description: String { "<secret \(origin)>" }
    public var debugDescription: String { description }
}
