import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SluiceCore
import SluiceRedis
import XCTest

/// The limit and budget Lua scripts (`LimitScripts`) against a real `redis-server`: the
/// sliding log at its window edges, all-or-nothing admission over several counters, token
/// settlement, budget reservations, lapsed reservations and alert thresholds.
final class LimitScriptTests: XCTestCase {
    private var server: RedisServerFixture!
    private var redis: RedisConnection!
    private let keys = RedisKeys(prefix: "t")

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        server = try RedisServerFixture.start()
        redis = RedisConnection(config: server.config())
    }

    override func tearDown() {
        redis = nil
        server?.stop()
        server = nil
    }

    private func counter(_ name: String, _ kind: LimitCounter.Kind = .requests, limit: Int, windowMs: Int) -> LimitCounter {
        LimitCounter(name: name, kind: kind, limit: limit, windowMs: windowMs, label: "\(limit) \(kind.rawValue) for test")
    }

    private func admit(_ plan: AdmissionPlan, lifetime: Duration = .seconds(900)) throws -> AdmissionDecision {
        let call = plan.admitCall(keys: keys, lifetime: lifetime)
        let reply = try redis.evaluate(call.script, keys: call.keys, arguments: call.arguments)
        guard case .array(let items) = reply else { return .unknown }
        return plan.decision(items.map { $0.integer ?? 0 })
    }

    private func admitted(_ decision: AdmissionDecision) -> Bool {
        if case .admitted = decision { return true }
        return false
    }

    private func hget(_ key: String, _ field: String) throws -> Int? {
        try redis.command(["HGET", key, field]).integer
    }

    // MARK: Sliding log

    func testAtMostTheLimitInAnyWindowAndSlotsReturnOneWindowAfterAdmission() throws {
        let limit = counter("edge", limit: 3, windowMs: 600)
        func plan() -> AdmissionPlan { AdmissionPlan(id: AdmissionPlan.newId(), counters: [limit], reservedTokens: 0, budgets: []) }
        XCTAssertTrue(admitted(try admit(plan())))
        usleep(300_000)
        XCTAssertTrue(admitted(try admit(plan())))
        XCTAssertTrue(admitted(try admit(plan())))
        guard case .refused(let error, let headers, let retryable) = try admit(plan()) else {
            return XCTFail("the fourth call within the window must be refused")
        }
        XCTAssertTrue(retryable)
        XCTAssertEqual(error.httpStatus, 429)
        // The oldest reservation leaves 600 ms after it was admitted, about 300 ms from now.
        let wait = try XCTUnwrap(headers.states.first?.resetMs)
        XCTAssertTrue((200...400).contains(wait), "wait \(wait) ms")
        usleep(350_000)
        // Exactly one slot came back (the first call's); the next two are still in the window.
        XCTAssertTrue(admitted(try admit(plan())))
        XCTAssertFalse(admitted(try admit(plan())), "no window edge lets a second burst through")
    }

    func testAdmissionIsAllOrNothingAcrossCounters() throws {
        let wide = counter("wide", limit: 100, windowMs: 60_000)
        let narrow = counter("narrow", limit: 1, windowMs: 60_000)
        XCTAssertTrue(admitted(try admit(AdmissionPlan(id: "r:1", counters: [wide, narrow], reservedTokens: 0, budgets: []))))
        XCTAssertFalse(admitted(try admit(AdmissionPlan(id: "r:2", counters: [wide, narrow], reservedTokens: 0, budgets: []))))
        XCTAssertEqual(try hget(keys.limit("wide") + ":h", "total"), 1, "a refused call reserves nothing anywhere")
    }

    func testTokensAreReservedThenSettledToTheTrueUsage() throws {
        let tokens = counter("tpm", .tokens, limit: 1000, windowMs: 60_000)
        let first = AdmissionPlan(id: "r:a", counters: [tokens], reservedTokens: 600, budgets: [])
        XCTAssertTrue(admitted(try admit(first)))
        let second = AdmissionPlan(id: "r:b", counters: [tokens], reservedTokens: 600, budgets: [])
        guard case .refused(let error, _, _) = try admit(second) else { return XCTFail("600 + 600 > 1000") }
        XCTAssertEqual(error.upstreamType, "tokens")
        let settle = try XCTUnwrap(first.settleCall(keys: keys, usage: TokenUsage(prompt: 40, completion: 60), costNanos: 0))
        _ = try redis.evaluate(settle.script, keys: settle.keys, arguments: settle.arguments)
        XCTAssertEqual(try hget(keys.limit("tpm") + ":h", "total"), 100)
        XCTAssertTrue(admitted(try admit(second)), "settling freed what the call did not use")
        XCTAssertEqual(try hget(keys.limit("tpm") + ":h", "total"), 700)
    }

    func testACallLargerThanTheLimitIsRefusedAsNotRetryable() throws {
        let tokens = counter("small", .tokens, limit: 100, windowMs: 60_000)
        guard case .refused(let error, _, let retryable) = try admit(
            AdmissionPlan(id: "r:x", counters: [tokens], reservedTokens: 500, budgets: [])) else { return XCTFail() }
        XCTAssertFalse(retryable)
        XCTAssertTrue(error.message.contains("Request too large"), error.message)
    }

    // MARK: Budgets

    private func budget(amount: Int64, enforce: Bool = true, want: Int64) -> BudgetCounter {
        var counter = BudgetCounter(budget: BudgetConfig(name: "b", per: .gateway, amountNanos: amount, period: .day,
                                                         thresholds: [50, 100], enforce: enforce),
                                    scopeValue: "*", periodLabel: "2026-11-26", periodStartMs: 0,
                                    periodEndMs: Int64(Date().timeIntervalSince1970 * 1000) + 86_400_000)
        counter.wantNanos = want
        return counter
    }

    func testBudgetReservationsCannotOvershootAndAlertsFireOnce() throws {
        let first = AdmissionPlan(id: "r:1", counters: [], reservedTokens: 0, budgets: [budget(amount: 100, want: 60)])
        XCTAssertTrue(admitted(try admit(first)))
        let second = AdmissionPlan(id: "r:2", counters: [], reservedTokens: 0, budgets: [budget(amount: 100, want: 60)])
        guard case .refused(let error, _, let retryable) = try admit(second) else { return XCTFail("60 reserved + 60 > 100") }
        XCTAssertEqual(error.code, .budgetExceeded)
        XCTAssertTrue(retryable, "calls in flight may leave room")
        let settle = try XCTUnwrap(first.settleCall(keys: keys, usage: nil, costNanos: 55))
        let reply = try redis.evaluate(settle.script, keys: settle.keys, arguments: settle.arguments)
        XCTAssertEqual(reply, .array([.integer(1), .integer(50), .integer(55)]), "50% crossed, once")
        let name = keys.budget(first.budgets[0].name) + ":h"
        XCTAssertEqual(try hget(name, "spent"), 55)
        XCTAssertEqual(try hget(name, "reserved"), 0)
        XCTAssertFalse(admitted(try admit(second)), "55 spent + 60 > 100")
        let third = AdmissionPlan(id: "r:3", counters: [], reservedTokens: 0, budgets: [budget(amount: 100, want: 45)])
        XCTAssertTrue(admitted(try admit(third)))
        let settleThird = try XCTUnwrap(third.settleCall(keys: keys, usage: nil, costNanos: 45))
        let last = try redis.evaluate(settleThird.script, keys: settleThird.keys, arguments: settleThird.arguments)
        XCTAssertEqual(last, .array([.integer(1), .integer(100), .integer(100)]), "100% crossed; 50% not again")
        guard case .refused(let spentError, _, let spentRetryable) = try admit(
            AdmissionPlan(id: "r:4", counters: [], reservedTokens: 0, budgets: [budget(amount: 100, want: 0)])) else {
            return XCTFail("a spent budget refuses even a call of unknown price")
        }
        XCTAssertFalse(spentRetryable)
        XCTAssertTrue(spentError.message.contains("is exhausted"), spentError.message)
    }

    func testUnsettledReservationsLapse() throws {
        let stuck = AdmissionPlan(id: "r:s", counters: [], reservedTokens: 0, budgets: [budget(amount: 100, want: 90)])
        XCTAssertTrue(admitted(try admit(stuck, lifetime: .milliseconds(300))))
        let next = AdmissionPlan(id: "r:n", counters: [], reservedTokens: 0, budgets: [budget(amount: 100, want: 90)])
        XCTAssertFalse(admitted(try admit(next)))
        usleep(400_000)
        XCTAssertTrue(admitted(try admit(next)), "a responder that died does not hold the budget forever")
    }

    func testAlertOnlyBudgetAdmitsPastItsAmount() throws {
        let plan = AdmissionPlan(id: "r:o", counters: [], reservedTokens: 0,
                                 budgets: [budget(amount: 10, enforce: false, want: 50)])
        XCTAssertTrue(admitted(try admit(plan)))
    }
}
