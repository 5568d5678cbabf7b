import Glibc

/// A condition variable whose timed waits run on `CLOCK_MONOTONIC`, so a wall clock
/// stepped back (NTP) never stretches a wait: the settler's linger, the trace exporter's
/// batching interval.
enum MonotonicCondition {
    /// Initialises `condition` to time its waits on the monotonic clock.
    static func initialize(_ condition: UnsafeMutablePointer<pthread_cond_t>) {
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    /// Waits on `condition` (holding `mutex`) until signalled or `delay` has passed.
    static func wait(_ condition: UnsafeMutablePointer<pthread_cond_t>, _ mutex: UnsafeMutablePointer<pthread_mutex_t>,
                     for delay: Duration) {
        var until = timespec()
        clock_gettime(CLOCK_MONOTONIC, &until)
        let (seconds, attoseconds) = delay.components
        until.tv_sec += Int(seconds)
        until.tv_nsec += Int(attoseconds / 1_000_000_000)
        if until.tv_nsec >= 1_000_000_000 { until.tv_sec += 1; until.tv_nsec -= 1_000_000_000 }
        _ = pthread_cond_timedwait(condition, mutex, &until)
    }
}
