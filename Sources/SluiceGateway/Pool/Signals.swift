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

    /// The process that sent a signal with `kill(2)` or `sigqueue(3)` (its `siginfo_t`'s
    /// `si_pid` and `si_uid`, the sender's real user id).
    public struct Sender: Sendable, Equatable {
        /// The sending process.
        public var pid: pid_t
        /// Its real user.
        public var uid: uid_t
    }

    /// Waits up to `timeout` for one of `signals` (which must be blocked); `nil` on timeout.
    public static func wait(for signals: [Int32], timeout: Duration) -> Int32? {
        waitWithSender(for: signals, timeout: timeout)?.signal
    }

    /// Like `wait`, with who sent the signal; `sender` is `nil` when no process did (the
    /// kernel raised it, e.g. SIGCHLD).
    static func waitWithSender(for signals: [Int32], timeout: Duration) -> (signal: Int32, sender: Sender?)? {
        var set = makeSet(signals)
        let (seconds, attoseconds) = timeout.components
        var spec = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var info = siginfo_t()
        let signal = sigtimedwait(&set, &info, &spec)
        guard signal > 0 else { return nil }
        // SI_USER (kill), SI_QUEUE (sigqueue), SI_TKILL (tgkill): a process sent it, and the
        // union holds its pid and uid.
        guard [0, -1, -6].contains(info.si_code) else { return (signal, nil) }
        return (signal, Sender(pid: info._sifields._kill.si_pid, uid: info._sifields._kill.si_uid))
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
