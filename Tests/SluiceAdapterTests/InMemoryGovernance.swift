@testable import SluiceGateway
import SluiceCore
import SluiceRedis

/// A `GovernancePort` in memory, for tests without Redis: limit counters decided like
/// `LimitScripts.admit`, or an outage.
final class InMemoryGovernance: GovernancePort, @unchecked Sendable {
    var totals: [String: Int] = [:]
    var down = false
    var settled: [Settlement] = []
    var admissions = 0

    func send(_ extra: AdmissionPlan.ScriptCall) -> GovernanceTicket {
        let ticket = GovernanceTicket(admission: nil, extra: extra, settlements: [])
        ticket.done = true
        if down { ticket.failure = RedisError(.connection, "connection refused (in-memory outage)") }
        return ticket
    }

    func admit(_ plan: AdmissionPlan, extra: AdmissionPlan.ScriptCall?, asking: LeaseRequest) -> GovernanceTicket {
        let ticket = GovernanceTicket(admission: plan, extra: extra, settlements: [])
        admissions += 1
        ticket.done = true
        if down {
            ticket.failure = RedisError(.connection, "connection refused (in-memory outage)")
            return ticket
        }
        // The script's reply for this plan: refused by the first counter without room.
        for (index, (counter, amount)) in zip(plan.counters, plan.amounts).enumerated()
        where totals[counter.name, default: 0] + amount > counter.limit {
            ticket.decision = plan.decision([0, 1_000, 1, index + 1, 30_000, totals[counter.name, default: 0]])
            return ticket
        }
        var reply = [1, 1_000]
        for (counter, amount) in zip(plan.counters, plan.amounts) {
            totals[counter.name, default: 0] += amount
            reply += [totals[counter.name]!, 60_000]
        }
        ticket.decision = plan.decision(reply)
        return ticket
    }

    func queueSettlement(_ settlements: [Settlement]) -> GovernanceTicket {
        settled += settlements
        let ticket = GovernanceTicket(admission: nil, extra: nil, settlements: settlements)
        ticket.done = true
        return ticket
    }

    func wait(for ticket: GovernanceTicket) {}

    func claim(_ tickets: [GovernanceTicket]) -> [GovernanceTicket] { [] }

    func complete(_ tickets: [GovernanceTicket]) {}
}
