#if canImport(Glibc)
import Glibc
#endif

/// Binds or connects a socket to a unix socket path (tests' listeners and receivers).
public enum UnixSocketAddress {
    /// `bind(2)` of `descriptor` to `path`; 0 on success, as bind returns.
    public static func bind(_ descriptor: Int32, to path: String) -> Int32 {
        with(path) { Glibc.bind(descriptor, $0, $1) }
    }

    /// `connect(2)` of `descriptor` to `path`; 0 on success, as connect returns.
    public static func connect(_ descriptor: Int32, to path: String) -> Int32 {
        with(path) { Glibc.connect(descriptor, $0, $1) }
    }

    private static func with(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
