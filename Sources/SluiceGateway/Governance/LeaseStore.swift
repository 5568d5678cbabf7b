import Glibc
import SluiceCore
import SluiceRedis

/// The process's leases (`Leases`), shared by its threads behind one mutex (a plain
/// `pthread_mutex_t`: held for a few dictionary lookups, never across a round trip).
final class LeaseStore: @unchecked Sendable {
    private var leases = Leases()
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Instants are read as nanoseconds since this one.
    private let origin: ContinuousClock.Instant

    /// The Redis primary's epoch (`SentinelDirectory.epoch`; 0 without Sentinel): when it
    /// changes, the primary may have been replaced, and the leases are dropped unused.
    private let epoch: @Sendable () -> Int
    private var seenEpoch: Int

    init(origin: ContinuousClock.Instant = .now, epoch: @escaping @Sendable () -> Int = { 0 }) {
        self.origin = origin
        self.epoch = epoch
        self.seenEpoch = epoch()
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    /// Under Sentinel, the leases follow `directory`'s primary.
    convenience init(redis config: RedisConfig) {
        let directory = RedisConnection(config: config).sentinelDirectory
        self.init(epoch: { directory?.epoch ?? 0 })
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// `instant` in nanoseconds since `origin`.
    func nanos(_ instant: ContinuousClock.Instant) -> Int64 {
        let (seconds, attoseconds) = (instant - origin).components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    private func locked<T>(_ body: (inout Leases) -> T) -> T {
        let current = epoch()
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if current != seenEpoch {
            seenEpoch = current
            leases.discard()
        }
        return body(&leases)
    }

    /// `Leases.admit`.
    func admit(_ plan: AdmissionPlan, at instant: ContinuousClock.Instant) -> (atMs: Int, states: [RateLimitState])? {
        let now = nanos(instant)
        return locked { $0.admit(plan, now: now) }
    }

    /// `Leases.ask`.
    func ask(for plan: AdmissionPlan, at instant: ContinuousClock.Instant) -> (request: LeaseRequest, epoch: Int) {
        let now = nanos(instant)
        return locked { ($0.ask(for: plan, now: now), seenEpoch) }
    }

    /// `Leases.granted` (none granted: the names may be asked for again). A new lease wakes
    /// whoever `onGrant` names (the settler, which returns its rest when it ends).
    /// Grants from a primary asked under an older `epoch` are dropped.
    func answered(_ request: LeaseRequest, epoch asked: Int, grants: [LeaseGrant], sent instant: ContinuousClock.Instant) {
        guard !request.isEmpty else { return }
        let sent = nanos(instant)
        let wake = locked { leases -> (@Sendable () -> Void)? in
            guard asked == seenEpoch else {
                leases.failed(request)
                return nil
            }
            leases.granted(grants, for: request, sent: sent)
            return grants.isEmpty ? nil : onGrant
        }
        wake?()
    }

    /// Called after a lease is granted (without the store's lock held).
    func onGrant(_ body: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(mutex)
        onGrant = body
        pthread_mutex_unlock(mutex)
    }

    private var onGrant: (@Sendable () -> Void)?

    /// What must go back now (`Leases.returns`).
    func returns(at instant: ContinuousClock.Instant) -> [Settlement] {
        let now = nanos(instant)
        return locked { $0.returns(now: now, lifetime: Settlement.reservationLifetime) }
    }

    /// When the next lease ends (`nil`: none held), or now when something waits to go back.
    func nextDue() -> ContinuousClock.Instant? {
        locked { leases in
            if leases.hasReturns { return .now }
            return leases.nextDeadline.map { origin + .nanoseconds($0) }
        }
    }

    /// No more leases; `returns` gives back every one held.
    func close() {
        locked { $0.close() }
    }
}
