import Glibc
import SluiceCore

/// Starts worker processes: this same executable, re-executed as `sluice worker`, with the
/// listening socket as descriptor 3, the validated config snapshot as descriptor 4 and the
/// readiness pipe as descriptor 5.
/// Spawning (fork + exec in one call) rather than a bare fork gives each worker a clean
/// runtime with no locks inherited from the master.
struct WorkerSpawner {
    let listenDescriptor: Int32
    /// The readiness pipe's write end (`ReadinessPipe`), handed over as descriptor 5.
    let readyDescriptor: Int32?

    /// A generation's config, snapshotted into an unlinked temp file so every worker of
    /// the generation (restarts included) reads exactly the text the master validated.
    final class Snapshot {
        let descriptor: Int32
        let config: GatewayConfig
        let name: String

        init(text: String, config: GatewayConfig, name: String) throws(PoolError) {
            var template = Array("/tmp/sluice-config-XXXXXX".utf8CString)
            let created = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard created >= 0 else { throw PoolError("cannot create the config snapshot: \(errnoText())") }
            // Above the descriptors handed to workers, so the two dup2s cannot collide.
            let fd = fcntl(created, F_DUPFD_CLOEXEC, 10)
            Glibc.close(created)
            guard fd >= 0 else { throw PoolError("cannot move the config snapshot: \(errnoText())") }
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
            var bytes = Array(text.utf8)
            let written = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard written == bytes.count else {
                Glibc.close(fd)
                throw PoolError("cannot write the config snapshot: \(errnoText())")
            }
            bytes.removeAll()
            self.descriptor = fd
            self.config = config
            self.name = name
        }

        deinit { Glibc.close(descriptor) }
    }

    /// Spawns one worker; returns its pid.
    func spawn(snapshot: Snapshot, threads: Int) throws(PoolError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, listenDescriptor, WorkerProcess.listenDescriptor)
        posix_spawn_file_actions_adddup2(&actions, snapshot.descriptor, WorkerProcess.configDescriptor)
        if let readyDescriptor { posix_spawn_file_actions_adddup2(&actions, readyDescriptor, ReadinessPipe.workerDescriptor) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = Signals.makeSet([])
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = Signals.makeSet([SIGPIPE, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGCHLD, SIGUSR1])
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let drainMillis = snapshot.config.server.drainTimeout.components.seconds * 1000
            + snapshot.config.server.drainTimeout.components.attoseconds / 1_000_000_000_000_000
        let arguments = ["sluice", "worker", "--config-name", snapshot.name, "--threads", String(threads),
                         "--drain-timeout-ms", String(drainMillis)]
        var cArguments = arguments.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, "/proc/self/exe", &actions, &attributes, &cArguments, environ)
        guard result == 0 else { throw PoolError("cannot start a worker: \(String(cString: strerror(result)))") }
        return pid
    }
}
