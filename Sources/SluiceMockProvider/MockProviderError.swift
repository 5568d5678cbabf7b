#if canImport(Glibc)
import Glibc
#endif

/// Why a ``MockProviderServer`` could not start listening.
///
/// `description` names the failing step and the system's reason only.
public struct MockProviderError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Code: Sendable, Equatable {
        case resolve
        case socket
        case bind
        case listen
    }

    private let code: Code
    private let reason: String

    /// `host` could not be turned into an address to bind.
    public static func resolve(_ reason: String) -> MockProviderError { .init(code: .resolve, reason: reason) }
    /// `socket(2)` or `setsockopt(2)` failed.
    public static func socket(_ reason: String) -> MockProviderError { .init(code: .socket, reason: reason) }
    /// `bind(2)` failed, usually because the port is taken.
    public static func bind(_ reason: String) -> MockProviderError { .init(code: .bind, reason: reason) }
    /// `listen(2)` or `getsockname(2)` failed.
    public static func listen(_ reason: String) -> MockProviderError { .init(code: .listen, reason: reason) }

    /// The failing step and the system's reason.
    public var description: String {
        switch code {
        case .resolve: "mock provider: cannot resolve listen address: \(reason)"
        case .socket: "mock provider: cannot create socket: \(reason)"
        case .bind: "mock provider: cannot bind: \(reason)"
        case .listen: "mock provider: cannot listen: \(reason)"
        }
    }

    /// Returns `result`, or throws the error `make` builds from `errno` when it is negative,
    /// the way swift-nio's `syscall(blocking:where:_:)` does.
    static func check(_ result: Int32, _ make: (String) -> MockProviderError) throws(MockProviderError) -> Int32 {
        guard result >= 0 else { throw make(String(cString: strerror(errno))) }
        return result
    }
}
