import Glibc

/// Signal plumbing shared by the master and the workers. Signals that drive the pool
/// are blocked in every thread and taken synchronously with `sigtimedwait`, so no
/// handler runs arbitrary code; only the worker's wake-up signal has a (no-op) handler.
/// Public for `sluice audit drain` (SluiceOps), which stops on SIGINT/SIGTERM the same way.
public enum Signals {
    /// SIGUSR1 interrupts a worker thread blocked in `accept` while it drains.
    static let wake = SIGUSR1

    /// Blocks `signals` in the calling thread (and threads it starts afterwards).
    public static func block(_ signals: [Int32]) {
        var set = makeSet(signals)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Unblocks `signals` in the calling thread.
    static func unblock(_ signals: [Int32]) {
        var set = makeSet(signals)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// Waits up to `timeout` for one of `signals` (which must be blocked); `nil` on timeout.
    public static func wait(for signals: [Int32], timeout: Duration) -> Int32? {
        var set = makeSet(signals)
        let (seconds, attoseconds) = timeout.components
        var spec = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        let signal = sigtimedwait(&set, nil, &spec)
        return signal > 0 ? signal : nil
    }

    /// Ignores SIGPIPE: a vanished peer shows as a failed write instead of killing the process.
    static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Installs a no-op handler for `wake` *without* SA_RESTART, so a blocked `accept`
    /// returns EINTR (libfcgi then fails the accept: FCGI_FAIL_ACCEPT_ON_INTR).
    static func installWakeHandler() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(wake, &action, nil)
    }

    static func makeSet(_ signals: [Int32]) -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        return set
    }
}
