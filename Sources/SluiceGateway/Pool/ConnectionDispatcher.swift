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
    /// handed back under (with `arming` while `keep` is still registering it), or 0. An
    /// event for an older generation of the same number is stale. Zeroed pages from
    /// `calloc`: only the pages of descriptor numbers in use are ever touched.
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
    /// Set in a slot while `keep` registers its connection: a drain's sweep leaves it to
    /// `keep` (which closes it if the drain began), and a woken thread may still take it.
    private static let arming: UInt32 = 1 << 31

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
        // All zero bits are an `Atomic<UInt32>` holding 0.
        guard let zeroed = calloc(Int(capacity), MemoryLayout<Atomic<UInt32>>.stride) else { return nil }
        slots = zeroed.bindMemory(to: Atomic<UInt32>.self, capacity: Int(capacity))
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0, Self.control(epoll, EPOLL_CTL_ADD, listener, Self.armed, Self.listenerToken) else {
            if epoll >= 0 { close(epoll) }
            free(slots)
            return nil
        }
    }

    deinit {
        close(epoll)
        free(slots)
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
    ///
    /// Whoever swaps the slot to 0 owns the connection: a thread woken for it, a drain's
    /// sweep, or this call when arming failed or a drain began. The slot is marked `arming`
    /// until the connection is registered, so a sweep never closes a descriptor this call
    /// is about to hand to epoll (its number could meanwhile belong to another socket).
    /// The accesses to the slot and to `closed` are sequentially consistent: either this
    /// call sees the drain's `closed`, or the drain's sweep sees the slot.
    func keep(_ connection: Int32) {
        guard connection >= 0, connection < capacity, !closed.load(ordering: .sequentiallyConsistent) else {
            close(connection)
            return
        }
        var generation = self.generation.wrappingAdd(1, ordering: .relaxed).newValue & ~Self.arming
        if generation == 0 { generation = 1 }
        let slot = slots + Int(connection)
        idle.add(1, ordering: .relaxed)
        _ = highest.max(connection, ordering: .sequentiallyConsistent)
        // Idle before it is armed: the event that arming may raise at once finds it so.
        slot.pointee.store(generation | Self.arming, ordering: .sequentiallyConsistent)
        let events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLONESHOT.rawValue
        let token = UInt64(generation) << 32 | UInt64(UInt32(bitPattern: connection))
        // Registered since an earlier request (a oneshot entry stays in the set, disarmed),
        // or new: one system call either way after the first.
        let armed = Self.control(epoll, EPOLL_CTL_MOD, connection, events, token)
            || (errno == ENOENT && Self.control(epoll, EPOLL_CTL_ADD, connection, events, token))
        guard armed else {
            // Not armed: no event can hand it out, and sweeps skip it; closed here.
            if take(connection, generation: generation) { close(connection) }
            return
        }
        // Plain idle now, unless a thread woken for it has taken it already.
        guard slot.pointee.compareExchange(expected: generation | Self.arming, desired: generation,
                                           ordering: .sequentiallyConsistent).exchanged else { return }
        // A drain that began meanwhile may have swept before the slot was plain: closed
        // here then, unless the sweep or a woken thread took it first.
        if closed.load(ordering: .sequentiallyConsistent), take(connection, generation: generation) {
            close(connection)
        }
    }

    /// Draining: accepts nothing more, and closes every connection handed back from now on.
    func stop() {
        closed.store(true, ordering: .sequentiallyConsistent)
    }

    /// Kept connections waiting for nginx's next request.
    var idleCount: Int {
        idle.load(ordering: .relaxed)
    }

    /// Stops, then closes the idle connections (the end of a drain's grace period); one
    /// `keep` still arming closes its own.
    func closeIdle() {
        stop()
        let last = highest.load(ordering: .sequentiallyConsistent)
        guard last >= 0 else { return }
        for connection in 0...last {
            let slot = slots + Int(connection)
            let value = slot.pointee.load(ordering: .sequentiallyConsistent)
            guard value != 0, value & Self.arming == 0,
                  slot.pointee.compareExchange(expected: value, desired: 0, ordering: .sequentiallyConsistent).exchanged
            else { continue }
            idle.subtract(1, ordering: .relaxed)
            close(connection)
        }
    }

    /// Makes `connection` no longer idle if it still is under `generation` (armed or still
    /// arming): `true` when this caller took it (and now owns it).
    private func take(_ connection: Int32, generation: UInt32) -> Bool {
        guard connection >= 0, connection < capacity else { return false }
        let slot = slots + Int(connection)
        guard slot.pointee.compareExchange(expected: generation, desired: 0, ordering: .sequentiallyConsistent).exchanged
                || slot.pointee.compareExchange(expected: generation | Self.arming, desired: 0,
                                                ordering: .sequentiallyConsistent).exchanged else { return false }
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
