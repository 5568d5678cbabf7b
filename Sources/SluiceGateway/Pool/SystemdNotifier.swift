import Glibc

/// systemd's readiness protocol (`Type=notify`, sd_notify(3)): datagrams such as
/// `READY=1` sent to the unix socket named by `NOTIFY_SOCKET`. Written here rather than
/// linked from libsystemd: it is one `sendto`, and the pool would otherwise depend on
/// libsystemd on hosts that run it without systemd.
final class SystemdNotifier {
    private let address: sockaddr_un
    private let length: socklen_t
    private let descriptor: Int32

    /// `nil` when the process was not started by systemd with `Type=notify` (no
    /// `NOTIFY_SOCKET`), or the name does not fit a unix socket address. Takes the
    /// variable out of the environment so workers and their children don't inherit it.
    init?(environment name: String = "NOTIFY_SOCKET") {
        guard let value = getenv(name).map({ String(cString: $0) }), !value.isEmpty else { return nil }
        unsetenv(name)
        var bytes = Array(value.utf8)
        // "@name" is a socket in the abstract namespace: a leading NUL.
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        guard bytes.first == UInt8(ascii: "/") || bytes.first == 0 else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            for (index, byte) in bytes.enumerated() { path[index] = byte }
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        self.address = address
        // Abstract names are exactly as long as given; paths end at their NUL.
        self.length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        self.descriptor = descriptor
    }

    deinit { Glibc.close(descriptor) }

    /// Sends `fields` (e.g. `["READY=1", "STATUS=…"]`) as one datagram; `false` if it
    /// could not be sent (systemd then times the start out, which is the honest result).
    @discardableResult
    func notify(_ fields: [String]) -> Bool {
        let text = Array(fields.joined(separator: "\n").utf8)
        var target = address
        let sent = withUnsafePointer(to: &target) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                text.withUnsafeBytes { sendto(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length) }
            }
        }
        return sent == text.count
    }

    /// `MONOTONIC_USEC=…`, which systemd wants next to `RELOADING=1`.
    static var monotonicMicroseconds: String {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return "MONOTONIC_USEC=\(Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000)"
    }
}

/// How workers tell the master they accept connections: each writes its pid (4 bytes,
/// one atomic pipe write) into a pipe the master reads without blocking. The master
/// reports readiness to systemd once every worker of the current generation has.
struct ReadinessPipe {
    /// The write end, as a worker sees it.
    static let workerDescriptor: Int32 = 5

    let readDescriptor: Int32
    let writeDescriptor: Int32

    init?() {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { return nil }
        // Close-on-exec (the spawn's dup2 gives workers their copy), and above the
        // descriptors handed to workers, so those dup2s cannot collide.
        let read = fcntl(ends[0], F_DUPFD_CLOEXEC, 10), write = fcntl(ends[1], F_DUPFD_CLOEXEC, 10)
        Glibc.close(ends[0])
        Glibc.close(ends[1])
        guard read >= 0, write >= 0, fcntl(read, F_SETFL, O_NONBLOCK) == 0 else { return nil }
        readDescriptor = read
        writeDescriptor = write
    }

    /// The pids written since the last call.
    func readyPids() -> [pid_t] {
        var pids: [pid_t] = []
        var buffer = [Int32](repeating: 0, count: 64)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(readDescriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { return pids }
            pids += buffer.prefix(count / 4)
        }
    }

    /// In a worker: reports this process ready and closes the pipe. Does nothing when the
    /// descriptor is not a pipe (a worker started by hand).
    static func reportReady() {
        var status = stat()
        guard fstat(workerDescriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFIFO else { return }
        var pid = getpid()
        _ = withUnsafeBytes(of: &pid) { Glibc.write(workerDescriptor, $0.baseAddress, 4) }
        Glibc.close(workerDescriptor)
    }
}
