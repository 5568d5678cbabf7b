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
        // Definitions, each once per batch: (key index, limit, window) and (key index, amount, enforce).
        var counterDefinitions: [String] = []
        var counterNumber: [String: Int] = [:]
        var budgetDefinitions: [String] = []
        var budgetNumber: [String: Int] = [:]
        var perCall: [String] = []
        perCall.reserveCapacity(plans.count * 12)
        for plan in plans {
            perCall += [String(plan.counters.count), String(plan.budgets.count)]
            for (counter, amount) in zip(plan.counters, plan.amounts) {
                let definition = [index(keys.limitWindow(counter.name)), String(counter.limit), String(counter.windowMs)]
                perCall += [String(Self.number(of: definition, in: &counterNumber, adding: &counterDefinitions)), String(amount)]
            }
            for budget in plan.budgets {
                let definition = [index(keys.budget(budget.name)), String(budget.budget.amountNanos),
                                  budget.budget.enforce ? "1" : "0"]
                perCall += [String(Self.number(of: definition, in: &budgetNumber, adding: &budgetDefinitions)),
                            String(budget.wantNanos)]
            }
        }
        let arguments = [String(lifetime.wholeMilliseconds), String(plans.count), String(counterNumber.count),
                         String(budgetNumber.count)] + counterDefinitions + budgetDefinitions + perCall
        return (LimitScripts.admit, scriptKeys, arguments)
    }

    /// The number (from 1) of `definition` in `numbers`, added to `definitions` when new.
    private static func number(of definition: [String], in numbers: inout [String: Int],
                               adding definitions: inout [String]) -> Int {
        let identity = definition.joined(separator: " ")
        if let known = numbers[identity] { return known }
        definitions += definition
        numbers[identity] = numbers.count + 1
        return numbers.count
    }

    /// Each plan's decision from the script's reply (one integer array per plan, in order);
    /// `.unknown` for a plan the reply says nothing sensible about.
    public func decisions(_ reply: [[Int]]) -> [AdmissionDecision] {
        plans.indices.map { index in
            index < reply.count ? plans[index].decision(reply[index]) : .unknown
        }
    }
}
