import SluiceCore
import XCTest

/// `AttemptMachine`, the route's fallback logic, without sockets: plan order and rounds,
/// attempts, endpoints left out, back-off and Retry-After, `max_wait` and the deadline.
final class AttemptMachineTests: XCTestCase {
    private let plan = [AttemptMachine.Target(name: "a", provider: "openai"),
                        AttemptMachine.Target(name: "b", provider: "anthropic"),
                        AttemptMachine.Target(name: "c", provider: "openai")]

    private func machine(attempts: Int? = nil, maxWait: Duration = .seconds(30), deadline: Duration? = nil) -> AttemptMachine {
        AttemptMachine(plan: plan, maxAttempts: attempts, maxWait: maxWait, deadline: deadline)
    }

    private func fail(_ index: Int, wait: Int? = 0, quota: Bool = false) -> AttemptMachine.Event {
        .failed(index: index, retryAfterMs: wait, quotaExhausted: quota)
    }

    func testTheFirstRoundTriesEachEndpointOnceInPlanOrderAndChecksItsLimits() {
        var m = machine()
        var called: [Int] = []
        while case .call(let index, let wait, let checkLimits) = m.next(elapsed: .zero) {
            XCTAssertEqual(wait, .zero)
            XCTAssertTrue(checkLimits)
            called.append(index)
            m.record(fail(index))
        }
        XCTAssertEqual(called, [0, 1, 2])
        XCTAssertEqual(m.next(elapsed: .zero), .stop(.attemptsUsed), "attempts default to one per endpoint")
        XCTAssertEqual(m.attempts, 3)
    }

    func testMoreAttemptsThanEndpointsGoRoundAgainWithDoublingBackoff() {
        var m = machine(attempts: 7)
        var waits: [Duration] = []
        var checked: [Bool] = []
        while case .call(let index, let wait, let checkLimits) = m.next(elapsed: .zero) {
            waits.append(wait)
            checked.append(checkLimits)
            m.record(fail(index))
        }
        XCTAssertEqual(waits, [.zero, .zero, .zero, .milliseconds(200), .milliseconds(200), .milliseconds(200), .milliseconds(400)])
        XCTAssertEqual(checked, [true, true, true, false, false, false, false], "an endpoint's own limits are checked once")
        XCTAssertEqual(AttemptMachine.backoff(round: 9), .milliseconds(12_800), "the back-off stops doubling at 12.8 s")
    }

    func testAnEndpointRefusedByItsOwnLimitsIsLeftOutAndIsNotAnAttempt() {
        var m = machine(attempts: 4)
        XCTAssertEqual(m.next(elapsed: .zero), .call(index: 0, wait: .zero, checkLimits: true))
        m.record(.refusedByLimits(index: 0))
        XCTAssertEqual(m.attempts, 0)
        XCTAssertEqual(m.next(elapsed: .zero), .call(index: 1, wait: .zero, checkLimits: true))
        m.record(fail(1))
        XCTAssertEqual(m.next(elapsed: .zero), .call(index: 2, wait: .zero, checkLimits: true))
        m.record(.refusedByLimits(index: 2))
        XCTAssertEqual(m.next(elapsed: .zero), .call(index: 1, wait: .milliseconds(200), checkLimits: false),
                       "only b is left: it goes round again")
        m.record(fail(1))
        XCTAssertEqual(m.next(elapsed: .zero), .call(index: 1, wait: .milliseconds(400), checkLimits: false))
    }

    func testEveryEndpointRefusedStopsWithNothingLeft() {
        var m = machine(attempts: 10)
        while case .call(let index, _, _) = m.next(elapsed: .zero) { m.record(.refusedByLimits(index: index)) }
        XCTAssertEqual(m.next(elapsed: .zero), .stop(.nothingLeft))
    }

    func testASpentQuotaLeavesOutEveryEndpointOfThatProvider() {
        var m = machine(attempts: 5)
        XCTAssertEqual(m.next(elapsed: .zero), .call(index: 0, wait: .zero, checkLimits: true))
        m.record(fail(0, quota: true))
        XCTAssertEqual(m.next(elapsed: .zero), .call(index: 1, wait: .zero, checkLimits: true), "c is openai too: skipped")
        m.record(fail(1))
        XCTAssertEqual(m.next(elapsed: .zero), .call(index: 1, wait: .milliseconds(200), checkLimits: false))
    }

    func testRetryAfterLongerThanTheBackoffIsWaitedAndAnAnswerlessFailureKeepsIt() {
        var m = AttemptMachine(plan: [plan[0]], maxAttempts: 4, maxWait: .seconds(30), deadline: nil)
        _ = m.next(elapsed: .zero)
        m.record(fail(0, wait: 1_500))
        XCTAssertEqual(m.next(elapsed: .zero), .call(index: 0, wait: .milliseconds(1_500), checkLimits: false))
        m.record(fail(0, wait: nil))
        XCTAssertEqual(m.next(elapsed: .zero), .call(index: 0, wait: .milliseconds(1_500), checkLimits: false),
                       "a connect failure says nothing new: the provider's ask stands")
        m.record(fail(0, wait: 0))
        XCTAssertEqual(m.next(elapsed: .zero), .call(index: 0, wait: .milliseconds(800), checkLimits: false))
    }

    func testAWaitLongerThanMaxWaitStops() {
        var m = AttemptMachine(plan: [plan[0]], maxAttempts: 3, maxWait: .seconds(2), deadline: nil)
        _ = m.next(elapsed: .zero)
        m.record(fail(0, wait: 5_000))
        XCTAssertEqual(m.next(elapsed: .zero), .stop(.waitTooLong))
    }

    func testTheDeadlineStopsAWaitThatWouldReachItAndBoundsEachAttempt() {
        var m = machine(attempts: 6, deadline: .seconds(1))
        XCTAssertEqual(m.timeLeft(elapsed: .milliseconds(300)), .milliseconds(700))
        XCTAssertEqual(m.timeLeft(elapsed: .milliseconds(999)), .zero, "a millisecond or less: stop")
        for index in 0..<3 {
            _ = m.next(elapsed: .milliseconds(100))
            m.record(fail(index))
        }
        XCTAssertEqual(m.next(elapsed: .milliseconds(700)), .call(index: 0, wait: .milliseconds(200), checkLimits: false))
        m.record(fail(0))
        XCTAssertEqual(m.next(elapsed: .milliseconds(800)), .stop(.deadline), "800 ms + 200 ms reaches the deadline")
        XCTAssertNil(machine().timeLeft(elapsed: .seconds(100)), "no deadline: no bound")
    }

    func testAnEmptyPlanStopsAtOnce() {
        var m = AttemptMachine(plan: [], maxAttempts: 3, maxWait: .seconds(1), deadline: nil)
        XCTAssertEqual(m.next(elapsed: .zero), .stop(.nothingLeft))
    }
}
