import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SluiceCore
import SluiceRedis
import XCTest

/// A throw-away `redis-server` on a free loopback port, for tests that need a real Redis.
///
/// Started with persistence off (`--save "" --appendonly no`) in a temporary directory;
/// `stop()` (and `deinit`) end it by pid with bounded waits. Tests call
/// `try RedisServerFixture.start()` and keep the fixture until `tearDown`; when
/// `redis-server` is not installed, `start()` throws `XCTSkip`.
final class RedisServerFixture {
    /// The loopback port the server listens on (kept across `restart()`).
    let port: Int
    /// The `requirepass` the server was started with, if any.
    let password: String?

    private var process: Process?
    /// The running server's pid (to pause it with SIGSTOP in a test).
    var pid: Int32? { process.map(\.processIdentifier) }
    private var log: FileHandle?
    private let directory: URL
    private let executable: URL

    /// How long to wait for the server to accept connections, or to exit.
    static let startTimeout: Duration = .seconds(10)
    static let stopTimeout: Duration = .seconds(5)

    /// Extra `redis-server` arguments (e.g. `--replicaof`).
    private let extraArguments: [String]
    /// For a Sentinel: the lines of its config file (`sentinel monitor …`), written before start.
    private let sentinelConfig: [String]?

    private init(executable: URL, port: Int, password: String?, directory: URL, extraArguments: [String] = [],
                 sentinelConfig: [String]? = nil) {
        self.executable = executable
        self.port = port
        self.password = password
        self.directory = directory
        self.extraArguments = extraArguments
        self.sentinelConfig = sentinelConfig
    }

    /// Starts a Redis Sentinel on a free port with `lines` in its config file (port, bind
    /// and dir are added), e.g. `sentinel monitor main 127.0.0.1 6379 2`.
    static func startSentinel(_ lines: [String], file: StaticString = #filePath, line: UInt = #line) throws -> RedisServerFixture {
        try start(password: nil, sentinelConfig: lines, file: file, line: line)
    }

    /// Starts a server on a free port; throws `XCTSkip` if `redis-server` is not installed.
    static func start(password: String? = nil, extraArguments: [String] = [], sentinelConfig: [String]? = nil,
                      file: StaticString = #filePath, line: UInt = #line) throws -> RedisServerFixture {
        guard let executable = findExecutable("redis-server") else {
            throw XCTSkip("redis-server is not installed", file: file, line: line)
        }
        // A port found free can be taken before redis binds it; try a few.
        var lastError: Error?
        for _ in 0..<5 {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-redis-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let fixture = RedisServerFixture(executable: executable, port: try freeLoopbackPort(), password: password,
                                             directory: directory, extraArguments: extraArguments,
                                             sentinelConfig: sentinelConfig)
            do {
                try fixture.launch()
                return fixture
            } catch {
                lastError = error  // the fixture's deinit stops the process and removes its directory
            }
        }
        throw lastError ?? FixtureError("could not start redis-server")
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// A configuration for `RedisConnection`, with the server's password unless told otherwise.
    func config(database: Int = 0, password: String?? = .none, timeout: Duration = .seconds(2)) -> RedisConfig {
        let secret = (password ?? self.password).map { Secret($0, origin: "test") }
        return RedisConfig(url: RedisURL(address: .tcp(host: "127.0.0.1", port: port), database: database,
                                         password: secret),
                           timeout: timeout)
    }

    /// Kills the server at once (SIGKILL), as a crashed host would lose it.
    func kill9() {
        guard let process else { return }
        self.process = nil
        kill(process.processIdentifier, SIGKILL)
        _ = Self.waitForExit(process, timeout: Self.stopTimeout)
    }

    /// Stops the server by pid: SIGTERM, then SIGKILL if it has not exited in time.
    func stop() {
        try? log?.close()
        log = nil
        guard let process else { return }
        self.process = nil
        let pid = process.processIdentifier
        guard process.isRunning, pid > 0 else { return }
        kill(pid, SIGTERM)
        if !Self.waitForExit(process, timeout: Self.stopTimeout) {
            kill(pid, SIGKILL)
            _ = Self.waitForExit(process, timeout: Self.stopTimeout)
        }
    }

    /// Stops the server and starts a fresh one (empty data) on the same port.
    func restart() throws {
        stop()
        try launch()
    }

    private func launch() throws {
        let process = Process()
        process.executableURL = executable
        var arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", directory.path, "--daemonize", "no", "--loglevel", "warning",
        ]
        if let password { arguments += ["--requirepass", password] }
        arguments += extraArguments
        if let sentinelConfig {
            // A Sentinel rewrites its config file as it learns, so it gets one of its own.
            let path = directory.appendingPathComponent("sentinel-\(port).conf").path
            let text = (["port \(port)", "bind 127.0.0.1", "dir \(directory.path)"] + sentinelConfig).joined(separator: "\n") + "\n"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            arguments = [path, "--sentinel", "--loglevel", "warning"]
        }
        process.arguments = arguments
        let log = directory.appendingPathComponent("redis-\(port).log")
        guard FileManager.default.createFile(atPath: log.path, contents: nil) else {
            throw FixtureError("cannot create \(log.path)")
        }
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        self.log = handle
        try process.run()
        self.process = process

        let clock = ContinuousClock()
        let deadline = clock.now + Self.startTimeout
        while clock.now < deadline {
            guard process.isRunning else {
                let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                throw FixtureError("redis-server exited at start: \(output)")
            }
            if Self.acceptsConnections(port: port) { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw FixtureError("redis-server did not accept connections on port \(port) within \(Self.startTimeout)")
    }

    private static func waitForExit(_ process: Process, timeout: Duration) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while process.isRunning && clock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        return !process.isRunning
    }

    private static func findExecutable(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    private static func acceptsConnections(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

/// A port nothing listens on right now: bind port 0 on loopback, read the port, close.
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw FixtureError("socket: errno \(errno)") }
    defer { close(fd) }
    var address = loopback(port: 0)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw FixtureError("bind: errno \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw FixtureError("getsockname: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

private func loopback(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

/// A fixture could not be set up.
struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A test case with its own `redis-server`, a connection to it and keys under a fresh
/// prefix, for the script tests that need nothing else.
class RedisTestCase: XCTestCase {
    var server: RedisServerFixture!
    var redis: RedisConnection!
    var keys: RedisKeys!

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        server = try RedisServerFixture.start()
        redis = RedisConnection(config: server.config())
        keys = RedisKeys(prefix: "t\(UUID().uuidString.prefix(8))")
    }

    override func tearDown() {
        redis = nil
        server?.stop()
        server = nil
    }
}
