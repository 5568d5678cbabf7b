import Glibc
import SluiceCore
import SluiceRedis

/// What the pipeline needs from shared storage to admit and settle calls: the port behind
/// `Governor` and the settler. In production it is `GovernanceCombiner` (Redis, with the
/// Lua of `LimitScripts`); the pipeline's unit tests use an in-memory fake.
protocol GovernancePort: AnyObject, Sendable {
    /// Admits `plan` (with `extra`, another script call such as the health snapshot, in the
    /// same round trip, and asking for the leases `asking` names: `Leases`); returns once
    /// decided, the leases granted in the ticket's `grants`.
    func admit(_ plan: AdmissionPlan, extra: AdmissionPlan.ScriptCall?, asking: LeaseRequest) -> GovernanceTicket
    /// Sends `extra` alone (a call admitted from its process's leases still reads health).
    func send(_ extra: AdmissionPlan.ScriptCall) -> GovernanceTicket
    /// Queues `settlements` without waiting.
    func queueSettlement(_ settlements: [Settlement]) -> GovernanceTicket
    /// Returns once `ticket` is done, sending it if nothing else has.
    func wait(for ticket: GovernanceTicket)
    /// Takes those of `tickets` no round trip has taken yet, for the caller to send in a
    /// round trip of its own and then `complete`; the rest are (or were) sent by others.
    func claim(_ tickets: [GovernanceTicket]) -> [GovernanceTicket]
    /// Marks claimed tickets done (their replies are final) and wakes whoever waits on them.
    func complete(_ tickets: [GovernanceTicket])
}

extension GovernancePort {
    func admit(_ plan: AdmissionPlan, extra: AdmissionPlan.ScriptCall?) -> GovernanceTicket {
        admit(plan, extra: extra, asking: LeaseRequest())
    }
}

/// The settlements of several tickets as one `LimitScripts.settle` call, and its reply
/// handed back to each ticket: the budget thresholds its own settlements crossed, or
/// Redis's refusal.
struct SettlementRound {
    private var batch: SettlementBatch
    private let owners: [(ticket: GovernanceTicket, first: Int)]

    init(_ tickets: [GovernanceTicket]) {
        var settlements: [Settlement] = []
        var owners: [(ticket: GovernanceTicket, first: Int)] = []
        for ticket in tickets where !ticket.settlements.isEmpty {
            owners.append((ticket, settlements.count))
            settlements += ticket.settlements
        }
        batch = SettlementBatch(settlements)
        self.owners = owners
    }

    /// The script call; `nil` when nothing needs settling.
    mutating func call(keys: RedisKeys) -> AdmissionPlan.ScriptCall? {
        owners.isEmpty ? nil : batch.call(keys: keys)
    }

    /// Hands the script's reply to the tickets.
    func deliver(_ reply: RedisValue) {
        guard case .array(let items) = reply else {
            for owner in owners { owner.ticket.settleError = "\(reply)" }
            return
        }
        for alert in batch.alerts(in: items.map { $0.integer ?? 0 }) {
            guard let owner = owners.last(where: { $0.first <= alert.call }) else { continue }
            var own = alert
            own.call -= owner.first
            owner.ticket.alerts.append(own)
        }
    }
}

/// One call's work for a `GovernancePort`, and its replies once `done`.
final class GovernanceTicket: @unchecked Sendable {
    let admission: AdmissionPlan?
    let extra: AdmissionPlan.ScriptCall?
    let settlements: [Settlement]
    /// The leases its admission asks for, and those granted (filled in with the decision).
    let asking: LeaseRequest
    var grants: [LeaseGrant] = []
    /// Put in the port's queue (under the port's lock; it stays set once taken out).
    var queued = false
    /// Taken into a round trip (under the port's lock).
    var taken = false
    /// Set (under the port's lock) once the fields below are final.
    var done = false
    /// The condition its waiting thread sleeps on, made when a thread first waits on it
    /// (under the port's lock) and kept until the ticket goes, so whoever completes the
    /// ticket can signal it after releasing the lock (holding the ticket keeps it alive).
    private(set) var wakeup: UnsafeMutablePointer<pthread_cond_t>?
    /// Its thread sleeps on `wakeup` now (under the port's lock).
    var sleeping = false
    /// Storage could not be asked (connection, timeout): nothing was decided or settled.
    var failure: RedisError?
    /// The admission's decision (`.unknown` when the reply made no sense).
    var decision: AdmissionDecision = .unknown
    var extraReply: RedisValue?
    /// Thresholds crossed by this ticket's settlements (`call`: the position in them).
    var alerts: [SettlementBatch.Alert] = []
    /// Storage refused the settlement (its error text).
    var settleError: String?
    /// Storage refused the admission (its error text, e.g. OOM or READONLY).
    var admitError: String?

    init(admission: AdmissionPlan?, extra: AdmissionPlan.ScriptCall?, settlements: [Settlement],
         asking: LeaseRequest = LeaseRequest()) {
        self.admission = admission
        self.extra = extra
        self.settlements = settlements
        self.asking = asking
    }

    deinit {
        if let wakeup {
            pthread_cond_destroy(wakeup)
            wakeup.deallocate()
        }
    }

    /// The condition to sleep on (under the port's lock), made on first use.
    func condition() -> UnsafeMutablePointer<pthread_cond_t> {
        if let wakeup { return wakeup }
        let made = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        pthread_cond_init(made, nil)
        wakeup = made
        return made
    }

    /// Wakes the thread sleeping on it, if one does; safe without the port's lock (a thread
    /// that was not asleep finds the ticket's state changed under the lock and does not sleep).
    func signal() {
        if let wakeup { pthread_cond_signal(wakeup) }
    }
}
