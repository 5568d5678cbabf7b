/// Leases: room on a limit counter or a budget that Redis grants one responder process
/// at once, for its next calls, so that they are admitted in the process without a round
/// trip each.
///
/// A lease is admitted in Redis as if it were one call of its whole amount, in the
/// counter's current bucket (a budget's: reserved like a call's worst case), so whatever the
/// process admits from it was counted before it was admitted: **no limit admits more than
/// its amount in any window, and no budget is overspent, exactly as without leases.**
/// What changes is on the other side: room granted to one process and not used yet is not
/// free for the others until it goes back. So leases are kept small and short:
///
/// - Redis grants one only while the counter stays within **half** its amount with it (a
///   budget: its spent plus reserved), so near a limit every call is decided in Redis, one
///   by one, as before; and only when it is at most a 64th of the amount and room for at
///   least `smallest` calls of the one asking (so small limits never see one).
/// - It lives until its bucket ends on Redis's clock and at most `longest`; then what is
///   left goes back (`returns`), by the settlement (`Settlement.returnsLease`), to the
///   bucket it was taken from. A process that dies keeps its unused rest counted until the
///   bucket leaves the window.
/// - A call is admitted from leases only when every counter and budget it names has one
///   with room, taken in the same buckets; otherwise it goes to Redis as before (asking for
///   what it lacks).
/// - Its size follows the process's pace: it starts at `smallest` calls, doubles when used up
///   before it ends, halves when more than half of it went back, and stays under `largest`.
///
/// Time is the caller's monotonic clock in nanoseconds; this type is a value with no lock
/// (the gateway keeps one per process behind a mutex).
public struct Leases: Sendable {
    /// Fewest calls a lease is sized for, and most.
    public static let smallest = 16
    public static let largest = 1024
    /// The longest a lease lives, whatever its bucket.
    public static let longest: Int64 = 1_000_000_000

    /// One lease held.
    struct Held: Sendable {
        var what: LeaseGrant.Subject
        var granted: Int64
        var remaining: Int64
        /// When Redis granted it (its clock, ms), and the bucket that names.
        var atMs: Int
        var bucket: Int
        var bucketMs: Int
        var deadline: Int64
        /// For the rate-limit headers: the counter's total before the grant, what this
        /// process has taken from it since, and when its oldest amount leaves.
        var totalBefore: Int
        var resetAt: Int64
    }

    private var held: [Name: Held] = [:]
    /// Names asked for whose answer has not come back.
    private var pending: Set<Name> = []
    /// Calls' worth to ask for next, by name.
    private var scale: [Name: Int] = [:]
    /// Leases ended with room left, to go back.
    private var ended: [Held] = []
    public private(set) var closed = false

    public init() {}

    /// The earliest instant a lease ends; `nil` with none held.
    public var nextDeadline: Int64? { held.values.map(\.deadline).min() }

    /// Whether something waits to go back.
    public var hasReturns: Bool { !ended.isEmpty }

    /// Admits `plan` from the leases held, if each of its counters and budgets has one
    /// with room at `now`: takes its amounts and returns Redis's time of admission (the
    /// leases' grant, which names the buckets its amounts count in) and its counters'
    /// states. `nil`: it goes to Redis.
    public mutating func admit(_ plan: AdmissionPlan, now: Int64) -> (atMs: Int, states: [RateLimitState])? {
        guard !closed, !plan.isEmpty else { return nil }
        // Each lease the call takes from, looked up once: (name, amount, the lease).
        var taken: [(name: Name, amount: Int64, lease: Held)] = []
        taken.reserveCapacity(plan.counters.count + plan.budgets.count)
        var atMs = 0
        for (index, counter) in plan.counters.enumerated() {
            let name = Name(counter), amount = need(plan, index)
            guard let lease = held[name], case .counter(let granted) = lease.what,
                  granted.limit == counter.limit, granted.windowMs == counter.windowMs,
                  lease.deadline > now, lease.remaining >= amount else { return nil }
            taken.append((name, amount, lease))
            atMs = max(atMs, lease.atMs)
        }
        for budget in plan.budgets {
            let name = Name(budget)
            guard let lease = held[name], case .budget(let granted) = lease.what,
                  granted.budget.amountNanos == budget.budget.amountNanos, granted.budget.enforce == budget.budget.enforce,
                  lease.deadline > now, lease.remaining >= budget.wantNanos, budget.wantNanos >= 0 else { return nil }
            taken.append((name, budget.wantNanos, lease))
            atMs = max(atMs, lease.atMs)
        }
        // Every amount counts in the bucket its lease was taken from: one instant must
        // name all of them.
        guard taken.allSatisfy({ atMs / $0.lease.bucketMs == $0.lease.bucket }) else { return nil }
        var states: [RateLimitState] = []
        states.reserveCapacity(plan.counters.count)
        for (index, take) in taken.enumerated() {
            held[take.name]!.remaining -= take.amount
            guard index < plan.counters.count else { continue }
            let used = Int(take.lease.granted - held[take.name]!.remaining)
            let counter = plan.counters[index]
            states.append(RateLimitState(counter: counter, remaining: max(0, counter.limit - take.lease.totalBefore - used),
                                         resetMs: Int(max(0, take.lease.resetAt - now) / 1_000_000)))
        }
        return (atMs, states)
    }

    /// What `plan`'s `index`th counter takes: its amount, or nothing for a counter it named
    /// before (Redis counts a hash named twice in one call once).
    private func need(_ plan: AdmissionPlan, _ index: Int) -> Int64 {
        let name = plan.counters[index].name
        for earlier in 0..<index where plan.counters[earlier].name == name { return 0 }
        return Int64(plan.amounts[index])
    }

    /// The leases to ask Redis for with `plan`'s admission: those of its counters and
    /// budgets it would need and that no call of the process is asking for now. They are
    /// marked asked until `granted` or `failed` answers.
    public mutating func ask(for plan: AdmissionPlan, now: Int64) -> LeaseRequest {
        var request = LeaseRequest()
        guard !closed else { return request }
        // Only when every counter and budget of the plan can be leased (held with room, being
        // asked for, or askable now): a lease the call could never be admitted from would
        // only hold room.
        var asks: [(name: Name, size: Int64, grew: Bool)] = []
        func consider(_ name: Name, amount: Int64, limit: Int64) -> Bool {
            if pending.contains(name) { return true }
            var grew = false
            if let held = held[name], held.deadline > now {
                if held.remaining >= amount { return true }
                grew = true
            }
            let scale = grew ? min((scale[name] ?? Self.smallest) * 2, Self.largest) : scale[name]
            guard amount > 0, let size = Self.size(amount, scale, of: limit) else { return false }
            asks.append((name, size, grew))
            return true
        }
        for (index, counter) in plan.counters.enumerated() {
            let amount = need(plan, index)
            // A counter named twice in the call counts once.
            guard amount > 0 || plan.counters[..<index].contains(where: { $0.name == counter.name }) else { return request }
            guard amount == 0 || consider(Name(counter), amount: amount, limit: Int64(counter.limit)) else { return request }
        }
        for budget in plan.budgets {
            guard consider(Name(budget), amount: budget.wantNanos, limit: budget.budget.amountNanos) else { return request }
        }
        for ask in asks {
            if ask.grew { scale[ask.name] = min((scale[ask.name] ?? Self.smallest) * 2, Self.largest) }
            pending.insert(ask.name)
            if ask.name.budget { request.budgets[ask.name.text] = ask.size } else { request.counters[ask.name.text] = ask.size }
        }
        return request
    }

    /// A lease's size for calls of `amount`: `scale` calls' worth, at most a 64th of `limit`;
    /// `nil` when that is not room for `smallest` calls.
    static func size(_ amount: Int64, _ scale: Int?, of limit: Int64) -> Int64? {
        let cap = limit / 64
        let (wanted, overflow) = amount.multipliedReportingOverflow(by: Int64(scale ?? smallest))
        let size = overflow ? cap : min(wanted, cap)
        return size / amount >= Int64(smallest) ? size : nil
    }

    /// Keeps what Redis granted for `request` (asked at `sent`: their lifetimes count from
    /// then, which is before Redis's clock read them); what a lease it replaces had
    /// left goes back.
    public mutating func granted(_ grants: [LeaseGrant], for request: LeaseRequest, sent: Int64) {
        failed(request)
        for grant in grants {
            let name = grant.name
            let margin = 2_000_000 + Int64(grant.leftMs) * 10_000  // 2 ms and 1%: clock rates differ
            let deadline = sent + min(Int64(grant.leftMs) * 1_000_000 - margin, Self.longest)
            let entry = Held(what: grant.what, granted: grant.amount, remaining: grant.amount, atMs: grant.atMs,
                             bucket: grant.atMs / grant.bucketMs, bucketMs: grant.bucketMs, deadline: deadline,
                             totalBefore: grant.totalBefore, resetAt: sent + Int64(grant.resetMs) * 1_000_000)
            if let old = held[name], old.remaining > 0 { ended.append(old) }
            guard !closed, deadline > sent else {
                ended.append(entry)
                held[name] = nil
                continue
            }
            held[name] = entry
        }
    }

    /// The ask went unanswered (Redis could not be reached, or refused the script): the
    /// names may be asked for again.
    public mutating func failed(_ request: LeaseRequest) {
        for name in request.counters.keys { pending.remove(Name(budget: false, text: name)) }
        for name in request.budgets.keys { pending.remove(Name(budget: true, text: name)) }
    }

    /// What must go back at `now`: the rest of every lease that ended (all of them once
    /// `close`d), as settlements of `lifetime` (the budget reservations' lifetime).
    public mutating func returns(now: Int64, lifetime: Duration) -> [Settlement] {
        for (name, entry) in held where entry.deadline <= now || closed {
            held[name] = nil
            // Mostly unused: the next one is half the size.
            if entry.remaining * 2 > entry.granted, let grown = scale[name] {
                // (Back at the smallest, the name is forgotten: scopes come and go.)
                scale[name] = grown / 2 > Self.smallest ? grown / 2 : nil
            }
            if entry.remaining > 0 { ended.append(entry) }
        }
        defer { ended.removeAll() }
        return ended.map { entry in
            var plan: AdmissionPlan
            switch entry.what {
            case .counter(let counter):
                plan = AdmissionPlan(id: "lease", counters: [counter], reservedTokens: 0, budgets: [])
                plan.amounts = [Int(entry.remaining)]
            case .budget(var budget):
                budget.wantNanos = entry.remaining
                plan = AdmissionPlan(id: "lease", counters: [], reservedTokens: 0, budgets: [budget])
            }
            var settlement = Settlement(plan: plan, admittedAtMs: entry.atMs, usage: nil, costNanos: 0, lifetime: lifetime)
            settlement.returnsLease = true
            return settlement
        }
    }

    /// No more leases: none is granted or used from now on, and `returns` gives back all.
    public mutating func close() {
        closed = true
    }

    /// Forgets every lease held, without giving any back: the Redis primary that granted
    /// them may have been replaced by one that never saw the grants (a failover), where a
    /// return would free room that was never taken.
    public mutating func discard() {
        held.removeAll()
        ended.removeAll()
    }

    /// What a lease is held under: a counter's name or a budget's (hashed without copying).
    struct Name: Hashable, Sendable {
        var budget: Bool
        var text: String

        init(budget: Bool, text: String) {
            self.budget = budget
            self.text = text
        }

        init(_ counter: LimitCounter) { self.init(budget: false, text: counter.name) }
        init(_ budget: BudgetCounter) { self.init(budget: true, text: budget.name) }
    }
}

/// The leases asked for with one admission round trip: amounts by counter name and by
/// budget name.
public struct LeaseRequest: Sendable, Equatable {
    public var counters: [String: Int64] = [:]
    public var budgets: [String: Int64] = [:]

    public init() {}

    public var isEmpty: Bool { counters.isEmpty && budgets.isEmpty }

    func amount(for counter: LimitCounter) -> Int64 { counters[counter.name] ?? 0 }

    /// Whether it asked for `grant`'s lease.
    public func names(_ grant: LeaseGrant) -> Bool {
        switch grant.what {
        case .counter(let counter): counters[counter.name] != nil
        case .budget(let budget): budgets[budget.name] != nil
        }
    }
    func amount(for budget: BudgetCounter) -> Int64 { budgets[budget.name] ?? 0 }

    /// Both requests' asks (the first's where both name one).
    public func merging(_ other: LeaseRequest) -> LeaseRequest {
        var out = self
        out.counters.merge(other.counters) { mine, _ in mine }
        out.budgets.merge(other.budgets) { mine, _ in mine }
        return out
    }
}

/// A lease Redis granted.
public struct LeaseGrant: Sendable {
    public enum Subject: Sendable {
        case counter(LimitCounter)
        case budget(BudgetCounter)
    }

    public var what: Subject
    public var amount: Int64
    /// When Redis granted it (its clock, ms).
    public var atMs: Int
    /// Until its bucket ends.
    public var leftMs: Int
    /// The counter's total before the grant, and until its oldest amount leaves.
    public var totalBefore: Int
    public var resetMs: Int

    public init(what: Subject, amount: Int64, atMs: Int, leftMs: Int, totalBefore: Int, resetMs: Int) {
        self.what = what
        self.amount = amount
        self.atMs = atMs
        self.leftMs = leftMs
        self.totalBefore = totalBefore
        self.resetMs = resetMs
    }

    var name: Leases.Name {
        switch what {
        case .counter(let counter): Leases.Name(counter)
        case .budget(let budget): Leases.Name(budget)
        }
    }

    /// The width of the bucket it was taken from.
    var bucketMs: Int {
        switch what {
        case .counter(let counter): counter.bucketMs
        case .budget: Settlement.reservationBucketMs(lifetime: Settlement.reservationLifetime)
        }
    }
}
