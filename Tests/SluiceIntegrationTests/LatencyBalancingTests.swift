import Foundation
import SluiceCore
import SluiceRedis
import XCTest

/// `balance: latency`: traffic moves away from an endpoint that slows down within seconds,
/// from the latency every responder reports to the shared health in Redis.
final class LatencyBalancingTests: XCTestCase {
    func testTrafficMovesAwayFromASlowedEndpoint() throws {
        let stack = try GatewayStack(config: { stack in
            GatewayStack.mockConfig(stack, workers: 2, threads: 4, """
            routes:
              balanced:
                type: chat
                balance: { by: latency, explore: 0.1 }
                endpoints:
                  - { name: one, provider: mock, model: lat-one }
                  - { name: two, provider: mock, model: lat-two }
            principals:
              "*": {}
            """)
        })
        defer { stack.stop() }
        let key = try stack.createKey(name: "balance")
        func call() -> String? {
            let response = stack.client.post("/v1/chat/completions", key: key,
                                              #"{"model":"balanced","messages":[{"role":"user","content":"hi"}]}"#)
            XCTAssertEqual(response.status, 200)
            return response.header("x-sluice-endpoint")
        }
        for _ in 0..<20 { _ = call() }
        XCTAssertGreaterThan(stack.mockCount(model: "lat-one"), 0, "both endpoints get measured")
        XCTAssertGreaterThan(stack.mockCount(model: "lat-two"), 0, "both endpoints get measured")

        // "one" slows down: within a few seconds nearly everything goes to "two".
        stack.setMockFault(model: "lat-one", "delay=250ms")
        let slowedAt = ContinuousClock.now
        var recent: [String] = []
        while ContinuousClock.now - slowedAt < .seconds(4) {
            recent.append(call() ?? "")
            recent = Array(recent.suffix(30))
        }
        let onSlow = recent.filter { $0 == "one" }.count
        XCTAssertEqual(recent.count, 30)
        XCTAssertLessThanOrEqual(onSlow, 8, "the last 30 calls: \(recent)")  // explore: ~10%, at most a few
        let health = try stack.sluice(["endpoints", "--config", stack.configPath, "--json"]).output
        XCTAssertTrue(health.contains("lat-one"), health)
    }
}

/// `balance: least_busy`: calls go to the endpoint with the fewest calls in flight,
/// counted pool-wide in Redis.
final class LeastBusyBalancingTests: XCTestCase {
    func testCallsAvoidTheEndpointThatHoldsThemLongest() throws {
        let stack = try GatewayStack(config: { stack in
            GatewayStack.mockConfig(stack, workers: 2, threads: 8, """
            routes:
              busy:
                type: chat
                balance: least_busy
                endpoints:
                  - { name: slow, provider: mock, model: "busy-slow@delay=1500ms" }
                  - { name: quick, provider: mock, model: "busy-quick@delay=50ms" }
            principals:
              "*": {}
            """)
        })
        defer { stack.stop() }
        let key = try stack.createKey(name: "busy")
        let client = stack.client
        let done = Counter()
        // 24 calls, one every 60 ms: a weighted draw would send about half to "slow"; the
        // least busy one sends there only while "slow" holds no more calls than "quick".
        for _ in 0..<24 {
            Thread.detachNewThread {
                _ = client.post("/v1/chat/completions", key: key, #"{"model":"busy","messages":[{"role":"user","content":"hi"}]}"#)
                done.add()
            }
            usleep(60_000)
        }
        try waitUntil("every call ends", timeout: .seconds(15)) { done.value == 24 }
        let slow = stack.mockCount(model: "busy-slow@delay=1500ms"), quick = stack.mockCount(model: "busy-quick@delay=50ms")
        XCTAssertEqual(slow + quick, 24)
        XCTAssertLessThanOrEqual(slow, 5, "slow \(slow), quick \(quick)")
        // Nothing stays counted once the calls are over.
        let redis = RedisConnection(config: RedisConfig(url: RedisURL(address: .tcp(host: "127.0.0.1", port: stack.redisPort)),
                                                        keyPrefix: "sluice"))
        defer { redis.close() }
        try waitUntil("the in-flight sets are empty", timeout: .seconds(5)) {
            let a = (try? redis.checked(["ZCARD", "sluice:busy:mock/busy-slow@delay=1500ms"]))?.integer ?? -1
            let b = (try? redis.checked(["ZCARD", "sluice:busy:mock/busy-quick@delay=50ms"]))?.integer ?? -1
            return a == 0 && b == 0
        }
    }
}
