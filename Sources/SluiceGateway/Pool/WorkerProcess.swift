import Foundation
import Logging
import SluiceCore
import SluiceFastCGI
import SluiceHTTP
import Synchronization

/// One worker process: M acceptor threads fed by one `ConnectionDispatcher` (the inherited
/// listening socket and nginx's kept connections), and a main thread that waits for
/// signals. SIGTERM, SIGINT or SIGQUIT drain it: stop accepting, finish in-flight requests,
/// close nginx's kept connections, exit. The socket is shared with other workers (and with the
/// next generation after a reload), so draining never shuts it down; idle acceptors are
/// woken with a signal.
public enum WorkerProcess {
    /// Descriptors the master hands every worker.
    public static let listenDescriptor: Int32 = 3
    public static let configDescriptor: Int32 = 4

    /// Runs the worker until it is told to stop; returns the exit status.
    public static func run(configName: String, threads: Int, drainTimeout: Duration) -> Int32 {
        LogSetup.bootstrap()
        MemoryPolicy.apply()
        let logger = Logger(label: "sluice.worker")
        let loaded: LoadedConfig
        do {
            loaded = try ConfigFile.load(text: readSnapshot(), name: configName)
        } catch {
            logger.critical("cannot load the configuration: \(error)")
            return 78
        }
        LogSetup.apply(loaded.config.server.logFormat)
        let parent = getppid()
        Signals.ignoreBrokenPipes()
        Signals.block([SIGTERM, SIGINT, SIGQUIT, SIGHUP, Signals.wake])
        Signals.installWakeHandler()
        CurlGlobal.initialize()
        FastCGIRequest.initializeLibrary()

        let context = WorkerContext(config: loaded.config, loadedAt: Int(Date().timeIntervalSince1970), logger: logger)
        let state = DrainState()
        let settler = CallSettler(context: context)
        guard settler.start() else {
            logger.critical("cannot start the settler thread")
            return 71
        }
        ConnectionDispatcher.prepare(listener: listenDescriptor)
        guard let dispatcher = ConnectionDispatcher(listener: listenDescriptor) else {
            logger.critical("cannot set up the connection dispatcher (epoll): \(errnoText())")
            return 71
        }
        let acceptors = (0..<threads).map {
            AcceptorThread(index: $0, context: context, settler: settler, state: state, dispatcher: dispatcher)
        }
        for acceptor in acceptors {
            guard acceptor.start() else {
                logger.critical("cannot start acceptor thread \(acceptor.index)")
                return 71
            }
        }
        if !AuditSpoolThread(context: context, state: state).start() {
            logger.critical("cannot start the audit spool thread")
            return 71
        }
        if !context.alertNotifier.start(state: state) {
            logger.error("cannot start the alert thread; budget alerts will not reach their webhooks")
        }
        if let exporter = context.traceExporter, !exporter.start(state: state) {
            logger.error("cannot start the trace exporter thread; no spans will be exported")
        }
        if !KeepWarmThread(context: context, state: state).start() {
            logger.error("cannot start the keep-warm thread; endpoints with keep_warm will not be pinged")
        }
        logger.info("worker ready", metadata: ["threads": "\(threads)"])
        ReadinessPipe.reportReady()

        while true {
            if let signal = Signals.wait(for: [SIGTERM, SIGINT, SIGQUIT, SIGHUP], timeout: .seconds(1)) {
                if signal == SIGHUP { continue }  // reloads are the master's job
                break
            }
            if getppid() != parent {
                logger.warning("master process is gone; draining")
                break
            }
        }
        let status = drain(acceptors, dispatcher: dispatcher, state: state, context: context, timeout: drainTimeout)
        // Every call the acceptors finished is written (or spooled) before the process exits.
        if !settler.finish(until: .now + .seconds(10)) {
            logger.error("the settler did not finish in time; \(settler.backlog) finished calls are not written")
            return 1
        }
        return status
    }

    private static func drain(_ acceptors: [AcceptorThread], dispatcher: ConnectionDispatcher, state: DrainState,
                              context: WorkerContext, timeout: Duration) -> Int32 {
        state.stopping.store(true, ordering: .sequentiallyConsistent)
        dispatcher.stop()
        if waitForAcceptors(acceptors, until: .now + timeout) {
            context.logger.info("worker drained")
            return 0
        }
        // Out of time: stop the calls still running, so each client gets an explicit error
        // (an error event for a stream) rather than a connection that just ends.
        context.logger.warning("drain timeout reached; ending the requests still in flight")
        context.abandonInFlight.store(true, ordering: .relaxed)
        _ = waitForAcceptors(acceptors, until: .now + .seconds(3))
        return 1
    }

    /// Wakes idle acceptors until every thread has left its loop; `false` at the deadline.
    private static func waitForAcceptors(_ acceptors: [AcceptorThread], until deadline: ContinuousClock.Instant) -> Bool {
        while ContinuousClock.now < deadline {
            let running = acceptors.filter { !$0.finished.load(ordering: .acquiring) }
            if running.isEmpty { return true }
            // Re-signal every round: a thread may have been about to enter epoll_wait when
            // the previous signal arrived.
            for acceptor in running where acceptor.waiting.load(ordering: .acquiring) {
                acceptor.wake()
            }
            usleep(20_000)
        }
        return false
    }

    /// The validated config text the master wrote to descriptor 4.
    private static func readSnapshot() throws -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var offset: off_t = 0
        while true {
            let count = chunk.withUnsafeMutableBytes { pread(configDescriptor, $0.baseAddress, $0.count, offset) }
            if count < 0 { throw PoolError("cannot read the configuration snapshot: \(errnoText())") }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            offset += off_t(count)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Shared by a worker's threads: whether the worker is draining.
final class DrainState: Sendable {
    let stopping = Atomic<Bool>(false)
}
