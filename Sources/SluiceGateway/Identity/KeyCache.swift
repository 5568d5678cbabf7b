import SluiceCore
import Synchronization

/// A worker's short-lived memory of key lookups, shared by its threads.
///
/// Entries (found, missing or revoked) live for `ttl`, so a revocation reaches every
/// responder within `ttl` plus one lookup, and a flood of bad keys costs Redis one
/// lookup per key per `ttl`.
public final class KeyCache: Sendable {
    private struct Entry {
        let record: GatewayKeyRecord?
        let expires: ContinuousClock.Instant
        let stored: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let ttl: Duration
    private let capacity: Int

    public init(ttl: Duration = .seconds(2), capacity: Int = 10_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    /// The cached answer for `hash`: `.some(record-or-nil)` if fresh, `nil` if unknown or stale.
    public func cached(hash: String, now: ContinuousClock.Instant = .now) -> GatewayKeyRecord?? {
        fresh(hash: hash, now: now).map { $0.record }
    }

    /// The cached answer for `hash` and until when it is fresh; `nil` if unknown or stale.
    func fresh(hash: String, now: ContinuousClock.Instant = .now) -> (record: GatewayKeyRecord?, expires: ContinuousClock.Instant)? {
        entries.withLock { entries in
            guard let entry = entries[hash], entry.expires > now else { return nil }
            return (entry.record, entry.expires)
        }
    }

    /// How long a found key stays usable from memory while Redis cannot be reached.
    static let staleLimit: Duration = .seconds(600)

    /// A key found less than `staleLimit` ago, for when Redis cannot be asked again.
    public func stale(hash: String, now: ContinuousClock.Instant = .now) -> GatewayKeyRecord? {
        entries.withLock { entries in
            guard let entry = entries[hash], now - entry.stored < Self.staleLimit else { return nil }
            return entry.record
        }
    }

    /// Remembers the lookup result for `hash`; returns until when it is fresh.
    @discardableResult
    public func store(hash: String, record: GatewayKeyRecord?, now: ContinuousClock.Instant = .now) -> ContinuousClock.Instant {
        entries.withLock { entries in
            if entries.count >= capacity {
                entries = entries.filter { $0.value.expires > now || now - $0.value.stored < Self.staleLimit }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[hash] = Entry(record: record, expires: now + ttl, stored: now)
            return now + ttl
        }
    }
}

/// One thread's copy of the entries it used from the worker's `KeyCache`, each until the
/// shared entry's own expiry, so a thread checks a key it keeps seeing without taking the
/// worker-wide lock (which 16 threads of a busy worker would otherwise queue for). A
/// revocation is seen no later than through the shared cache.
final class ThreadKeyCache {
    private var entries: [String: (record: GatewayKeyRecord?, expires: ContinuousClock.Instant)] = [:]
    private let capacity = 1024

    /// The fresh answer for `hash`, if this thread has one.
    func cached(hash: String, now: ContinuousClock.Instant) -> GatewayKeyRecord?? {
        guard let entry = entries[hash] else { return nil }
        guard entry.expires > now else {
            entries[hash] = nil
            return nil
        }
        return .some(entry.record)
    }

    func store(hash: String, record: GatewayKeyRecord?, expires: ContinuousClock.Instant) {
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[hash] = (record, expires)
    }
}
