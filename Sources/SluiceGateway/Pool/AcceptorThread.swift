import Glibc
import SluiceFastCGI
import Synchronization

/// One OS thread that serves FastCGI requests, on connections the worker's
/// `ConnectionDispatcher` hands it (new ones and ones nginx kept). Everything C it uses
/// (the FastCGI request, the curl handle, the Redis connection) is created on this thread
/// and never leaves it. Started with `pthread_create`, not on Swift's cooperative pool,
/// because every call it makes blocks.
final class AcceptorThread: @unchecked Sendable {
    let index: Int
    private let context: WorkerContext
    private let settler: CallSettler
    private let state: DrainState
    private let dispatcher: ConnectionDispatcher
    private var thread = pthread_t()
    /// The thread is (about to be) waiting for a connection.
    let waiting = Atomic<Bool>(false)
    /// The thread has left its loop.
    let finished = Atomic<Bool>(false)

    init(index: Int, context: WorkerContext, settler: CallSettler, state: DrainState,
         dispatcher: ConnectionDispatcher) {
        self.index = index
        self.context = context
        self.settler = settler
        self.state = state
        self.dispatcher = dispatcher
    }

    /// Starts the thread; `false` if the system refused.
    func start() -> Bool {
        guard let started = PosixThread.start({ self.loop() }) else { return false }
        thread = started
        return true
    }

    /// Interrupts a blocked wait.
    func wake() {
        pthread_kill(thread, Signals.wake)
    }

    private func loop() {
        Signals.unblock([Signals.wake])
        let request = FastCGIRequest()
        let pipeline = RequestPipeline(context: context, settler: settler)
        var graceEnd: ContinuousClock.Instant?
        while true {
            let connection: Int32
            if state.stopping.load(ordering: .acquiring) {
                if Self.listenerShutWithBacklog(), let queued = dispatcher.acceptQueued() {
                    // The pool is stopping (the master shut the socket, so nothing new
                    // arrives): serve the connections still queued.
                    connection = queued
                } else {
                    // Kept connections get one more request each (closed after its answer)
                    // for a grace period; then whatever is still idle is closed and the
                    // thread leaves. When only this worker drains (a reload), the next
                    // generation accepts the new connections.
                    let end = graceEnd ?? .now + Self.drainGrace
                    graceEnd = end
                    if dispatcher.idleCount == 0 || ContinuousClock.now >= end {
                        dispatcher.closeIdle()
                        break
                    }
                    guard let next = dispatcher.next(timeoutMs: 20) else { continue }
                    connection = next
                }
            } else {
                waiting.store(true, ordering: .releasing)
                let next = dispatcher.next()
                waiting.store(false, ordering: .releasing)
                guard let next else { continue }
                connection = next
            }
            guard request.read(from: connection) else { continue }
            context.busyThreads.add(1, ordering: .relaxed)
            pipeline.handle(request)
            pipeline.settleBeforeFinish()
            // The call's record is journaled before its response completes: a worker that
            // dies after this point leaves it to be replayed, one that dies before it
            // never completed the response.
            pipeline.handOffBeforeFinish()
            if let kept = request.finish(keep: !state.stopping.load(ordering: .acquiring)) {
                dispatcher.keep(kept)
            }
            pipeline.afterFinish()
            context.busyThreads.subtract(1, ordering: .relaxed)
        }
        finished.store(true, ordering: .releasing)
    }

    private static let readHangUp: Int16 = 0x2000  // POLLRDHUP (Linux; Glibc exports it only with _GNU_SOURCE)

    /// How long a draining worker keeps answering on nginx's kept connections.
    private static let drainGrace = Duration.seconds(1)

    /// Whether the shared listening socket was shut (`ListeningSocket.stopListening`) and
    /// may still hold queued connections. The dispatcher's accept does not block: once none
    /// is left it fails at once, and the loop goes on to the kept connections' grace.
    private static func listenerShutWithBacklog() -> Bool {
        var descriptor = pollfd(fd: WorkerProcess.listenDescriptor, events: Int16(POLLIN) | readHangUp, revents: 0)
        return poll(&descriptor, 1, 0) == 1 && descriptor.revents & readHangUp != 0
            && descriptor.revents & Int16(POLLIN) != 0
    }
}
