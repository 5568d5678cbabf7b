import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SluiceCore
import SluiceRedis
import XCTest

/// The limit and budget Lua scripts (`LimitScripts`) against a real `redis-server`: the
/// bucketed sliding window at its edges, all-or-nothing admission over several counters,
/// token settlement (one call and batches), budget reservations, lapsed reservations and
/// alert thresholds.
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
        try admitBatch([plan], lifetime: lifetime).first ?? .unknown
    }

    /// Admits `plans` in one script call, in order.
    private func admitBatch(_ plans: [AdmissionPlan], lifetime: Duration = .seconds(900)) throws -> [AdmissionDecision] {
        let batch = AdmissionBatch(plans)
        let call = batch.call(keys: keys, lifetime: lifetime)
        guard case .array(let calls) = try redis.evaluate(call.script, keys: call.keys, arguments: call.arguments) else {
            return []
        }
        return batch.decisions(calls.map { value in
            guard case .array(let items) = value else { return [] }
            return items.map { $0.integer ?? 0 }
        })
    }

    private func admitted(_ decision: AdmissionDecision) -> Bool {
        if case .admitted = decision { return true }
        return false
    }

    /// Admits `plan` (which must pass) and returns when Redis admitted it.
    private func admittedAt(_ plan: AdmissionPlan, lifetime: Duration = .seconds(900),
                            file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        guard case .admitted(_, let atMs) = try admit(plan, lifetime: lifetime) else {
            XCTFail("expected \(plan.id) to be admitted", file: file, line: line)
            throw FixtureError("not admitted")
        }
        return atMs
    }

    /// Runs one settlement batch; returns the alerts it raised.
    @discardableResult
    private func settle(_ settlements: [Settlement]) throws -> [SettlementBatch.Alert] {
        var batch = SettlementBatch(settlements)
        guard let call = batch.call(keys: keys) else { return [] }
        let reply = try redis.evaluate(call.script, keys: call.keys, arguments: call.arguments)
        guard case .array(let items) = reply else { throw FixtureError("unexpected settle reply \(reply)") }
        return batch.alerts(in: items.map { $0.integer ?? 0 })
    }

    private func settlement(_ plan: AdmissionPlan, at atMs: Int?, usage: TokenUsage? = nil, cost: Int64 = 0,
                            lifetime: Duration = .seconds(900)) -> Settlement {
        Settlement(plan: plan, admittedAtMs: atMs, usage: usage, costNanos: cost, lifetime: lifetime)
    }

    private func hget(_ key: String, _ field: String) throws -> Int? {
        try redis.command(["HGET", key, field]).integer
    }

    // MARK: Sliding window

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
        XCTAssertEqual(try hget(keys.limitWindow("wide"), "total"), 1, "a refused call reserves nothing anywhere")
    }

    func testTokensAreReservedThenSettledToTheTrueUsage() throws {
        let tokens = counter("tpm", .tokens, limit: 1000, windowMs: 60_000)
        let first = AdmissionPlan(id: "r:a", counters: [tokens], reservedTokens: 600, budgets: [])
        let at = try admittedAt(first)
        let second = AdmissionPlan(id: "r:b", counters: [tokens], reservedTokens: 600, budgets: [])
        guard case .refused(let error, _, _) = try admit(second) else { return XCTFail("600 + 600 > 1000") }
        XCTAssertEqual(error.upstreamType, "tokens")
        try settle([settlement(first, at: at, usage: TokenUsage(prompt: 40, completion: 60))])
        XCTAssertEqual(try hget(keys.limitWindow("tpm"), "total"), 100)
        XCTAssertTrue(admitted(try admit(second)), "settling freed what the call did not use")
        XCTAssertEqual(try hget(keys.limitWindow("tpm"), "total"), 700)
    }

    func testABatchSettlesEveryCallOnceAndSkipsCallsThatReservedNothing() throws {
        let tokens = counter("batch", .tokens, limit: 10_000, windowMs: 60_000)
        let requests = counter("batch-rpm", limit: 100, windowMs: 60_000)
        var settlements: [Settlement] = []
        for index in 0..<5 {
            let plan = AdmissionPlan(id: "r:\(index)", counters: [requests, tokens], reservedTokens: 500, budgets: [])
            let at = try admittedAt(plan)
            settlements.append(settlement(plan, at: at, usage: TokenUsage(prompt: 10, completion: index)))
        }
        XCTAssertEqual(try hget(keys.limitWindow("batch"), "total"), 2500)
        // Admitted from the local allowance while Redis was away: it reserved nothing, so
        // settling it must not take anything off the counter.
        let unreserved = AdmissionPlan(id: "r:x", counters: [requests, tokens], reservedTokens: 500, budgets: [])
        settlements.append(settlement(unreserved, at: nil, usage: TokenUsage(prompt: 10, completion: 0)))
        try settle(settlements)
        XCTAssertEqual(try hget(keys.limitWindow("batch"), "total"), 5 * 10 + (0 + 1 + 2 + 3 + 4))
        XCTAssertEqual(try hget(keys.limitWindow("batch-rpm"), "total"), 5, "request counters are not settled")
        // The bucket the calls were admitted in moved with the total.
        let fields = try redis.command(["HGETALL", keys.limitWindow("batch")]).fieldMap
        let buckets = fields.filter { $0.key != "total" && $0.key != "o" }.compactMap { Int($0.value) }.reduce(0, +)
        XCTAssertEqual(buckets, 60)
    }

    func testACounterHoldsAtMostSixtyThreeFieldsWhateverTheTraffic() throws {
        let limit = counter("fields", limit: 1_000_000, windowMs: 600)
        let end = Date().addingTimeInterval(1.5)
        var calls = 0
        while Date() < end {
            XCTAssertTrue(admitted(try admit(AdmissionPlan(id: "r", counters: [limit], reservedTokens: 0, budgets: []))))
            calls += 1
        }
        let length = try XCTUnwrap(try redis.command(["HLEN", keys.limitWindow("fields")]).integer)
        XCTAssertLessThanOrEqual(length, 63, "\(calls) calls")
        XCTAssertGreaterThan(calls, 100)
        // What the counter holds is exactly the calls of the last window (plus one bucket).
        let total = try XCTUnwrap(try hget(keys.limitWindow("fields"), "total"))
        XCTAssertLessThan(total, calls)
        let fields = try redis.command(["HGETALL", keys.limitWindow("fields")]).fieldMap
        XCTAssertEqual(fields.filter { $0.key != "total" && $0.key != "o" }.compactMap { Int($0.value) }.reduce(0, +), total)
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
        let firstAt = try admittedAt(first)
        let second = AdmissionPlan(id: "r:2", counters: [], reservedTokens: 0, budgets: [budget(amount: 100, want: 60)])
        guard case .refused(let error, _, let retryable) = try admit(second) else { return XCTFail("60 reserved + 60 > 100") }
        XCTAssertEqual(error.code, .budgetExceeded)
        XCTAssertTrue(retryable, "calls in flight may leave room")
        let alerts = try settle([settlement(first, at: firstAt, cost: 55)])
        XCTAssertEqual(alerts.map(\.threshold), [50], "50% crossed, once")
        XCTAssertEqual(alerts.first?.spentNanos, 55)
        XCTAssertEqual(alerts.first?.call, 0)
        let base = keys.budget(first.budgets[0].name)
        XCTAssertEqual(try hget(base + ":h", "spent"), 55)
        XCTAssertEqual(try hget(base + ":r", "reserved"), 0)
        XCTAssertFalse(admitted(try admit(second)), "55 spent + 60 > 100")
        let third = AdmissionPlan(id: "r:3", counters: [], reservedTokens: 0, budgets: [budget(amount: 100, want: 45)])
        let thirdAt = try admittedAt(third)
        let last = try settle([settlement(third, at: thirdAt, cost: 45)])
        XCTAssertEqual(last.map(\.threshold), [100], "100% crossed; 50% not again")
        XCTAssertEqual(last.first?.spentNanos, 100)
        guard case .refused(let spentError, _, let spentRetryable) = try admit(
            AdmissionPlan(id: "r:4", counters: [], reservedTokens: 0, budgets: [budget(amount: 100, want: 0)])) else {
            return XCTFail("a spent budget refuses even a call of unknown price")
        }
        XCTAssertFalse(spentRetryable)
        XCTAssertTrue(spentError.message.contains("is exhausted"), spentError.message)
    }

    func testABatchOfAdmissionsDecidesEachCallInOrderAsIfAlone() throws {
        let requests = counter("batch-req", limit: 3, windowMs: 60_000)
        let tokens = counter("batch-tok", .tokens, limit: 1_000, windowMs: 60_000)
        func plan(_ id: String, tokens reserved: Int, want: Int64) -> AdmissionPlan {
            AdmissionPlan(id: id, counters: [requests, tokens], reservedTokens: reserved,
                          budgets: [budget(amount: 100, want: want)])
        }
        // 1 fits; 2 would pass the token limit (400 + 700); 3 fits the tokens but not the
        // budget (40 + 70 > 100); 4 fits; 5 is the third request admitted (2 and 3 reserved
        // nothing), so it fits; 6 would be the fourth: the request limit refuses it.
        let plans = [plan("r:1", tokens: 400, want: 40), plan("r:2", tokens: 700, want: 10),
                     plan("r:3", tokens: 100, want: 70), plan("r:4", tokens: 100, want: 10),
                     plan("r:5", tokens: 100, want: 10), plan("r:6", tokens: 1, want: 1)]
        let decisions = try admitBatch(plans)
        XCTAssertEqual(decisions.map(admitted), [true, false, false, true, true, false])
        guard case .refused(let tokenError, _, _) = decisions[1], case .refused(let budgetError, _, _) = decisions[2],
              case .refused(let requestError, _, _) = decisions[5] else { return XCTFail("refusals expected") }
        XCTAssertEqual(tokenError.upstreamType, "tokens")
        XCTAssertEqual(budgetError.code, .budgetExceeded)
        XCTAssertEqual(requestError.upstreamType, "requests")
        guard case .admitted(let headers, _) = decisions[4] else { return XCTFail("admitted") }
        XCTAssertEqual(headers.headers.first { $0.name == "x-ratelimit-remaining-requests" }?.value, "0")
        XCTAssertEqual(headers.headers.first { $0.name == "x-ratelimit-remaining-tokens" }?.value, "400",
                       "the totals a call sees include the calls before it in the batch")
        // What the batch wrote is what three admissions one by one would have written.
        XCTAssertEqual(try hget(keys.limitWindow(requests.name), "total"), 3)
        XCTAssertEqual(try hget(keys.limitWindow(tokens.name), "total"), 600)
        XCTAssertEqual(try hget(keys.budget(plans[0].budgets[0].name) + ":r", "reserved"), 60)
        XCTAssertFalse(admitted(try admit(plan("r:7", tokens: 1, want: 1))), "the next call sees the batch's reservations")
    }

    func testABatchSendsEachDefinitionOnceAndOneKeyUnderTwoLimitsSharesItsCount() throws {
        let shared = counter("batch-shared", limit: 4, windowMs: 60_000)
        // The same counter under a tighter limit (another policy naming the same key).
        let tight = counter("batch-shared", limit: 2, windowMs: 60_000)
        let loose = AdmissionPlan(id: "r:l", counters: [shared], reservedTokens: 0, budgets: [budget(amount: 100, want: 10)])
        let strict = AdmissionPlan(id: "r:s", counters: [tight], reservedTokens: 0, budgets: [budget(amount: 100, want: 10)])
        let plans = [loose, strict, loose, strict, loose, loose, loose]
        let call = AdmissionBatch(plans).call(keys: keys, lifetime: .seconds(900))
        // lifetime, 7 calls, 2 counter definitions, 1 budget definition, no negative amount;
        // then the definitions once (5 values each), then 6 values per call.
        XCTAssertEqual(Array(call.arguments[1..<5]), ["7", "2", "1", "1"])
        XCTAssertEqual(call.arguments.count, 5 + 2 * 5 + 5 + plans.count * 6)
        XCTAssertEqual(call.keys.count, 2, "one counter hash and one budget base")
        // 1 (count 1), 2 (2 ≤ 2), 3 (3), 4 refused (3 + 1 > 2), 5 (4), 6 and 7 refused (5 > 4).
        let decisions = try admitBatch(plans)
        XCTAssertEqual(decisions.map(admitted), [true, true, true, false, true, false, false])
        XCTAssertEqual(try hget(keys.limitWindow("batch-shared"), "total"), 4)
        XCTAssertEqual(try hget(keys.budget(loose.budgets[0].name) + ":r", "reserved"), 40)
    }

    func testABatchWithRoomForAllIsAdmittedWholeAndEachCallSeesItsOwnTotals() throws {
        let requests = counter("whole-req", limit: 10, windowMs: 60_000)
        let tokens = counter("whole-tok", .tokens, limit: 10_000, windowMs: 60_000)
        func plan(_ reserved: Int) -> AdmissionPlan {
            AdmissionPlan(id: "r", counters: [requests, tokens], reservedTokens: reserved, budgets: [budget(amount: 1_000, want: 5)])
        }
        XCTAssertTrue(admitted(try admit(plan(100))))
        // A call naming the request counter twice counts it once, as alone.
        let twice = AdmissionPlan(id: "r:2", counters: [requests, tokens, requests], reservedTokens: 50, budgets: [])
        let batch = [plan(200), twice, plan(300)]
        let call = AdmissionBatch(batch).call(keys: keys, lifetime: .seconds(900))
        guard case .array(let replies) = try redis.evaluate(call.script, keys: call.keys, arguments: call.arguments),
              case .array(let whole)? = replies.first else { return XCTFail("no reply") }
        XCTAssertEqual(replies.count, 1, "one reply for the whole batch")
        XCTAssertEqual(whole.first?.integer, -1)
        let decisions = AdmissionBatch(batch).decisions(replies.map { value in
            guard case .array(let items) = value else { return [] }
            return items.map { $0.integer ?? 0 }
        })
        func remaining(_ decision: AdmissionDecision, _ name: String) -> [String] {
            guard case .admitted(let headers, _) = decision else { return ["refused"] }
            return headers.headers.filter { $0.name == "x-ratelimit-remaining-\(name)" }.map(\.value)
        }
        // What each call would have seen admitted alone, one after the other.
        XCTAssertEqual(decisions.map { remaining($0, "requests") }, [["8"], ["7"], ["6"]])
        XCTAssertEqual(decisions.map { remaining($0, "tokens") }, [["9700"], ["9650"], ["9350"]])
        guard case .admitted(let headers, let atMs) = decisions[2] else { return XCTFail("admitted") }
        XCTAssertGreaterThan(atMs, 0)
        let reset = headers.headers.first { $0.name == "x-ratelimit-reset-requests" }?.value ?? ""
        XCTAssertTrue(reset.hasSuffix("s"), "a reset within the window: \(reset)")
        XCTAssertEqual(try hget(keys.limitWindow(requests.name), "total"), 4)
        XCTAssertEqual(try hget(keys.limitWindow(tokens.name), "total"), 650)
        XCTAssertEqual(try hget(keys.budget(plan(0).budgets[0].name) + ":r", "reserved"), 15)
        // The batch's buckets are the counter's: the next call alone sees them.
        XCTAssertEqual(remaining(try admit(plan(1)), "requests"), ["5"])
    }

    func testABatchRefusalWaitCountsTheBatchsOwnReservations() throws {
        let requests = counter("batch-wait", limit: 2, windowMs: 60_000)
        let one = AdmissionPlan(id: "r:w", counters: [requests], reservedTokens: 0, budgets: [])
        let decisions = try admitBatch([one, one, one])
        XCTAssertEqual(decisions.map(admitted), [true, true, false])
        guard case .refused(let error, let headers, let retryable) = decisions[2] else { return XCTFail("refused") }
        XCTAssertTrue(retryable)
        XCTAssertGreaterThan(error.retryAfter ?? 0, 59, "both slots were taken in this batch: about a window to wait")
        XCTAssertEqual(headers.headers.first { $0.name == "x-ratelimit-remaining-requests" }?.value, "0")
    }

    func testABatchNamesTheCallThatCrossedEachThreshold() throws {
        var settlements: [Settlement] = []
        for index in 0..<4 {
            let plan = AdmissionPlan(id: "r:\(index)", counters: [], reservedTokens: 0, budgets: [budget(amount: 100, want: 20)])
            settlements.append(settlement(plan, at: try admittedAt(plan), cost: 20))
        }
        let base = keys.budget(settlements[0].plan.budgets[0].name)
        XCTAssertEqual(try hget(base + ":r", "reserved"), 80)
        // Spend goes 20, 40, 60, 80: the third call crosses 50%; 100% is not reached.
        let alerts = try settle(settlements)
        XCTAssertEqual(alerts.map(\.threshold), [50])
        XCTAssertEqual(alerts.map(\.call), [2])
        XCTAssertEqual(alerts.map(\.spentNanos), [60])
        XCTAssertEqual(try hget(base + ":h", "spent"), 80)
        XCTAssertEqual(try hget(base + ":r", "reserved"), 0, "every reservation of the batch was released")
    }

    func testUnsettledReservationsLapse() throws {
        // The lifetime is the gateway's constant; 300 ms here: 15 buckets of 20 ms.
        let lifetime = Duration.milliseconds(300)
        let stuck = AdmissionPlan(id: "r:s", counters: [], reservedTokens: 0, budgets: [budget(amount: 100, want: 90)])
        XCTAssertTrue(admitted(try admit(stuck, lifetime: lifetime)))
        let next = AdmissionPlan(id: "r:n", counters: [], reservedTokens: 0, budgets: [budget(amount: 100, want: 90)])
        XCTAssertFalse(admitted(try admit(next, lifetime: lifetime)))
        usleep(200_000)
        XCTAssertFalse(admitted(try admit(next, lifetime: lifetime)), "still within the lifetime")
        usleep(200_000)
        XCTAssertTrue(admitted(try admit(next, lifetime: lifetime)),
                      "a responder that died does not hold the budget past the lifetime (and a 15th)")
    }

    // MARK: Leases

    /// Admits `plans` asking for `asking`; returns the decisions and the grants.
    private func admitAsking(_ plans: [AdmissionPlan], _ asking: LeaseRequest) throws -> ([AdmissionDecision], [LeaseGrant]) {
        let batch = AdmissionBatch(plans, asking: asking)
        let call = batch.call(keys: keys, lifetime: .seconds(900))
        guard case .array(let calls) = try redis.evaluate(call.script, keys: call.keys, arguments: call.arguments) else {
            throw FixtureError("unexpected admit reply")
        }
        let items = calls.map { value -> [Int] in
            guard case .array(let items) = value else { return [] }
            return items.map { $0.integer ?? 0 }
        }
        return (batch.decisions(items), batch.grants(items))
    }

    func testALeaseIsGrantedOnlyWithinHalfTheLimitCountsAsAdmittedAndItsRestGoesBack() throws {
        let limit = counter("lease", limit: 6_400, windowMs: 60_000)
        let call = AdmissionPlan(id: "r:1", counters: [limit], reservedTokens: 0, budgets: [])
        var asking = LeaseRequest()
        asking.counters = ["lease": 100]
        let (decisions, grants) = try admitAsking([call], asking)
        XCTAssertEqual(decisions.map(admitted), [true], "the call first, then the lease")
        guard grants.count == 1, case .admitted(_, let atMs) = decisions[0] else { return XCTFail("one lease: \(grants)") }
        XCTAssertEqual(grants[0].amount, 100)
        XCTAssertEqual(grants[0].atMs, atMs)
        XCTAssertEqual(grants[0].totalBefore, 1)
        XCTAssertTrue((1...1_000).contains(grants[0].leftMs), "until the 1 s bucket ends: \(grants[0].leftMs)")
        XCTAssertEqual(try hget(keys.limitWindow("lease"), "total"), 101, "granted is admitted")

        asking.counters = ["lease": 3_099]
        let (_, over) = try admitAsking([call], asking)
        XCTAssertTrue(over.isEmpty, "102 + 3099 is past half of 6400: not granted")
        asking.counters = ["lease": 3_097]
        let (_, half) = try admitAsking([call], asking)
        XCTAssertEqual(half.map(\.amount), [3_097], "103 + 3097 is half of 6400")
        XCTAssertEqual(try hget(keys.limitWindow("lease"), "total"), 3_200)

        var back = Settlement(plan: AdmissionPlan(id: "lease", counters: [limit], reservedTokens: 0, budgets: []),
                              admittedAtMs: grants[0].atMs, usage: nil, costNanos: 0, lifetime: .seconds(900))
        back.plan.amounts = [60]
        back.returnsLease = true
        try settle([back])
        XCTAssertEqual(try hget(keys.limitWindow("lease"), "total"), 3_140, "the unused 60 went back")
    }

    func testABudgetLeaseIsReservedLikeACallAndReleasedByItsReturn() throws {
        let want = budget(amount: 6_400, want: 10)
        let call = AdmissionPlan(id: "r:b", counters: [], reservedTokens: 0, budgets: [want])
        var asking = LeaseRequest()
        asking.budgets = [want.name: 100]
        let (decisions, grants) = try admitAsking([call], asking)
        XCTAssertEqual(decisions.map(admitted), [true])
        XCTAssertEqual(grants.map(\.amount), [100])
        XCTAssertEqual(try hget(keys.budget(want.name) + ":r", "reserved"), 110)
        asking.budgets = [want.name: 3_100]
        XCTAssertTrue(try admitAsking([call], asking).1.isEmpty, "120 + 3100 reserved is past half the amount")

        var rest = want
        rest.wantNanos = 100
        var back = Settlement(plan: AdmissionPlan(id: "lease", counters: [], reservedTokens: 0, budgets: [rest]),
                              admittedAtMs: grants[0].atMs, usage: nil, costNanos: 0, lifetime: .seconds(900))
        back.returnsLease = true
        try settle([back])
        XCTAssertEqual(try hget(keys.budget(want.name) + ":r", "reserved"), 20, "released; nothing was spent")
        XCTAssertNil(try hget(keys.budget(want.name) + ":h", "spent"))
    }

    func testAlertOnlyBudgetAdmitsPastItsAmount() throws {
        let plan = AdmissionPlan(id: "r:o", counters: [], reservedTokens: 0,
                                 budgets: [budget(amount: 10, enforce: false, want: 50)])
        XCTAssertTrue(admitted(try admit(plan)))
    }
}
