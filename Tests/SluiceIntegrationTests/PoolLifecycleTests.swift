import Foundation
import Synchronization
import XCTest

/// The responder pool as a process manager: crashes, reloads and drains.
final class PoolLifecycleTests: XCTestCase {
    private var stack: GatewayStack!
    private var key = ""
    private let chat = #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#

    override func setUpWithError() throws {
        stack = try GatewayStack()
        key = try stack.createKey(name: "lifecycle")
    }

    override func tearDown() {
        stack?.stop()
        super.tearDown()
    }

    func testKilledWorkerIsBackWithinASecondAndThePoolKeepsServing() throws {
        let before = stack.workerPids()
        XCTAssertEqual(before.count, 2)
        let failures = Counter()
        let successes = Counter()
        let done = Counter()
        let answered = Mutex<[String]>([])
        let key = self.key, chat = self.chat, client = stack.client
        for _ in 0..<4 {
            Thread.detachNewThread {
                let deadline = ContinuousClock.now + .seconds(3)
                while ContinuousClock.now < deadline {
                    let response = client.post("/v1/chat/completions", key: key, chat)
                    if response.status == 200 { successes.add() } else { failures.add() }
                    if let id = response.header("x-sluice-request-id") { answered.withLock { $0.append(id) } }
                }
                done.add()
            }
        }
        usleep(500_000)
        let victim = before[0]
        kill(victim, SIGKILL)
        let killed = ContinuousClock.now
        try waitUntil("a replacement worker runs", timeout: .seconds(1)) {
            let now = stack.workerPids()
            return now.count == 2 && !now.contains(victim)
        }
        XCTAssertLessThan(ContinuousClock.now - killed, .seconds(1))
        try waitUntil("the load threads finish", timeout: .seconds(10)) { done.value == 4 }
        XCTAssertGreaterThan(successes.value, 50)
        // Only requests in flight on the killed worker may fail (4 threads → at most 4).
        XCTAssertLessThanOrEqual(failures.value, 4)
        // No request reached the provider twice (nginx never re-sends a POST that a dead
        // worker had taken): provider calls ≤ client requests.
        XCTAssertLessThanOrEqual(stack.mockCount(model: "mock-gpt"), successes.value + failures.value)
        XCTAssertEqual(stack.client.post("/v1/chat/completions", key: key, chat).status, 200)
        // Every call answered has its audit record, exactly once, those the killed worker
        // answered just before it died included: their records were in its journal, which
        // the replacement worker replays at start.
        let ids = answered.withLock { $0 }
        var counts: [String: Int] = [:]
        try waitUntil("every answered call's audit record is in the stream", timeout: .seconds(10)) {
            counts = (try? stack.auditCounts()) ?? [:]
            return ids.allSatisfy { counts[$0] != nil }
        }
        XCTAssertEqual(ids.filter { counts[$0] != 1 }, [], "records missing or appended twice")
    }

    func testReloadAppliesAGoodConfigAndRefusesABadOne() throws {
        // A stream in flight during the reload completes on the old worker.
        let inFlight = startSlowStream()
        usleep(300_000)
        try stack.writeConfig(GatewayStack.config(stack, extraRoutes: "  added: { type: chat, endpoints: [ { provider: mock, model: mock-gpt } ] }"))
        stack.reload()
        try waitUntil("the new route is served", timeout: .seconds(5)) {
            stack.client.post("/v1/chat/completions", key: key, #"{"model":"added","messages":[{"role":"user","content":"hi"}]}"#).status == 200
        }
        try waitUntil("the in-flight stream ends", timeout: .seconds(10)) { inFlight.value >= 1 }
        XCTAssertEqual(inFlight.value, 2, "the in-flight stream completed with [DONE]")

        try stack.writeConfig(GatewayStack.config(stack, extraRoutes: "  broken: { type: chat, endpoints: [ { provider: nowhere, model: x } ] }"))
        stack.reload()
        try waitUntil("the master logs the refusal", timeout: .seconds(5)) { stack.pool!.log.contains("reload refused") }
        XCTAssertTrue(stack.pool!.log.contains("routes.broken.endpoints[0].provider"), "the refusal names the field")
        for _ in 0..<10 {
            XCTAssertEqual(stack.client.post("/v1/chat/completions", key: key, #"{"model":"added","messages":[{"role":"user","content":"hi"}]}"#).status, 200)
        }
        // The first reload's old worker leaves once its stream is done (asynchronously).
        try waitUntil("only the current generation's two workers run", timeout: .seconds(5)) { stack.workerPids().count == 2 }
    }

    func testSigtermDrainsInFlightStreamsThenExitsAndRemovesTheSocket() throws {
        let finished = startSlowStream()
        usleep(400_000)
        let pool = try XCTUnwrap(stack.pool)
        kill(pool.pid, SIGTERM)
        // A request arriving while the pool drains is refused at once (nginx's 502, or its
        // next upstream in an estate), not parked in a backlog until the drain ends.
        usleep(300_000)
        let arrived = ContinuousClock.now
        let late = stack.client.post("/v1/chat/completions", key: key, chat)
        let waited = ContinuousClock.now - arrived
        XCTAssertEqual(late.status, 502, late.text)
        XCTAssertLessThan(waited, .milliseconds(500), "a new request must not wait for the drain")
        XCTAssertFalse(FileManager.default.fileExists(atPath: stack.socketPath), "the socket stops listening at once")
        XCTAssertFalse(pool.waitForExit(timeout: .milliseconds(1)), "the pool is still draining the stream")
        XCTAssertTrue(pool.waitForExit(timeout: .seconds(15)), "the master exits after draining")
        try waitUntil("the client's stream ends", timeout: .seconds(5)) { finished.value >= 1 }
        XCTAssertEqual(finished.value, 2, "the in-flight stream completed")
        XCTAssertEqual(pool.process.terminationStatus, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stack.socketPath), "the socket file is removed")
        XCTAssertFalse(pool.log.contains("accept failed"), "a shut listener is no error:\n\(pool.log)")
    }
}

extension PoolLifecycleTests {
    func testStreamStillRunningAtTheDrainDeadlineEndsWithAnErrorEvent() throws {
        let config = GatewayStack.config(stack, extraRoutes: "  very-slow: { type: chat, endpoints: [ { provider: mock, model: \"mock-gpt@interval=250ms,words=60\" } ] }")
        try stack.writeConfig(config.replacingOccurrences(of: "drain_timeout: 10s", with: "drain_timeout: 1s"))
        stack.reload()
        let key = self.key, client = stack.client
        try waitUntil("the new generation serves very-slow", timeout: .seconds(5)) {
            client.post("/v1/chat/completions", key: key, #"{"model":"very-slow","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}"#).status == 200
        }
        let ended = Counter()
        nonisolated(unsafe) var response = TestResponse()
        Thread.detachNewThread {
            response = client.post("/v1/chat/completions", key: key,
                                   #"{"model":"very-slow","stream":true,"messages":[{"role":"user","content":"a"}]}"#)
            ended.add()
        }
        usleep(600_000)
        let pool = try XCTUnwrap(stack.pool)
        kill(pool.pid, SIGTERM)
        try waitUntil("the stream ends", timeout: .seconds(8)) { ended.value == 1 }
        XCTAssertFalse(response.events.contains("[DONE]"))
        XCTAssertTrue(response.events.last?.contains("\"error\"") == true, response.events.last ?? "no events")
        XCTAssertTrue(pool.waitForExit(timeout: .seconds(10)))
    }

    /// Starts a streamed call on the `slow` route on its own thread. The counter reaches 1
    /// when the stream ends, 2 if it ended with `[DONE]`.
    private func startSlowStream() -> Counter {
        let ended = Counter()
        let key = self.key, client = stack.client
        Thread.detachNewThread {
            let response = client.post("/v1/chat/completions", key: key,
                                       #"{"model":"slow","stream":true,"messages":[{"role":"user","content":"a b c"}]}"#)
            if response.events.last == "[DONE]" { ended.add() }
            ended.add()
        }
        return ended
    }
}

/// A thread-safe counter for load threads.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    /// Adds one; returns the new count.
    @discardableResult func add() -> Int { lock.lock(); defer { lock.unlock() }; count += 1; return count }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
