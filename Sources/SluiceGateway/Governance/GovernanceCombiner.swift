import Glibc
import SluiceCore
import SluiceRedis

/// The admissions and settlements of every thread of one worker process, combined into
/// shared Redis round trips (a group commit). A thread queues its work and, if one of the
/// `lanes` connections is free, takes everything queued and makes one pipeline of it: one
/// `LimitScripts.settle` for all the settlements, one `LimitScripts.admit` for all the
/// admissions (in the order they were queued), then the extra calls (health snapshots).
/// The threads whose work it carried wake with their replies; work queued while every lane
/// is out goes in the next round trip.
///
/// So a quiet gateway makes each call's round trip at once, as if alone, and a busy one
/// pays one script start per batch, and reads and writes each counter its calls share once
/// per batch rather than once per call. Decisions are unchanged: the script decides each
/// call in order exactly as it would alone.
///
/// Settlements travel here only when the settler tries again one that never reached Redis
/// (they go first in a round trip, so the admissions in it see them settled); a call's own
/// settlement goes with its audit record, in the settler's round trip.
final class GovernanceCombiner: GovernancePort, @unchecked Sendable {
    /// Most calls' work in one round trip.
    static let largestBatch = 64
    /// Round trips out at once: a call that finds one out goes in the next at once rather
    /// than wait for it (lower latency at moderate load); with all out, calls queue and
    /// the next round trip carries them all.
    static let lanes = 2

    /// The connections of the lanes not in use (guarded by `mutex`).
    private var idle: [RedisConnection]
    private let keys: RedisKeys
    private let lifetime: Duration
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    // Guarded by `mutex`:
    private var queue: [GovernanceTicket] = []

    /// `connect` makes each lane's connection.
    init(connect: () -> RedisConnection, keys: RedisKeys, reservationLifetime: Duration) {
        self.idle = (0..<Self.lanes).map { _ in connect() }
        self.keys = keys
        self.lifetime = reservationLifetime
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Admits `plan` (with `extra` in the same round trip); returns when Redis has answered.
    func admit(_ plan: AdmissionPlan, extra: AdmissionPlan.ScriptCall?, asking: LeaseRequest) -> GovernanceTicket {
        let ticket = GovernanceTicket(admission: plan, extra: extra, settlements: [], asking: asking)
        // Queued by `wait`, under the lock it takes anyway: one lock per admission, not two.
        wait(for: ticket)
        return ticket
    }

    func send(_ extra: AdmissionPlan.ScriptCall) -> GovernanceTicket {
        let ticket = GovernanceTicket(admission: nil, extra: extra, settlements: [])
        wait(for: ticket)
        return ticket
    }

    /// Queues `settlements` without waiting: the next round trip of this process carries
    /// them (usually the next call's admission), or `wait(for:)` sends them.
    func queueSettlement(_ settlements: [Settlement]) -> GovernanceTicket {
        let ticket = GovernanceTicket(admission: nil, extra: nil, settlements: settlements)
        enqueue(ticket)
        return ticket
    }

    /// Returns once `ticket`'s round trip is done, making one if no other thread's carries it.
    ///
    /// A waiting thread sleeps on a condition of its own, so a round trip's return wakes
    /// exactly the threads it carried, plus the first one still queued (it sends the next
    /// round trip), instead of every waiter of the process. They are woken after the lock
    /// is released, so none wakes only to wait for the lock its waker still holds.
    func wait(for ticket: GovernanceTicket) {
        pthread_mutex_lock(mutex)
        // Not queued yet (an admission, or a ticket made by hand): queued now.
        if !ticket.taken && !ticket.done && !ticket.queued {
            ticket.queued = true
            queue.append(ticket)
        }
        while !ticket.done {
            // Queued: with a lane free, this thread sends; otherwise a lane's return wakes it.
            guard !idle.isEmpty, !ticket.taken else {
                ticket.sleeping = true
                pthread_cond_wait(ticket.condition(), mutex)
                ticket.sleeping = false
                continue
            }
            let redis = idle.removeLast()
            let take = min(queue.count, Self.largestBatch)
            let batch = Array(queue[..<take])
            queue.removeFirst(take)
            for taken in batch { taken.taken = true }
            // More queued than one round trip takes, and a lane still free: its next sender.
            let sender = idle.isEmpty ? nil : nextSender()
            pthread_mutex_unlock(mutex)
            sender?.signal()
            send(batch, on: redis)
            pthread_mutex_lock(mutex)
            idle.append(redis)
            for done in batch { done.done = true }
            let next = nextSender()
            pthread_mutex_unlock(mutex)
            for done in batch where done !== ticket { done.signal() }
            next?.signal()
            pthread_mutex_lock(mutex)
        }
        pthread_mutex_unlock(mutex)
    }

    /// The first ticket still queued whose thread sleeps: it sends the next round trip
    /// (under `mutex`; signalled after it).
    private func nextSender() -> GovernanceTicket? {
        queue.first { $0.sleeping }
    }

    private func enqueue(_ ticket: GovernanceTicket) {
        pthread_mutex_lock(mutex)
        ticket.queued = true
        queue.append(ticket)
        pthread_mutex_unlock(mutex)
    }

    /// For tickets no thread waits on to send them (the settler's own): a claimed ticket is
    /// never sent by a lane, so claiming one whose thread waits to send would leave it waiting.
    func claim(_ tickets: [GovernanceTicket]) -> [GovernanceTicket] {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let claimed = tickets.filter { !$0.taken }
        guard !claimed.isEmpty else { return [] }
        if claimed.contains(where: \.queued) {
            let ids = Set(claimed.map(ObjectIdentifier.init))
            queue.removeAll { ids.contains(ObjectIdentifier($0)) }
        }
        for ticket in claimed { ticket.taken = true }
        return claimed
    }

    func complete(_ tickets: [GovernanceTicket]) {
        pthread_mutex_lock(mutex)
        for ticket in tickets { ticket.done = true }
        pthread_mutex_unlock(mutex)
        for ticket in tickets { ticket.signal() }
    }

    /// One round trip for `batch`; fills in every ticket's replies.
    private func send(_ batch: [GovernanceTicket], on redis: RedisConnection) {
        var settle = SettlementRound(batch)
        let settleCall = settle.call(keys: keys)
        let admitting = batch.filter { $0.admission != nil }
        let asked = admitting.reduce(LeaseRequest()) { $1.asking.isEmpty ? $0 : $0.merging($1.asking) }
        let admissions = AdmissionBatch(admitting.compactMap(\.admission), asking: asked)
        let extras = batch.filter { $0.extra != nil }
        var calls: [AdmissionPlan.ScriptCall] = []
        if let settleCall { calls.append(settleCall) }
        if !admitting.isEmpty { calls.append(admissions.call(keys: keys, lifetime: lifetime)) }
        calls += extras.compactMap(\.extra)
        guard !calls.isEmpty else { return }
        let replies: [RedisValue]
        do {
            replies = try redis.evaluateAll(calls)
        } catch {
            for ticket in batch { ticket.failure = error }
            return
        }
        var next = 0
        if settleCall != nil {
            settle.deliver(replies[next])
            next += 1
        }
        if !admitting.isEmpty {
            let reply = replies[next]
            next += 1
            if case .array(let perCall) = reply {
                let items = perCall.map { value -> [Int] in
                    guard case .array(let items) = value else { return [] }
                    return items.map { $0.integer ?? 0 }
                }
                let decisions = admissions.decisions(items)
                for (ticket, decision) in zip(admitting, decisions) { ticket.decision = decision }
                if !asked.isEmpty {
                    // Each lease goes to the ticket that asked for it (a process asks for one
                    // name once at a time).
                    for grant in admissions.grants(items) {
                        admitting.first { $0.asking.names(grant) }?.grants.append(grant)
                    }
                }
            } else {
                for ticket in admitting { ticket.admitError = "\(reply)" }
            }
        }
        for (ticket, reply) in zip(extras, replies[next...]) { ticket.extraReply = reply }
    }
}
