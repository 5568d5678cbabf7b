/// What one finished call settles: the reservations its admission made and what it used.
public struct Settlement: Sendable {
    /// How long an unsettled budget reservation holds (its responder died) before it lapses.
    public static let reservationLifetime: Duration = .seconds(900)

    public var plan: AdmissionPlan
    /// When Redis admitted the call (its clock, ms); `nil` when nothing was reserved (Redis
    /// was unreachable and the call was admitted from the fail-open local allowance). A call
    /// admitted from leases (`Leases`) has the time their grant was made.
    public var admittedAtMs: Int?
    /// The call's true usage; `nil` when it used nothing (it failed, or another endpoint answered).
    public var usage: TokenUsage?
    /// What the call cost, in nano-dollars (0 without a price).
    public var costNanos: Int64
    /// How long the budget reservations were made for (`LimitScripts.admit`'s lifetime).
    public var lifetime: Duration
    /// It gives back the unused rest of a lease (`Leases`): each counter of the plan,
    /// of either kind, goes down by its amount in the lease's bucket, and each budget's
    /// reservation by its want.
    public var returnsLease = false

    public init(plan: AdmissionPlan, admittedAtMs: Int?, usage: TokenUsage?, costNanos: Int64, lifetime: Duration) {
        self.plan = plan
        self.admittedAtMs = admittedAtMs
        self.usage = usage
        self.costNanos = costNanos
        self.lifetime = lifetime
    }

    /// The bucket a budget reservation made at `atMs` sits in.
    static func reservationBucket(atMs: Int, lifetime: Duration) -> Int {
        atMs / reservationBucketMs(lifetime: lifetime)
    }

    /// The width of a budget reservation bucket (`LimitScripts.admit`: a 15th of the lifetime).
    public static func reservationBucketMs(lifetime: Duration) -> Int {
        max(1, (Int(lifetime.wholeMilliseconds) + LimitScripts.reservationBuckets - 1) / LimitScripts.reservationBuckets)
    }

    /// What the reservation hash (`…:r`) holds for calls still in flight at `nowMs`: its
    /// buckets that have not lapsed.
    public static func liveReservations(_ fields: [String: String], nowMs: Int64, lifetime: Duration) -> Int64 {
        let width = Int64(reservationBucketMs(lifetime: lifetime))
        let first = nowMs / width - Int64(LimitScripts.reservationBuckets)
        return fields.reduce(into: Int64(0)) { sum, field in
            guard let bucket = Int64(field.key), bucket >= first else { return }
            sum += Int64(field.value) ?? 0
        }
    }
}

/// Many calls' settlements as one `LimitScripts.settle` call: token corrections summed per
/// counter and bucket, budget reservations released per bucket, and every call's cost in
/// order, so the script can name the call that crossed an alert threshold.
public struct SettlementBatch: Sendable {
    /// A budget threshold crossed by one of the batch's calls.
    public struct Alert: Sendable {
        /// The position of the call in the settlements given to `init`.
        public var call: Int
        public var counter: BudgetCounter
        public var threshold: Int
        public var spentNanos: Int64
    }

    public let settlements: [Settlement]
    /// The batch's budgets, in the order the script numbers them.
    private var budgets: [BudgetCounter] = []

    public init(_ settlements: [Settlement]) {
        self.settlements = settlements
    }

    /// The script call; `nil` when nothing needs settling (only request counters).
    public mutating func call(keys: RedisKeys) -> AdmissionPlan.ScriptCall? {
        var keyIndex: [String: Int] = [:]
        var scriptKeys: [String] = []
        func index(_ key: String) -> Int {
            if let known = keyIndex[key] { return known }
            scriptKeys.append(key)
            keyIndex[key] = scriptKeys.count
            return scriptKeys.count
        }
        // A batch's calls share a few counters: each counter's key is made once, not per call.
        var windowIndex: [String: Int] = [:]
        func windowKey(_ name: String) -> Int {
            if let known = windowIndex[name] { return known }
            let at = index(keys.limitWindow(name))
            windowIndex[name] = at
            return at
        }
        // (counter key index, bucket) → delta, in first-seen order.
        var deltas: [(key: Int, bucket: Int, delta: Int)] = []
        var deltaIndex: [Int: [Int: Int]] = [:]
        struct BudgetEntry {
            var key: Int
            var counter: BudgetCounter
            var releases: [(bucket: Int, amount: Int64)] = []
            var costs: [(cost: Int64, call: Int)] = []
        }
        var entries: [BudgetEntry] = []
        var entryIndex: [String: Int] = [:]
        for (call, settlement) in settlements.enumerated() {
            let plan = settlement.plan
            if let atMs = settlement.admittedAtMs {
                for (counter, amount) in zip(plan.counters, plan.amounts)
                where counter.kind == .tokens || settlement.returnsLease {
                    let delta = settlement.returnsLease ? -amount : (settlement.usage?.total ?? 0) - amount
                    guard delta != 0 else { continue }
                    let key = windowKey(counter.name)
                    let bucket = atMs / counter.bucketMs
                    if let at = deltaIndex[key]?[bucket] {
                        deltas[at].delta += delta
                    } else {
                        deltaIndex[key, default: [:]][bucket] = deltas.count
                        deltas.append((key, bucket, delta))
                    }
                }
            }
            for budget in plan.budgets {
                let at: Int
                if let known = entryIndex[budget.name] {
                    at = known
                } else {
                    at = entries.count
                    entryIndex[budget.name] = at
                    entries.append(BudgetEntry(key: index(keys.budget(budget.name)), counter: budget))
                }
                if let atMs = settlement.admittedAtMs, budget.wantNanos > 0 {
                    let bucket = Settlement.reservationBucket(atMs: atMs, lifetime: settlement.lifetime)
                    if let known = entries[at].releases.firstIndex(where: { $0.bucket == bucket }) {
                        entries[at].releases[known].amount += budget.wantNanos
                    } else {
                        entries[at].releases.append((bucket, budget.wantNanos))
                    }
                }
                if !settlement.returnsLease { entries[at].costs.append((settlement.costNanos, call)) }
            }
        }
        guard !deltas.isEmpty || !entries.isEmpty else { return nil }
        var arguments = [String(deltas.count), String(entries.count)]
        arguments.reserveCapacity(2 + deltas.count * 3 + entries.count * 12)
        for delta in deltas {
            arguments.append(String(delta.key))
            arguments.append(String(delta.bucket))
            arguments.append(String(delta.delta))
        }
        for entry in entries {
            let budget = entry.counter.budget
            arguments += [String(entry.key), String(budget.amountNanos), budget.thresholds.map(String.init).joined(separator: ","),
                          String(entry.counter.expireAtMs), entry.counter.about, String(entry.releases.count),
                          String(entry.costs.count)]
            for release in entry.releases {
                arguments.append(String(release.bucket))
                arguments.append(String(release.amount))
            }
            for cost in entry.costs {
                arguments.append(String(cost.cost))
                arguments.append(String(cost.call))
            }
        }
        budgets = entries.map(\.counter)
        return (LimitScripts.settle, scriptKeys + [keys.budgetIndex], arguments)
    }

    /// The thresholds the script's reply says were crossed (`call` must have been made first).
    public func alerts(in reply: [Int]) -> [Alert] {
        var alerts: [Alert] = []
        var index = 0
        while index + 3 < reply.count {
            let budget = reply[index] - 1
            let call = reply[index + 3]
            if budgets.indices.contains(budget), settlements.indices.contains(call) {
                alerts.append(Alert(call: call, counter: budgets[budget], threshold: reply[index + 1],
                                    spentNanos: Int64(reply[index + 2])))
            }
            index += 4
        }
        return alerts
    }
}
