import SluiceCore
import XCTest

/// A process's leases (`Leases`) without Redis: what is asked for, what is admitted from
/// them, when they end and what goes back.
final class LeasesTests: XCTestCase {
    private let ms: Int64 = 1_000_000

    private func counter(_ name: String = "c", _ kind: LimitCounter.Kind = .requests, limit: Int = 1_000_000,
                         windowMs: Int = 60_000) -> LimitCounter {
        LimitCounter(name: name, kind: kind, limit: limit, windowMs: windowMs, label: "\(limit) for test")
    }

    private func budget(amount: Int64 = 1_000_000_000, want: Int64) -> BudgetCounter {
        var counter = BudgetCounter(budget: BudgetConfig(name: "b", per: .gateway, amountNanos: amount, period: .day),
                                    scopeValue: "*", periodLabel: "2026-12-04", periodStartMs: 0, periodEndMs: .max / 2)
        counter.wantNanos = want
        return counter
    }

    private func plan(_ counters: [LimitCounter], tokens: Int = 0, budgets: [BudgetCounter] = []) -> AdmissionPlan {
        AdmissionPlan(id: "r:t", counters: counters, reservedTokens: tokens, budgets: budgets)
    }

    /// What Redis would grant for `request`, at `atMs`, with `leftMs` left in the bucket.
    private func grants(for request: LeaseRequest, of plan: AdmissionPlan, atMs: Int, leftMs: Int = 500,
                        totalBefore: Int = 10) -> [LeaseGrant] {
        var out: [LeaseGrant] = []
        for counter in plan.counters {
            if let amount = request.counters[counter.name] {
                out.append(LeaseGrant(what: .counter(counter), amount: amount, atMs: atMs, leftMs: leftMs,
                                      totalBefore: totalBefore, resetMs: 60_000))
            }
        }
        for budget in plan.budgets {
            if let amount = request.budgets[budget.name] {
                out.append(LeaseGrant(what: .budget(budget), amount: amount, atMs: atMs, leftMs: leftMs,
                                      totalBefore: 0, resetMs: 0))
            }
        }
        return out
    }

    func testCallsAreAdmittedFromALeaseUntilItIsUsedUpThenOneAsksAgain() {
        var leases = Leases()
        let call = plan([counter()])
        XCTAssertNil(leases.admit(call, now: 0), "no lease held yet")
        let request = leases.ask(for: call, now: 0)
        XCTAssertEqual(request.counters, ["c": Int64(Leases.smallest)], "sized for the smallest number of calls")
        XCTAssertTrue(leases.ask(for: call, now: 0).isEmpty, "asked once at a time per counter")
        leases.granted(grants(for: request, of: call, atMs: 120_250), for: request, sent: 0)
        for index in 0..<Leases.smallest {
            guard let local = leases.admit(call, now: Int64(index) * ms) else { return XCTFail("call \(index) admitted") }
            XCTAssertEqual(local.atMs, 120_250, "in the lease's bucket")
            XCTAssertEqual(local.states.first?.remaining, 1_000_000 - 10 - (index + 1), "the headers count what was taken")
        }
        XCTAssertNil(leases.admit(call, now: 20 * ms), "used up")
        let next = leases.ask(for: call, now: 20 * ms)
        XCTAssertEqual(next.counters, ["c": Int64(2 * Leases.smallest)], "used up before it ended: twice the size")
        leases.granted(grants(for: next, of: call, atMs: 120_270), for: next, sent: 20 * ms)
        XCTAssertTrue(leases.returns(now: 20 * ms, lifetime: .seconds(900)).isEmpty, "nothing left to give back")
        for _ in 0..<(2 * Leases.smallest) { XCTAssertNotNil(leases.admit(call, now: 21 * ms)) }
        XCTAssertEqual(leases.ask(for: call, now: 22 * ms).counters, ["c": Int64(4 * Leases.smallest)])
    }

    func testALeaseEndsBeforeItsBucketDoesAndItsRestGoesBackToThatBucket() {
        var leases = Leases()
        let call = plan([counter("c", .tokens), counter("r")], tokens: 100)
        let request = leases.ask(for: call, now: 0)
        XCTAssertEqual(request.counters, ["c": 1_600, "r": 16])
        leases.granted(grants(for: request, of: call, atMs: 61_700, leftMs: 300), for: request, sent: 0)
        XCTAssertNotNil(leases.admit(call, now: 290 * ms))
        XCTAssertNil(leases.admit(call, now: 298 * ms), "ends 2 ms and 1% before Redis's bucket does")
        let back = leases.returns(now: 298 * ms, lifetime: .seconds(900))
        XCTAssertEqual(back.count, 2)
        for settlement in back {
            XCTAssertTrue(settlement.returnsLease)
            XCTAssertEqual(settlement.admittedAtMs, 61_700)
        }
        XCTAssertEqual(back.flatMap(\.plan.amounts).sorted(), [15, 1_500])
        XCTAssertNil(leases.nextDeadline)
        XCTAssertEqual(leases.ask(for: call, now: 300 * ms).counters, ["c": 1_600, "r": 16],
                       "mostly unused: half the size, never under the smallest")
    }

    func testACallNeedsALeaseForEveryCounterAndBudgetItNames() {
        var leases = Leases()
        let small = plan([counter(limit: 1_000)])
        XCTAssertTrue(leases.ask(for: small, now: 0).isEmpty, "a 64th of 1000 is under 16 calls: never leased")
        let mixed = plan([counter(), counter("x", limit: 100)], budgets: [budget(want: 1_000)])
        XCTAssertTrue(leases.ask(for: mixed, now: 0).isEmpty,
                      "a call that could never be admitted from leases asks for none (they would only hold room)")
        XCTAssertTrue(leases.ask(for: plan([counter()], budgets: [budget(want: 0)]), now: 0).isEmpty,
                      "nor does one with a budget it reserves nothing on")
        let call = plan([counter()], budgets: [budget(want: 1_000)])
        let request = leases.ask(for: call, now: 0)
        XCTAssertEqual(request.counters, ["c": 16])
        XCTAssertEqual(request.budgets, ["b|*|2026-12-04": 16_000])
        leases.granted(grants(for: request, of: call, atMs: 5_000), for: request, sent: 0)
        XCTAssertNil(leases.admit(mixed, now: ms), "the small counter is always asked")
        XCTAssertNotNil(leases.admit(plan([counter()], budgets: [budget(want: 1_000)]), now: ms))
        XCTAssertNil(leases.admit(plan([counter()], budgets: [budget(want: 20_000)]), now: ms), "the budget's room is short")
        XCTAssertNil(leases.admit(plan([counter(limit: 2_000_000)]), now: ms), "another limit on the name is another counter")
    }

    func testALeaseGrowsToAtMostA64thOfTheLimit() {
        var leases = Leases()
        let call = plan([counter(limit: 2_048)])
        var sizes: [Int64] = []
        var now: Int64 = 0
        for _ in 0..<4 {
            let request = leases.ask(for: call, now: now)
            guard let size = request.counters["c"] else { return XCTFail("asked after \(sizes)") }
            sizes.append(size)
            leases.granted(grants(for: request, of: call, atMs: 1_000), for: request, sent: now)
            while leases.admit(call, now: now) != nil { now += ms / 10 }
        }
        XCTAssertEqual(sizes, [16, 32, 32, 32], "doubled when used up early, capped at 2048 / 64")
    }

    func testLeasesFromTwoBucketsAreNotMixedInOneCall() {
        var leases = Leases()
        let first = plan([counter("a")])
        let askA = leases.ask(for: first, now: 0)
        leases.granted(grants(for: askA, of: first, atMs: 10_990, leftMs: 900), for: askA, sent: 0)
        let second = plan([counter("b")])
        let askB = leases.ask(for: second, now: 0)
        leases.granted(grants(for: askB, of: second, atMs: 11_010, leftMs: 900), for: askB, sent: 0)
        XCTAssertNotNil(leases.admit(first, now: ms))
        XCTAssertNotNil(leases.admit(second, now: ms))
        XCTAssertNil(leases.admit(plan([counter("a"), counter("b")]), now: ms),
                     "a's bucket (10 s) is not b's (11 s): no one instant names both")
    }

    func testAFailedAskMayBeAskedAgainAndClosingGivesEverythingBack() {
        var leases = Leases()
        let call = plan([counter()])
        let request = leases.ask(for: call, now: 0)
        leases.failed(request)
        let again = leases.ask(for: call, now: 0)
        XCTAssertEqual(again, request)
        leases.granted(grants(for: again, of: call, atMs: 1_000), for: again, sent: 0)
        XCTAssertNotNil(leases.admit(call, now: ms))
        leases.close()
        XCTAssertNil(leases.admit(call, now: ms), "closed: nothing admitted locally")
        XCTAssertTrue(leases.ask(for: call, now: ms).isEmpty, "closed: nothing asked")
        let back = leases.returns(now: ms, lifetime: .seconds(900))
        XCTAssertEqual(back.map(\.plan.amounts), [[15]])
    }
}
