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
        while !state.stopping.load(ordering: .acquiring) {
            waiting.store(true, ordering: .releasing)
            let accepted = request.accept()
            waiting.store(false, ordering: .releasing)
            guard accepted else {
                if state.stopping.load(ordering: .acquiring) { break }
                failures += 1
                if failures == 1 || failures % 1000 == 0 {
                    context.logger.error("accept failed on the FastCGI socket (\(failures) times)")
                }
                usleep(10_000)
                continue
            }
            failures = 0
            context.busyThreads.add(1, ordering: .relaxed)
            pipeline.handle(request)
            pipeline.settleBeforeFinish()
            request.finish()
            pipeline.afterResponse()
            context.busyThreads.subtract(1, ordering: .relaxed)
        }
        finished.store(true, ordering: .releasing)
    }
}
