/// Many calls' admissions as one `LimitScripts.admit` call: the calls are decided in order,
/// each as if alone, and the hashes they share are read and written once.
///
/// When every counter and enforced budget has room for the whole batch at once, the script
/// admits it whole without looking at the calls one by one (amounts are never negative, so
/// each call's share fits too), and replies with each counter's total before the batch; the
/// per-call totals for the rate-limit headers are worked out here. Otherwise it decides the
/// calls one by one.
public struct AdmissionBatch: Sendable {
    public let plans: [AdmissionPlan]
    /// The leases asked for with the batch (`Leases`), by counter and budget name.
    public let asked: LeaseRequest
    /// Worked out once: `call` sends it, `decisions` reads the reply by it.
    private let layout: Layout

    public init(_ plans: [AdmissionPlan], asking asked: LeaseRequest = LeaseRequest()) {
        self.plans = plans
        self.asked = asked
        self.layout = Layout(plans)
    }

    /// How the script call names the batch's counters and budgets: definitions numbered from
    /// 1 in the order first met, each with what the whole batch reserves on its hash.
    private struct Layout: Sendable {
        struct CounterDefinition: Sendable {
            var counter: LimitCounter
            var name: String { counter.name }
            var limit: Int { counter.limit }
            var windowMs: Int { counter.windowMs }
        }

        struct BudgetDefinition: Sendable {
            var counter: BudgetCounter
            var name: String { counter.name }
            var amountNanos: Int64 { counter.budget.amountNanos }
            var enforce: Bool { counter.budget.enforce }
        }

        var counters: [CounterDefinition] = []
        var budgets: [BudgetDefinition] = []
        /// Per call, the definition number of each of its counters, then of its budgets.
        var callCounters: [[Int]] = []
        var callBudgets: [[Int]] = []
        /// What the whole batch reserves, by counter name (a name twice in one call counts
        /// once, as the script counts it) and by budget name.
        var counterSums: [String: Int] = [:]
        var budgetSums: [String: Int64] = [:]
        /// Some amount is negative: the batch cannot be admitted whole.
        var negative = false

        init(_ plans: [AdmissionPlan]) {
            var counterNumber: [String: Int] = [:]
            var budgetNumber: [String: Int] = [:]
            for plan in plans {
                var numbers: [Int] = []
                var seen: Set<String> = []
                for (counter, amount) in zip(plan.counters, plan.amounts) {
                    let identity = "\(counter.name) \(counter.limit) \(counter.windowMs)"
                    if counterNumber[identity] == nil {
                        counters.append(CounterDefinition(counter: counter))
                        counterNumber[identity] = counters.count
                    }
                    numbers.append(counterNumber[identity]!)
                    if seen.insert(counter.name).inserted { counterSums[counter.name, default: 0] += amount }
                    if amount < 0 { negative = true }
                }
                callCounters.append(numbers)
                numbers = []
                for budget in plan.budgets {
                    let identity = "\(budget.name) \(budget.budget.amountNanos) \(budget.budget.enforce)"
                    if budgetNumber[identity] == nil {
                        budgets.append(BudgetDefinition(counter: budget))
                        budgetNumber[identity] = budgets.count
                    }
                    numbers.append(budgetNumber[identity]!)
                    budgetSums[budget.name, default: 0] += budget.wantNanos
                    if budget.wantNanos < 0 { negative = true }
                }
                callBudgets.append(numbers)
            }
        }
    }

    /// The script call. Unsettled budget reservations lapse after `lifetime`.
    public func call(keys: RedisKeys, lifetime: Duration) -> AdmissionPlan.ScriptCall {
        var keyIndex: [String: Int] = [:]
        var scriptKeys: [String] = []
        func index(_ key: String) -> String {
            if let known = keyIndex[key] { return String(known) }
            scriptKeys.append(key)
            keyIndex[key] = scriptKeys.count
            return String(scriptKeys.count)
        }
        var arguments = [String(lifetime.wholeMilliseconds), String(plans.count), String(layout.counters.count),
                         String(layout.budgets.count), layout.negative ? "0" : "1"]
        arguments.reserveCapacity(arguments.count + (layout.counters.count + layout.budgets.count) * 5 + plans.count * 12)
        // A lease is asked for once per hash, under its first definition (one hash under two
        // limits is leased under the first).
        var leased: Set<String> = []
        for counter in layout.counters {
            let lease = leased.insert(counter.name).inserted ? asked.amount(for: counter.counter) : 0
            arguments += [index(keys.limitWindow(counter.name)), String(counter.limit), String(counter.windowMs),
                          String(layout.counterSums[counter.name] ?? 0), String(lease)]
        }
        for budget in layout.budgets {
            arguments += [index(keys.budget(budget.name)), String(budget.amountNanos), budget.enforce ? "1" : "0",
                          String(layout.budgetSums[budget.name] ?? 0), String(asked.amount(for: budget.counter))]
        }
        for (call, plan) in plans.enumerated() {
            arguments += [String(plan.counters.count), String(plan.budgets.count)]
            for (number, amount) in zip(layout.callCounters[call], plan.amounts) {
                arguments += [String(number), String(amount)]
            }
            for (number, budget) in zip(layout.callBudgets[call], plan.budgets) {
                arguments += [String(number), String(budget.wantNanos)]
            }
        }
        return (LimitScripts.admit, scriptKeys, arguments)
    }

    /// Each plan's decision from the script's reply (one integer array per plan, in order, or
    /// one `[-1, now, …]` array for a batch admitted whole); `.unknown` for a plan the reply
    /// says nothing sensible about.
    public func decisions(_ reply: [[Int]]) -> [AdmissionDecision] {
        var reply = reply
        if reply.last?.first == -2 { reply.removeLast() }
        if reply.count == 1, reply[0].first == -1 { return admittedWhole(reply[0]) }
        return plans.indices.map { index in
            index < reply.count ? plans[index].decision(reply[index]) : .unknown
        }
    }

    /// The leases the script's reply grants (only those asked for, and only granted ones),
    /// made at `atMs` on Redis's clock (the reply's `now`).
    public func grants(_ reply: [[Int]]) -> [LeaseGrant] {
        guard !asked.isEmpty, let items = reply.last, items.first == -2,
              items.count == 1 + 4 * layout.counters.count + 2 * layout.budgets.count,
              let atMs = reply.first.flatMap({ $0.count >= 2 ? $0[1] : nil }) else { return [] }
        var out: [LeaseGrant] = []
        for (index, definition) in layout.counters.enumerated() {
            let at = 1 + 4 * index
            guard items[at] > 0 else { continue }
            out.append(LeaseGrant(what: .counter(definition.counter), amount: Int64(items[at]), atMs: atMs,
                                      leftMs: items[at + 1], totalBefore: items[at + 2], resetMs: items[at + 3]))
        }
        let budgetsAt = 1 + 4 * layout.counters.count
        for (index, definition) in layout.budgets.enumerated() {
            let at = budgetsAt + 2 * index
            guard items[at] > 0 else { continue }
            out.append(LeaseGrant(what: .budget(definition.counter), amount: Int64(items[at]), atMs: atMs,
                                      leftMs: items[at + 1], totalBefore: 0, resetMs: 0))
        }
        return out
    }

    /// The decisions of a batch admitted whole: `[-1, now]`, then per counter definition its
    /// total before the batch and the ms until its oldest amount leaves. Each call sees the
    /// totals of the calls before it plus its own, as if admitted alone.
    private func admittedWhole(_ reply: [Int]) -> [AdmissionDecision] {
        guard reply.count == 2 + 2 * layout.counters.count else { return plans.map { _ in .unknown } }
        var running: [String: Int] = [:]
        var reset: [String: Int] = [:]
        for (index, counter) in layout.counters.enumerated() {
            running[counter.name] = reply[2 + 2 * index]
            reset[counter.name] = reply[3 + 2 * index]
        }
        return plans.map { plan in
            var items = [1, reply[1]]
            items.reserveCapacity(2 + 2 * plan.counters.count)
            var seen: Set<String> = []
            for (counter, amount) in zip(plan.counters, plan.amounts) {
                if seen.insert(counter.name).inserted { running[counter.name, default: 0] += amount }
                items += [running[counter.name] ?? 0, reset[counter.name] ?? 0]
            }
            return plan.decision(items)
        }
    }
}
