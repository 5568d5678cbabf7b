import Foundation
import Logging
import SluiceCore

/// The master of the responder pool, in the spirit of php-fpm's: binds the socket,
/// keeps `workers` worker processes running (a dead one is replaced at once), reloads
/// the config on SIGHUP by starting a new generation of workers and draining the old
/// one (a config that fails validation is refused and the old generation keeps
/// serving), and on SIGTERM / SIGINT / SIGQUIT drains every worker and exits.
public final class PoolMaster {
    private struct Worker {
        let generation: Int
        let started: ContinuousClock.Instant
    }

    private let options: PoolOptions
    private let logger = Logger(label: "sluice.master")
    private var socket: ListeningSocket?
    private var generation = 0
    private var snapshots: [Int: WorkerSpawner.Snapshot] = [:]
    private var workers: [pid_t: Worker] = [:]
    private var pendingRestarts: [ContinuousClock.Instant] = []
    private var quickDeaths = 0
    /// Workers tell the master they accept; under systemd (`Type=notify`) the master then
    /// sends READY=1, once per generation (start, and after each reload).
    private let readiness = ReadinessPipe()
    private let systemd = SystemdNotifier()
    private var readyPids: Set<pid_t> = []
    private var announcedGeneration = 0
    /// Admin records of reloads Redis has not taken yet.
    private var reloadAudit = ReloadAudit()
    /// The text of the config file as last read (for the reload's SHA-256).
    private var lastText: String?
    private var lastAuditTry = ContinuousClock.now

    public init(options: PoolOptions) {
        self.options = options
    }

    /// Runs the pool until it is stopped; returns the process exit status.
    /// Call `LogSetup.bootstrap()` first.
    public func run() -> Int32 {
        Signals.ignoreBrokenPipes()
        Signals.block([SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP])
        let snapshot: WorkerSpawner.Snapshot
        let socket: ListeningSocket
        do {
            snapshot = try loadSnapshot()
            let address = try ListenAddress(parsing: options.listen ?? snapshot.config.server.listen)
            socket = try ListeningSocket.bind(address, backlog: snapshot.config.server.backlog)
        } catch {
            logger.critical("cannot start: \(error)")
            return 78
        }
        self.socket = socket
        if let pidFile = options.pidFile {
            try? "\(getpid())\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        }
        logger.info("listening", metadata: ["address": "\(socket.address)", "config": "\(options.configPath)"])
        startGeneration(snapshot)

        while true {
            let received = Signals.waitWithSender(for: [SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP], timeout: .milliseconds(200))
            switch received?.signal {
            case SIGCHLD: reap()
            case SIGHUP: reload(requestedBy: received?.sender)
            case SIGTERM, SIGINT, SIGQUIT: return shutdown()
            default: break
            }
            restartDue()
            announceReadiness()
            if !reloadAudit.isEmpty && ContinuousClock.now - lastAuditTry >= .seconds(1) {
                lastAuditTry = .now
                _ = reloadAudit.flush()
            }
        }
    }

    private var spawner: WorkerSpawner? {
        socket.map { WorkerSpawner(listenDescriptor: $0.descriptor, readyDescriptor: readiness?.writeDescriptor) }
    }

    /// Once every worker of the current generation accepts: logs it and, under systemd,
    /// sends READY=1 (which also ends a reload's RELOADING=1).
    private func announceReadiness() {
        guard let readiness else { return }
        readyPids.formUnion(readiness.readyPids())
        guard announcedGeneration != generation else { return }
        let current = workers.filter { $0.value.generation == generation }.map(\.key)
        guard let config = snapshots[generation]?.config, current.count == workerCount(config),
              current.allSatisfy(readyPids.contains) else { return }
        announcedGeneration = generation
        readyPids = readyPids.filter { workers[$0] != nil }
        logger.info("every worker accepts", metadata: ["generation": "\(generation)", "workers": "\(current.count)"])
        systemd?.notify(["READY=1", "STATUS=serving: \(current.count) workers × \(threads(config)) threads, generation \(generation)"])
    }

    private func loadSnapshot() throws -> WorkerSpawner.Snapshot {
        let text: String
        do {
            text = try String(contentsOfFile: options.configPath, encoding: .utf8)
        } catch {
            throw PoolError("cannot read \(options.configPath): \(error.localizedDescription)")
        }
        lastText = text
        let loaded = try ConfigFile.load(text: text, name: options.configPath)
        LogSetup.apply(loaded.config.server.logFormat)
        for warning in loaded.warnings { logger.warning("config: \(warning)") }
        return try WorkerSpawner.Snapshot(text: text, config: loaded.config, name: options.configPath)
    }

    private func threads(_ config: GatewayConfig) -> Int { options.threads ?? config.server.threads }
    private func workerCount(_ config: GatewayConfig) -> Int { options.workers ?? config.server.workers }

    private func startGeneration(_ snapshot: WorkerSpawner.Snapshot) {
        generation += 1
        snapshots[generation] = snapshot
        for _ in 0..<workerCount(snapshot.config) { spawnWorker() }
    }

    private func spawnWorker() {
        guard let snapshot = snapshots[generation], let spawner else { return }
        do {
            let pid = try spawner.spawn(snapshot: snapshot, threads: threads(snapshot.config))
            workers[pid] = Worker(generation: generation, started: .now)
        } catch {
            logger.error("\(error); retrying")
            pendingRestarts.append(.now + .milliseconds(500))
        }
    }

    private func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else { return }
            guard let worker = workers.removeValue(forKey: pid) else { continue }
            if worker.generation != generation {
                logger.info("old worker finished draining", metadata: ["pid": "\(pid)", "status": "\(Self.describe(status))"])
                if !workers.values.contains(where: { $0.generation == worker.generation }) {
                    snapshots[worker.generation] = nil
                }
                continue
            }
            let lived = ContinuousClock.now - worker.started
            logger.error("worker exited unexpectedly; restarting",
                         metadata: ["pid": "\(pid)", "status": "\(Self.describe(status))", "lived": "\(lived)"])
            // Restart at once; back off only when workers keep dying right after start.
            quickDeaths = lived < .seconds(1) ? quickDeaths + 1 : 0
            let delay: Duration = quickDeaths > 3 ? .milliseconds(min(2000, 100 * quickDeaths)) : .zero
            if delay == .zero { spawnWorker() } else { pendingRestarts.append(.now + delay) }
        }
    }

    private func restartDue() {
        let now = ContinuousClock.now
        let due = pendingRestarts.filter { $0 <= now }
        pendingRestarts.removeAll { $0 <= now }
        for _ in due { spawnWorker() }
    }

    /// `sender`: the process that sent the SIGHUP, for the reload's admin record.
    private func reload(requestedBy sender: Signals.Sender?) {
        let who = AdminAudit.who(signalledBy: sender)
        logger.info("reloading configuration", metadata: ["config": "\(options.configPath)"])
        systemd?.notify(["RELOADING=1", SystemdNotifier.monotonicMicroseconds, "STATUS=reloading"])
        let snapshot: WorkerSpawner.Snapshot
        lastText = nil
        do {
            snapshot = try loadSnapshot()
        } catch {
            logger.error("reload refused, the running configuration stays in service:\n\(error)")
            systemd?.notify(["READY=1", "STATUS=reload refused; generation \(generation) keeps serving (see the log)"])
            if let running = snapshots[generation]?.config {
                audit(ReloadAudit.action(path: options.configPath, text: lastText, old: running, new: nil,
                                         generation: generation, error: "\(error)"), who: who, config: running)
            }
            return
        }
        if let running = snapshots[generation]?.config {
            audit(ReloadAudit.action(path: options.configPath, text: lastText, old: running, new: snapshot.config,
                                     generation: generation + 1, error: nil), who: who, config: snapshot.config)
        }
        if let socket, options.listen == nil,
           let address = try? ListenAddress(parsing: snapshot.config.server.listen), address != socket.address {
            logger.warning("server.listen changed to \(address); a new address needs a restart, keeping \(socket.address)")
        }
        let old = workers.filter { $0.value.generation == generation }.map(\.key)
        pendingRestarts.removeAll()
        startGeneration(snapshot)
        for pid in old { kill(pid, SIGTERM) }
        logger.info("configuration reloaded", metadata: ["generation": "\(generation)", "draining": "\(old.count)"])
    }

    /// Appends a reload's admin record (kept and retried while Redis does not take it).
    private func audit(_ action: AdminAudit.Action, who: [(key: String, json: String)], config: GatewayConfig) {
        for error in reloadAudit.record(action, who: who, config: config) {
            logger.error("the reload's admin audit record waits for Redis: \(error)")
        }
    }

    private func shutdown() -> Int32 {
        logger.info("shutting down: no new connections; draining workers")
        systemd?.notify(["STOPPING=1", "STATUS=draining"])
        // Refuse new connections before anything else, so nginx sends them elsewhere at once.
        socket?.stopListening()
        for pid in workers.keys { kill(pid, SIGTERM) }
        let limit = (snapshots[generation]?.config.server.drainTimeout ?? .seconds(30)) + .seconds(5)
        let deadline = ContinuousClock.now + limit
        while !workers.isEmpty && ContinuousClock.now < deadline {
            _ = Signals.wait(for: [SIGCHLD], timeout: .milliseconds(100))
            while case let pid = waitpid(-1, nil, WNOHANG), pid > 0 { workers[pid] = nil }
        }
        for pid in workers.keys {
            logger.warning("worker did not drain in time; killing it", metadata: ["pid": "\(pid)"])
            kill(pid, SIGKILL)
            waitpid(pid, nil, 0)
        }
        socket?.close()
        if !reloadAudit.isEmpty {
            for error in reloadAudit.flush() { logger.error("a reload's admin audit record is lost: \(error)") }
        }
        if let pidFile = options.pidFile { unlink(pidFile) }
        logger.info("stopped")
        return 0
    }

    private static func describe(_ status: Int32) -> String {
        let signal = status & 0x7f
        return signal == 0 ? "exit \((status >> 8) & 0xff)" : "signal \(signal)"
    }
}
