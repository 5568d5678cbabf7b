import Glibc

/// The time as the request pipeline reads it: a monotonic instant (the route's deadline,
/// latencies, time to first byte, the stream keep-alive, the key caches), the wall clock
/// (record times, key expiry, budget periods) and the wait before calling an endpoint
/// again. In production it is `SystemClock`; the pipeline's unit tests use a clock they
/// advance themselves, so time-driven behaviour is tested without sleeping. Code off the
/// request path (pool, settler, spool, metrics flush) reads the system clocks itself.
protocol GatewayClock {
    /// Now, on a clock that never jumps (`ContinuousClock`).
    var now: ContinuousClock.Instant { get }
    /// Now on the wall clock, in nanoseconds since the Unix epoch.
    var unixNanos: Int64 { get }
    /// Blocks the calling thread for `duration` (a signal may end it early).
    func sleep(_ duration: Duration)
}

extension GatewayClock {
    /// Now on the wall clock, in milliseconds since the Unix epoch.
    var unixMs: Int64 { unixNanos / 1_000_000 }
}

/// The system's clocks: `ContinuousClock`, `CLOCK_REALTIME` (clock_gettime(2)) and
/// nanosleep(2). It holds nothing, so a pipeline's `any GatewayClock` costs no allocation.
struct SystemClock: GatewayClock {
    var now: ContinuousClock.Instant { .now }

    var unixNanos: Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        guard seconds > 0 || attoseconds > 0 else { return }
        var wanted = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        nanosleep(&wanted, nil)
    }
}
