import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SluiceCore
@testable import SluiceGateway
import SluiceRedis
import Synchronization
import XCTest

/// `GovernanceCombiner` against a real `redis-server`: many threads' admissions and
/// settlements combined into shared round trips stay exact, each thread gets its own
/// decision and alerts, and an unreachable Redis fails every ticket of the round trip.
final class GovernanceCombinerTests: XCTestCase {
    private var server: RedisServerFixture!
    private let keys = RedisKeys(prefix: "c")

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        server = try RedisServerFixture.start()
    }

    override func tearDown() {
        server?.stop()
        server = nil
    }

    private func combiner() -> GovernanceCombiner {
        GovernanceCombiner(connect: { RedisConnection(config: self.server.config()) }, keys: keys,
                           reservationLifetime: .seconds(900))
    }

    private func budget(amount: Int64, want: Int64) -> BudgetCounter {
        var counter = BudgetCounter(budget: BudgetConfig(name: "team", per: .gateway, amountNanos: amount, period: .day,
                                                         thresholds: [50]),
                                    scopeValue: "*", periodLabel: "2026-12-03", periodStartMs: 0,
                                    periodEndMs: Int64(Date().timeIntervalSince1970 * 1000) + 86_400_000)
        counter.wantNanos = want
        return counter
    }

    func testConcurrentAdmissionsAdmitExactlyTheLimit() throws {
        let limit = LimitCounter(name: "shared", kind: .requests, limit: 123, windowMs: 60_000, label: "123 requests")
        let combiner = combiner()
        let admitted = Atomic<Int>(0)
        let threads = 8, each = 40
        let finished = DispatchSemaphore(value: 0)
        for _ in 0..<threads {
            Thread {
                for index in 0..<each {
                    let plan = AdmissionPlan(id: "r:\(index)", counters: [limit], reservedTokens: 0, budgets: [])
                    let ticket = combiner.admit(plan, extra: nil)
                    XCTAssertNil(ticket.failure)
                    if case .admitted = ticket.decision { admitted.add(1, ordering: .relaxed) }
                }
                finished.signal()
            }.start()
        }
        for _ in 0..<threads { XCTAssertEqual(finished.wait(timeout: .now() + 30), .success) }
        XCTAssertEqual(admitted.load(ordering: .relaxed), 123, "\(threads * each) calls on a limit of 123")
        let redis = RedisConnection(config: server.config())
        defer { redis.close() }
        XCTAssertEqual(try redis.command(["HGET", keys.limitWindow(limit.name), "total"]).integer, 123)
    }

    func testCallsQueuedWhileEveryLaneIsOutShareTheNextRoundTrip() throws {
        let limit = LimitCounter(name: "batched", kind: .requests, limit: 5, windowMs: 60_000, label: "5 requests")
        let combiner = combiner()
        let pid = try XCTUnwrap(server.pid)
        // Redis paused: the first calls take both lanes and wait; the others queue behind them.
        kill(pid, SIGSTOP)
        let admitted = Atomic<Int>(0)
        // Eight real threads (GCD would run only as many at once as there are cores).
        let finished = DispatchSemaphore(value: 0)
        for index in 0..<8 {
            Thread {
                let plan = AdmissionPlan(id: "r:\(index)", counters: [limit], reservedTokens: 0, budgets: [])
                if case .admitted = combiner.admit(plan, extra: nil).decision { admitted.add(1, ordering: .relaxed) }
                finished.signal()
            }.start()
        }
        usleep(300_000)
        kill(pid, SIGCONT)
        for _ in 0..<8 { XCTAssertEqual(finished.wait(timeout: .now() + 10), .success) }
        XCTAssertEqual(admitted.load(ordering: .relaxed), 5, "exact, batched or not")
        let redis = RedisConnection(config: server.config())
        defer { redis.close() }
        let stats = try redis.command(["INFO", "commandstats"]).text ?? ""
        let line = stats.split(whereSeparator: \.isNewline).first { $0.hasPrefix("cmdstat_evalsha:") || $0.hasPrefix("cmdstat_eval:") }
        let calls = line.flatMap { $0.split(separator: "=").dropFirst().first?.split(separator: ",").first }.flatMap { Int($0) }
        XCTAssertLessThanOrEqual(try XCTUnwrap(calls), GovernanceCombiner.lanes + 1,
                                 "8 admissions: one per lane while Redis was paused, then the rest in one round trip")
    }

    func testSettlementsQueuedWithoutWaitingAreCarriedAndEachTicketGetsItsOwnAlerts() throws {
        let combiner = combiner()
        var settlements: [(GovernanceTicket, Int64)] = []
        for cost: Int64 in [20, 20, 20] {
            let plan = AdmissionPlan(id: "r:\(cost)", counters: [], reservedTokens: 0, budgets: [budget(amount: 100, want: 20)])
            let ticket = combiner.admit(plan, extra: nil)
            guard case .admitted(_, let atMs) = ticket.decision else { return XCTFail("admitted") }
            let settlement = Settlement(plan: plan, admittedAtMs: atMs, usage: TokenUsage(prompt: 1, completion: 1),
                                        costNanos: cost, lifetime: .seconds(900))
            settlements.append((combiner.queueSettlement([settlement]), cost))
        }
        // The three settlements are still queued; an admission carries them (settled first).
        let probe = AdmissionPlan(id: "r:p", counters: [], reservedTokens: 0, budgets: [budget(amount: 100, want: 40)])
        let admitted = combiner.admit(probe, extra: nil)
        guard case .admitted = admitted.decision else {
            return XCTFail("60 spent + 0 reserved + 40 ≤ 100 once the queued settlements went first")
        }
        for (ticket, _) in settlements { combiner.wait(for: ticket) }
        XCTAssertEqual(settlements.map { $0.0.alerts.map(\.threshold) }, [[], [], [50]],
                       "the third call's cost crossed 50%; only its ticket hears of it")
        XCTAssertEqual(settlements[2].0.alerts.first?.call, 0, "positions are the ticket's own")
    }

    func testClaimedSettlementsLeaveTheQueueForTheClaimersOwnRoundTrip() throws {
        let combiner = combiner()
        let plan = AdmissionPlan(id: "r:c", counters: [], reservedTokens: 0, budgets: [budget(amount: 100, want: 60)])
        guard case .admitted(_, let atMs) = combiner.admit(plan, extra: nil).decision else { return XCTFail("admitted") }
        let settlement = Settlement(plan: plan, admittedAtMs: atMs, usage: TokenUsage(prompt: 1, completion: 1),
                                    costNanos: 10, lifetime: .seconds(900))
        let queued = combiner.queueSettlement([settlement])
        XCTAssertEqual(combiner.claim([queued]).count, 1)
        XCTAssertTrue(combiner.claim([queued]).isEmpty, "a ticket is claimed once")
        // An admission now does not carry it: 60 is still reserved, so 50 more does not fit.
        let next = AdmissionPlan(id: "r:n", counters: [], reservedTokens: 0, budgets: [budget(amount: 100, want: 50)])
        guard case .refused = combiner.admit(next, extra: nil).decision else {
            return XCTFail("the claimed settlement must not ride another round trip")
        }
        // The claimer sends it in a round trip of its own, then completes it.
        var round = SettlementRound([queued])
        let call = try XCTUnwrap(round.call(keys: keys))
        let redis = RedisConnection(config: server.config())
        defer { redis.close() }
        round.deliver(try redis.evaluate(call.script, keys: call.keys, arguments: call.arguments))
        combiner.complete([queued])
        combiner.wait(for: queued)
        XCTAssertTrue(queued.done)
        XCTAssertNil(queued.settleError)
        guard case .admitted = combiner.admit(next, extra: nil).decision else {
            return XCTFail("10 spent + 50 wanted fits once the claimer settled")
        }
    }

    func testAnAdmissionRedisRefusesCarriesRedisText() throws {
        let admin = RedisConnection(config: server.config())
        defer { admin.close() }
        _ = try admin.command(["CONFIG", "SET", "maxmemory-policy", "noeviction"])
        _ = try admin.command(["CONFIG", "SET", "maxmemory", "1"])
        defer { _ = try? admin.command(["CONFIG", "SET", "maxmemory", "0"]) }
        let limit = LimitCounter(name: "oom", kind: .requests, limit: 5, windowMs: 60_000, label: "5 requests")
        let ticket = combiner().admit(AdmissionPlan(id: "r:o", counters: [limit], reservedTokens: 0, budgets: []), extra: nil)
        XCTAssertNil(ticket.failure, "Redis answered")
        guard case .unknown = ticket.decision else { return XCTFail("no decision from a refused script") }
        XCTAssertTrue(ticket.admitError?.contains("OOM") == true, ticket.admitError ?? "no error text")
    }

    func testAnUnreachableRedisFailsTheTicketsItCarried() throws {
        let config = server.config(timeout: .milliseconds(300))
        server.stop()
        server = nil
        let combiner = GovernanceCombiner(connect: { RedisConnection(config: config) }, keys: keys,
                                          reservationLifetime: .seconds(900))
        let limit = LimitCounter(name: "gone", kind: .requests, limit: 1, windowMs: 1_000, label: "1 request")
        let ticket = combiner.admit(AdmissionPlan(id: "r:g", counters: [limit], reservedTokens: 0, budgets: []), extra: nil)
        XCTAssertNotNil(ticket.failure)
        let settling = combiner.queueSettlement([])
        combiner.wait(for: settling)
        XCTAssertNil(settling.failure, "an empty round trip is not sent")
    }
}
