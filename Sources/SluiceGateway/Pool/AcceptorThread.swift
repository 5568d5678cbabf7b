import Glibc
import SluiceFastCGI
import Synchronization

/// One OS thread that accepts and serves FastCGI requests. Everything C it uses (the
/// FastCGI request, the curl handle, the Redis connection) is created on this thread
/// and never leaves it. Started with `pthread_create`, not on Swift's cooperative pool,
/// because every call it makes blocks.
final class AcceptorThread: @unchecked Sendable {
    let index: Int
    private let context: WorkerContext
    private let settler: CallSettler
    private let state: DrainState
    private var thread = pthread_t()
    /// The thread is (about to be) blocked in accept.
    let waiting = Atomic<Bool>(false)
    /// The thread has left its loop.
    let finished = Atomic<Bool>(false)

    init(index: Int, context: WorkerContext, settler: CallSettler, state: DrainState) {
        self.index = index
        self.context = context
        self.settler = settler
        self.state = state
    }

    /// Starts the thread; `false` if the system refused.
    func start() -> Bool {
        guard let started = PosixThread.start({ self.loop() }) else { return false }
        thread = started
        return true
    }

    /// Interrupts a blocked accept.
    func wake() {
        pthread_kill(thread, Signals.wake)
    }

    private func loop() {
        Signals.unblock([Signals.wake])
        let request = FastCGIRequest(listeningSocket: WorkerProcess.listenDescriptor)
        let pipeline = RequestPipeline(context: context, settler: settler)
        var failures = 0
        while true {
            // Draining: when the pool is stopping (the master shut the socket, so nothing new
            // arrives), serve the connections still queued, then leave; when only this
            // worker drains (a reload), the next generation takes them.
            if state.stopping.load(ordering: .acquiring) && !Self.listenerShutWithBacklog() { break }
            waiting.store(true, ordering: .releasing)
            let accepted = request.accept()
            waiting.store(false, ordering: .releasing)
            guard accepted else {
                if state.stopping.load(ordering: .acquiring) { break }
                failures += 1
                // The master shut the listener and is about to tell this worker to drain:
                // accept fails at once until then, which is no error worth a log line.
                if (failures == 1 || failures % 1000 == 0) && !Self.listenerShut() {
                    context.logger.error("accept failed on the FastCGI socket (\(failures) times)")
                }
                usleep(10_000)
                continue
            }
            failures = 0
            context.busyThreads.add(1, ordering: .relaxed)
            pipeline.handle(request)
            pipeline.settleBeforeFinish()
            // The call's record is journaled before its response completes: a worker that
            // dies after this point leaves it to be replayed, one that dies before it
            // never completed the response.
            pipeline.handOffBeforeFinish()
            request.finish()
            pipeline.afterFinish()
            context.busyThreads.subtract(1, ordering: .relaxed)
        }
        finished.store(true, ordering: .releasing)
    }

    /// Whether the shared listening socket was shut (`ListeningSocket.stopListening`).
    private static func listenerShut() -> Bool {
        var descriptor = pollfd(fd: WorkerProcess.listenDescriptor, events: Int16(POLLIN) | readHangUp, revents: 0)
        return poll(&descriptor, 1, 0) == 1 && descriptor.revents & (readHangUp | Int16(POLLHUP)) != 0
    }

    private static let readHangUp: Int16 = 0x2000  // POLLRDHUP (Linux; Glibc exports it only with _GNU_SOURCE)

    /// Whether the shared listening socket was shut (`ListeningSocket.stopListening`) and
    /// may still hold queued connections. An accept that then finds none blocks until the
    /// drain's wake signal, or fails at once (TCP), and the loop ends.
    private static func listenerShutWithBacklog() -> Bool {
        var descriptor = pollfd(fd: WorkerProcess.listenDescriptor, events: Int16(POLLIN) | readHangUp, revents: 0)
        return poll(&descriptor, 1, 0) == 1 && descriptor.revents & readHangUp != 0
            && descriptor.revents & Int16(POLLIN) != 0
    }
}
