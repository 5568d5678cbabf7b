import Glibc

/// Where the responder pool listens: `unix:/path`, `/path`, or `host:port`.
public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: UInt16)

    /// Parses the `server.listen` / `--listen` text.
    public init(parsing text: String) throws(PoolError) {
        if text.hasPrefix("unix:") {
            self = .unix(path: String(text.dropFirst(5)))
        } else if text.hasPrefix("/") || text.hasPrefix("./") {
            self = .unix(path: text)
        } else if let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) {
            var host = String(text[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            self = .tcp(host: host.isEmpty || host == "*" ? "0.0.0.0" : host, port: port)
        } else {
            throw PoolError("cannot read listen address '\(text)': use unix:/path/to.sock or host:port")
        }
    }

    public var description: String {
        switch self {
        case .unix(let path): return "unix:\(path)"
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}

/// A failure of the process pool (binding, spawning, signals).
public struct PoolError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The listening socket the master binds and every worker accepts on.
public final class ListeningSocket {
    public let descriptor: Int32
    public let address: ListenAddress
    /// For unix sockets: the inode we created, so we never unlink a successor's socket.
    private let inode: UInt?

    private init(descriptor: Int32, address: ListenAddress, inode: UInt?) {
        self.descriptor = descriptor
        self.address = address
        self.inode = inode
    }

    /// Binds and listens. A stale unix socket file (nobody accepting) is replaced; a live one is an error.
    public static func bind(_ address: ListenAddress, backlog: Int) throws(PoolError) -> ListeningSocket {
        switch address {
        case .unix(let path): return try bindUnix(path: path, backlog: backlog)
        case .tcp(let host, let port): return try bindTCP(host: host, port: port, backlog: backlog)
        }
    }

    /// Stops taking new connections at once, for every process that shares the socket,
    /// while connections already queued can still be accepted (unix sockets): the file is
    /// removed and the socket shut for reading, so a client's connect fails right away and
    /// nginx moves to its next upstream instead of waiting in a backlog nobody drains. A TCP
    /// listener shut this way resets what is queued; nginx reports those as errors.
    public func stopListening() {
        removeFile()
        shutdown(descriptor, Int32(SHUT_RD))
    }

    /// Closes the socket and removes its file if it is still the one this process made.
    public func close() {
        Glibc.close(descriptor)
        removeFile()
    }

    private func removeFile() {
        if case .unix(let path) = address, let inode {
            var info = stat()
            if lstat(path, &info) == 0, UInt(info.st_ino) == inode { unlink(path) }
        }
    }

    private static func bindUnix(path: String, backlog: Int) throws(PoolError) -> ListeningSocket {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { throw PoolError("unix socket path is too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        if isLive(address) { throw PoolError("\(path) is in use by another running server") }
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw PoolError("socket(): \(errnoText())") }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { let text = errnoText(); Glibc.close(fd); throw PoolError("bind \(path): \(text)") }
        // The socket is the gateway's trust boundary (SLUICE_PRINCIPAL is believed); its
        // directory's permissions decide who may connect. See README "Security".
        chmod(path, 0o666)
        guard listen(fd, Int32(backlog)) == 0 else { let text = errnoText(); Glibc.close(fd); throw PoolError("listen \(path): \(text)") }
        var info = stat()
        let inode = lstat(path, &info) == 0 ? UInt(info.st_ino) : nil
        return ListeningSocket(descriptor: try aboveStandardDescriptors(fd), address: .unix(path: path), inode: inode)
    }

    private static func isLive(_ address: sockaddr_un) -> Bool {
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return false }
        defer { Glibc.close(probe) }
        var address = address
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
    }

    private static func bindTCP(host: String, port: UInt16, backlog: Int) throws(PoolError) -> ListeningSocket {
        let name = host == "localhost" ? "127.0.0.1" : host
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        let family: Int32
        if inet_pton(AF_INET, name, &v4.sin_addr) == 1 {
            family = AF_INET
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
        } else if inet_pton(AF_INET6, name, &v6.sin6_addr) == 1 {
            family = AF_INET6
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
        } else {
            throw PoolError("listen host must be an IP address or localhost, got '\(host)'")
        }
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw PoolError("socket(): \(errnoText())") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound: Int32 = family == AF_INET
            ? withUnsafePointer(to: &v4) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            : withUnsafePointer(to: &v6) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        guard bound == 0 else { let text = errnoText(); Glibc.close(fd); throw PoolError("bind \(host):\(port): \(text)") }
        guard listen(fd, Int32(backlog)) == 0 else { let text = errnoText(); Glibc.close(fd); throw PoolError("listen: \(text)") }
        return ListeningSocket(descriptor: try aboveStandardDescriptors(fd), address: .tcp(host: host, port: port), inode: nil)
    }

    /// Moves `fd` to 10 or above so handing it to a worker as descriptor 3 never collides.
    private static func aboveStandardDescriptors(_ fd: Int32) throws(PoolError) -> Int32 {
        let moved = fcntl(fd, F_DUPFD_CLOEXEC, 10)
        guard moved >= 0 else { throw PoolError("fcntl(F_DUPFD_CLOEXEC): \(errnoText())") }
        Glibc.close(fd)
        return moved
    }
}

/// `strerror(errno)`.
func errnoText() -> String { String(cString: strerror(errno)) }
