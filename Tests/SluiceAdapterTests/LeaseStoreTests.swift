@testable import SluiceGateway
import SluiceCore
import Synchronization
import XCTest

/// The process's lease store: leases follow the Redis primary (a failover drops them
/// unused, never returned), and a new lease tells whoever waits for one.
final class LeaseStoreTests: XCTestCase {
    private let counter = LimitCounter(name: "c", kind: .requests, limit: 1_000_000, windowMs: 60_000, label: "test")

    private func plan() -> AdmissionPlan {
        AdmissionPlan(id: "r:t", counters: [counter], reservedTokens: 0, budgets: [])
    }

    private func grant(_ amount: Int64) -> [LeaseGrant] {
        [LeaseGrant(what: .counter(counter), amount: amount, atMs: 1_000_100, leftMs: 800, totalBefore: 0, resetMs: 60_000)]
    }

    func testAFailoverDropsTheLeasesWithoutGivingThemBack() {
        let epoch = Atomic<Int>(1)
        let woken = Atomic<Int>(0)
        let store = LeaseStore(epoch: { epoch.load(ordering: .relaxed) })
        store.onGrant { woken.add(1, ordering: .relaxed) }
        let now = ContinuousClock.now
        let (request, asked) = store.ask(for: plan(), at: now)
        XCTAssertEqual(request.counters, ["c": 16])
        store.answered(request, epoch: asked, grants: grant(16), sent: now)
        XCTAssertEqual(woken.load(ordering: .relaxed), 1, "a new lease wakes the settler")
        XCTAssertNotNil(store.admit(plan(), at: now))
        XCTAssertNotNil(store.nextDue())

        epoch.store(2, ordering: .relaxed)  // the primary changed
        XCTAssertNil(store.admit(plan(), at: now), "leases of the old primary are not used")
        XCTAssertTrue(store.returns(at: now + .seconds(2)).isEmpty, "nor given back to the new one")

        // A grant asked of the old primary and answered after the switch is dropped too.
        epoch.store(3, ordering: .relaxed)
        let (again, before) = store.ask(for: plan(), at: now)
        epoch.store(4, ordering: .relaxed)
        store.answered(again, epoch: before, grants: grant(16), sent: now)
        XCTAssertNil(store.admit(plan(), at: now))
        XCTAssertTrue(store.returns(at: now + .seconds(2)).isEmpty)
        XCTAssertEqual(store.ask(for: plan(), at: now).request.counters, ["c": 16], "and the name may be asked for again")
    }

    func testADrainGivesEveryLeaseBack() {
        let store = LeaseStore()
        let now = ContinuousClock.now
        let (request, epoch) = store.ask(for: plan(), at: now)
        store.answered(request, epoch: epoch, grants: grant(16), sent: now)
        XCTAssertNotNil(store.admit(plan(), at: now))
        store.close()
        XCTAssertNil(store.admit(plan(), at: now))
        let back = store.returns(at: now)
        XCTAssertEqual(back.map(\.plan.amounts), [[15]])
        XCTAssertEqual(back.first?.admittedAtMs, 1_000_100)
        XCTAssertTrue(back.allSatisfy(\.returnsLease))
    }
}
