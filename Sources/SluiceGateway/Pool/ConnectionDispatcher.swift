import CLinux
import Glibc
import Synchronization

/// Hands nginx's FastCGI connections to a worker's threads, new and kept alike.
///
/// nginx keeps its connections to the pool open between requests (`fastcgi_keep_conn on`
/// with an upstream `keepalive`), which spares both sides a connect, an accept and a
/// close per request. Between requests a kept connection waits here, in one epoll set,
/// not in a thread: a thread only ever holds a connection while it serves a request, so
/// nginx may keep more idle connections than the pool has threads without stalling
/// anything. The listening socket is in the same set; each ready connection (or pending
/// accept) wakes exactly one idle thread (every entry is `EPOLLONESHOT` and re-armed by
/// whoever took it).
///
/// Draining (`stop()`): no new connection is accepted, and every kept connection is closed
/// right after its next response, or when it is still idle at the end of the drain's grace
/// period. nginx does not resend a POST it wrote into a connection the pool had just
/// closed (the client would get a 502), so the pool closes kept connections when nginx
/// is least likely to be writing into them: just after answering on them (nginx sees the
/// end of the connection with the answer), and after they sat idle (nginx reuses its
/// most recently used connections first).
///
/// No lock: which connection is idle lives in one atomic slot per descriptor number (the
/// generation it was handed back under, 0 when not idle), and whoever swaps a slot from
/// its generation to 0 owns the connection (a thread woken for it, or a drain's close). A
/// mutex here cost a futex and often a context switch per request on a busy worker (a
/// quarter of the pool's futex calls at c=64, 8% of its CPU spinning in the lock).
final class ConnectionDispatcher: @unchecked Sendable {
    private let epoll: Int32
    private let listener: Int32
    /// The listener is TCP (a multi-host pool): accepted connections get `TCP_NODELAY`, as
    /// libfcgi's own accept gave them, so a flushed stream chunk is not held by Nagle.
    private let tcp: Bool
    /// Per descriptor number below `capacity`: the generation an idle kept connection was
    /// handed back under, or 0. An event for an older generation of the same number is stale.
    private let slots: UnsafeMutablePointer<Atomic<UInt32>>
    /// Descriptor numbers the slots cover: the process's open-file limit (every descriptor
    /// is below it), at most 2²⁰.
    private let capacity: Int32
    /// The highest descriptor number ever kept (a drain's close looks no further).
    private let highest = Atomic<Int32>(-1)
    private let generation = Atomic<UInt32>(0)
    private let idle = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)

    private static let listenerToken = UInt64.max

    /// `nil` when the system refuses an epoll set.
    init?(listener: Int32) {
        self.listener = listener
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        tcp = named == 0 && (Int32(address.ss_family) == AF_INET || Int32(address.ss_family) == AF_INET6)
        var limit = rlimit()
        let files = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 ? limit.rlim_cur : 1 << 20
        capacity = Int32(clamping: min(max(files, 1024), 1 << 20))
        slots = .allocate(capacity: Int(capacity))
        for index in 0..<Int(capacity) { (slots + index).initialize(to: Atomic<UInt32>(0)) }
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0, Self.control(epoll, EPOLL_CTL_ADD, listener, Self.armed, Self.listenerToken) else {
            if epoll >= 0 { close(epoll) }
            slots.deinitialize(count: Int(capacity))
            slots.deallocate()
            return nil
        }
    }

    deinit {
        close(epoll)
        slots.deinitialize(count: Int(capacity))
        slots.deallocate()
    }

    /// Waits for a connection with a request to read: a new one just accepted, or a kept
    /// one nginx sent its next request on. `nil` when the wait was interrupted (a signal:
    /// the worker drains) or timed out, or the connection turned out to be gone; the caller
    /// checks why and waits again. Once stopped, it accepts nothing (the listener is left
    /// disarmed, to the other workers and the next generation).
    func next(timeoutMs: Int32 = -1) -> Int32? {
        var event = epoll_event()
        guard epoll_wait(epoll, &event, 1, timeoutMs) == 1 else { return nil }
        switch event.data.u64 {
        case Self.listenerToken:
            if closed.load(ordering: .acquiring) { return nil }
            // Another worker may have taken the connection: the listener is non-blocking,
            // so that is EAGAIN, not a thread stuck in accept.
            let connection = acceptOne()
            // Out of descriptors or memory: the connection stays queued; wait a little
            // rather than wake again at once.
            if connection < 0 && [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(errno) { usleep(10_000) }
            // EINVAL: the master shut the listener (the pool stops); it stays disarmed.
            if connection >= 0 || errno != EINVAL {
                _ = Self.control(epoll, EPOLL_CTL_MOD, listener, Self.armed, Self.listenerToken)
            }
            return connection >= 0 ? connection : nil
        case let token:
            let connection = Int32(truncatingIfNeeded: token & 0xffff_ffff)
            let generation = UInt32(truncatingIfNeeded: token >> 32)
            guard take(connection, generation: generation) else { return nil }
            // nginx closed it (its keepalive timeout, a reload of nginx): nothing to read.
            if event.events & (EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
                close(connection)
                return nil
            }
            return connection
        }
    }

    /// Takes back a connection nginx keeps, until its next request. Closes it instead once
    /// the dispatcher stopped.
    func keep(_ connection: Int32) {
        guard connection < capacity, !closed.load(ordering: .acquiring) else {
            close(connection)
            return
        }
        var generation = self.generation.wrappingAdd(1, ordering: .relaxed).newValue
        if generation == 0 { generation = self.generation.wrappingAdd(1, ordering: .relaxed).newValue }
        // Idle before it is armed: the event that arming may raise at once finds it so.
        slots[Int(connection)].store(generation, ordering: .releasing)
        idle.add(1, ordering: .relaxed)
        _ = highest.max(connection, ordering: .relaxed)
        let events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLONESHOT.rawValue
        let token = UInt64(generation) << 32 | UInt64(UInt32(bitPattern: connection))
        // Registered since an earlier request (a oneshot entry stays in the set, disarmed),
        // or new: one system call either way after the first.
        let armed = Self.control(epoll, EPOLL_CTL_MOD, connection, events, token)
            || (errno == ENOENT && Self.control(epoll, EPOLL_CTL_ADD, connection, events, token))
        // Not armed, or a drain began meanwhile (its sweep may have run before the slot
        // was set): closed here, unless a woken thread or the sweep took it first.
        if !armed || closed.load(ordering: .acquiring), take(connection, generation: generation) {
            close(connection)
        }
    }

    /// Draining: accepts nothing more, and closes every connection handed back from now on.
    func stop() {
        closed.store(true, ordering: .releasing)
    }

    /// Kept connections waiting for nginx's next request.
    var idleCount: Int {
        idle.load(ordering: .relaxed)
    }

    /// Closes the idle connections (the end of a drain's grace period).
    func closeIdle() {
        let last = highest.load(ordering: .relaxed)
        guard last >= 0 else { return }
        for connection in 0...last where slots[Int(connection)].exchange(0, ordering: .acquiringAndReleasing) != 0 {
            idle.subtract(1, ordering: .relaxed)
            close(connection)
        }
    }

    /// Makes `connection` no longer idle if it still is under `generation`: `true` when
    /// this caller took it (and now owns it).
    private func take(_ connection: Int32, generation: UInt32) -> Bool {
        guard connection >= 0, connection < capacity,
              slots[Int(connection)].compareExchange(expected: generation, desired: 0,
                                                     ordering: .acquiringAndReleasing).exchanged else { return false }
        idle.subtract(1, ordering: .relaxed)
        return true
    }

    /// A connection still queued on a listener the master shut (the pool is stopping), or
    /// `nil` when none is left.
    func acceptQueued() -> Int32? {
        let connection = acceptOne()
        return connection >= 0 ? connection : nil
    }

    /// One `accept4` on the (non-blocking) listener; a TCP connection gets `TCP_NODELAY`.
    /// -1 with `errno` set when none was taken.
    private func acceptOne() -> Int32 {
        let connection = accept4(listener, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
        if connection >= 0 && tcp {
            var on: Int32 = 1
            _ = setsockopt(connection, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        }
        return connection
    }

    /// Makes the shared listening socket non-blocking, so a thread woken for a connection
    /// another worker took gets EAGAIN instead of blocking in accept. The flag belongs to
    /// the socket every worker shares (the master's, inherited): a worker of a build from
    /// before the dispatcher, still draining after an upgrade's reload, would see its
    /// blocking accept fail with EAGAIN and retry every 10 ms until it leaves.
    static func prepare(listener: Int32) {
        let flags = fcntl(listener, F_GETFL)
        if flags >= 0 && flags & O_NONBLOCK == 0 { _ = fcntl(listener, F_SETFL, flags | O_NONBLOCK) }
    }

    private static let armed = EPOLLIN.rawValue | EPOLLONESHOT.rawValue

    private static func control(_ epoll: Int32, _ operation: Int32, _ descriptor: Int32, _ events: UInt32,
                                _ token: UInt64) -> Bool {
        var event = epoll_event()
        event.events = events
        event.data.u64 = token
        return epoll_ctl(epoll, operation, descriptor, &event) == 0
    }
}
