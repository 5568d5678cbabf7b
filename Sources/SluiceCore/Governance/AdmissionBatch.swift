/// Many calls' admissions as one `LimitScripts.admit` call: the calls are decided in order,
/// each as if alone, and the hashes they share are read and written once.
public struct AdmissionBatch: Sendable {
    public let plans: [AdmissionPlan]

    public init(_ plans: [AdmissionPlan]) {
        self.plans = plans
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
        var arguments = [String(lifetime.wholeMilliseconds), String(plans.count)]
        arguments.reserveCapacity(2 + plans.count * 18)
        for plan in plans {
            arguments += [String(plan.counters.count), String(plan.budgets.count)]
            for (counter, amount) in zip(plan.counters, plan.amounts) {
                arguments += [index(keys.limitWindow(counter.name)), String(counter.limit), String(counter.windowMs),
                              String(amount)]
            }
            for budget in plan.budgets {
                arguments += [index(keys.budget(budget.name)), String(budget.budget.amountNanos),
                              budget.budget.enforce ? "1" : "0", String(budget.wantNanos)]
            }
        }
        return (LimitScripts.admit, scriptKeys, arguments)
    }

    /// Each plan's decision from the script's reply (one integer array per plan, in order);
    /// `.unknown` for a plan the reply says nothing sensible about.
    public func decisions(_ reply: [[Int]]) -> [AdmissionDecision] {
        plans.indices.map { index in
            index < reply.count ? plans[index].decision(reply[index]) : .unknown
        }
    }
}
