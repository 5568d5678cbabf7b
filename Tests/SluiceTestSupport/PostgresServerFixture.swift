import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest

/// Why a test fixture could not start or stop its server.
public struct PostgresFixtureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A throw-away PostgreSQL server: `initdb` into a temporary directory and `pg_ctl start`
/// listening on a unix socket only (no TCP), stopped with `pg_ctl stop -m fast` and, if
/// that fails, SIGKILL to the postmaster's pid. `initdb` refuses to run as root, so as root
/// every PostgreSQL program runs as the `postgres` user (Debian's `postgresql` package
/// creates it), or `nobody`, through `runuser`. Throws `XCTSkip` when no `initdb` is found
/// (PATH, /usr/lib/postgresql/*/bin, /usr/local/bin).
public final class PostgresServerFixture {
    /// The temporary directory: data in `data/`, the socket and the log directly in it.
    public let directory: String
    /// Names the socket file (`.s.PGSQL.<port>`); nothing listens on TCP.
    public let port: Int
    private let binaries: String
    private let runAs: String?
    private var running = false

    /// A libpq URI for the `postgres` database as the `postgres` superuser (trust auth).
    public var conninfo: String { "postgresql://postgres@localhost:\(port)/postgres?host=\(directory)" }

    private init(directory: String, port: Int, binaries: String, runAs: String?) {
        self.directory = directory
        self.port = port
        self.binaries = binaries
        self.runAs = runAs
    }

    deinit {
        remove()
    }

    /// Starts a server whose socket is named after `port` (pick a free one).
    public static func start(port: Int, file: StaticString = #filePath, line: UInt = #line) throws -> PostgresServerFixture {
        guard let binaries = findBinaries() else {
            throw XCTSkip("PostgreSQL's initdb is not installed (apt-get install postgresql)", file: file, line: line)
        }
        var runAs: String?
        var owner: (uid_t, gid_t)?
        if geteuid() == 0 {
            guard let user = Self.users.first(where: { getpwnam($0) != nil }), let entry = getpwnam(user) else {
                throw XCTSkip("running as root, and there is no postgres or nobody user to run PostgreSQL as")
            }
            runAs = user
            owner = (entry.pointee.pw_uid, entry.pointee.pw_gid)
        }
        // Under /tmp (not $TMPDIR): the unprivileged user must reach it, and a socket path
        // must stay under 108 bytes.
        var template = Array("/tmp/sluice-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw PostgresFixtureError("mkdtemp: errno \(errno)") }
        let directory = String(cString: made)
        if let owner { chown(directory, owner.0, owner.1) }
        let fixture = PostgresServerFixture(directory: directory, port: port, binaries: binaries,
                                            runAs: runAs)
        try fixture.run("initdb", ["-D", "\(directory)/data", "-A", "trust", "-U", "postgres", "-E", "UTF8",
                                   "--locale=C", "--no-sync"])
        try fixture.launch()
        return fixture
    }

    /// Starts the server (again, after `stop()`), on the same data and socket.
    public func launch() throws {
        try run("pg_ctl", ["-D", "\(directory)/data", "-l", "\(directory)/postgres.log", "-w", "-t", "30",
                           "-o", "-k \(directory) -p \(port) -c listen_addresses='' -c fsync=off", "start"])
        running = true
    }

    /// Stops the server: `pg_ctl stop -m fast`, then SIGKILL to the postmaster if still there.
    public func stop() {
        guard running else { return }
        running = false
        if (try? run("pg_ctl", ["-D", "\(directory)/data", "-m", "fast", "-w", "-t", "10", "stop"])) == nil,
           let text = try? String(contentsOfFile: "\(directory)/data/postmaster.pid", encoding: .utf8),
           let pid = text.split(separator: "\n").first.flatMap({ Int32($0) }), pid > 0 {
            kill(pid, SIGKILL)
        }
    }

    /// Stops the server and deletes its directory.
    public func remove() {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs one of PostgreSQL's programs (as `runAs` when root) and waits for it.
    private func run(_ program: String, _ arguments: [String]) throws {
        let command = (runAs.map { [Self.runuser, "-u", $0, "--"] } ?? []) + ["\(binaries)/\(program)"] + arguments
        let output = "\(directory)/\(program).out"
        let status = try spawnAndWait(command, in: directory, output: output)
        guard status == 0 else {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            let log = (try? String(contentsOfFile: "\(directory)/postgres.log", encoding: .utf8)) ?? ""
            throw PostgresFixtureError("\(program) failed (\(status)): \(text)\n\(log)")
        }
    }

    /// Who runs PostgreSQL when the tests run as root: Debian's `postgres` user, else `nobody`.
    private static let users = ["postgres", "nobody"]

    private static let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/runuser"

    /// The directory holding `initdb` and `pg_ctl`: PATH, then the newest
    /// /usr/lib/postgresql/<version>/bin, then /usr/local/bin.
    private static func findBinaries() -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "/usr/lib/postgresql/\($0)/bin" }
        for directory in path + versions + ["/usr/local/bin"] {
            let initdb = "\(directory)/initdb"
            guard FileManager.default.isExecutableFile(atPath: initdb) else { continue }
            // Symlinks (/usr/local/bin/initdb → …/15/bin/initdb) lead to the real directory.
            let real = (try? FileManager.default.destinationOfSymbolicLink(atPath: initdb))
                .map { URL(fileURLWithPath: $0, relativeTo: URL(fileURLWithPath: directory + "/")).deletingLastPathComponent().path }
                ?? directory
            if FileManager.default.isExecutableFile(atPath: "\(real)/pg_ctl") { return real }
        }
        return nil
    }
}

/// Runs `command` (an absolute path and its arguments) in `directory` with its output in the
/// file `output`, waits for it and returns its exit status.
///
/// Not `Process`: pg_ctl leaves the server running as a daemon, which would inherit the
/// socket Foundation watches to learn that a child exited, and `waitUntilExit` would wait
/// for the server. Here the child gets no descriptor but stdin, stdout and stderr.
private func spawnAndWait(_ command: [String], in directory: String, output: String) throws -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    // Every other descriptor this process has open (Swift does not see glibc's closefrom
    // action); one closed meanwhile is skipped by the F_GETFD check.
    let open = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
    for fd in open where fd > 2 && fcntl(fd, F_GETFD) != -1 { posix_spawn_file_actions_addclose(&actions, fd) }
    // A directory the unprivileged user can enter (initdb fails in one it cannot).
    let argv = (["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory] + command).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, "/bin/sh", &actions, nil, argv, environ)
    guard spawned == 0 else { throw PostgresFixtureError("cannot start \(command[0]): errno \(spawned)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { throw PostgresFixtureError("waitpid: errno \(errno)") }
    }
    // WIFEXITED / WEXITSTATUS, which are macros.
    return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}
