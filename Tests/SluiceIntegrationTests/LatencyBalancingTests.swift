import Foundation
import SluiceCore
import SluiceRedis
import XCTest

/// `balance: latency`: traffic moves away from an endpoint that slows down within seconds,
/// and back once it recovers (the exploring share keeps measuring it), from the latency
/// every responder reports to the shared health in Redis — for streams, the time to the
/// first event, not to the response headers.
final class LatencyBalancingTests: XCTestCase {
    private func balancedStack() throws -> GatewayStack {
        try GatewayStack(config: { stack in
            GatewayStack.mockConfig(stack, workers: 2, threads: 4, """
            routes:
              balanced:
                type: chat
                balance: { by: latency, explore: 0.2 }
                endpoints:
                  - { name: one, provider: mock, model: lat-one }
                  - { name: two, provider: mock, model: lat-two }
              first-event: { type: chat, endpoints: [ { provider: mock, model: "ttft@first_event=250ms" } ] }
            principals:
              "*": {}
            """)
        })
    }

    /// Calls until `seconds` pass (at most 1,000 calls); the endpoints of the last 30.
    private func lastThirty(_ stack: GatewayStack, key: String, stream: Bool = false, for seconds: Int) -> [String] {
        let body = #"{"model":"balanced","stream":\#(stream),"messages":[{"role":"user","content":"hi"}]}"#
        let start = ContinuousClock.now
        var recent: [String] = []
        for _ in 0..<1000 where ContinuousClock.now - start < .seconds(seconds) {
            let response = stack.client.post("/v1/chat/completions", key: key, body)
            XCTAssertEqual(response.status, 200)
            recent.append(response.header("x-sluice-endpoint") ?? "")
            recent = Array(recent.suffix(30))
        }
        return recent
    }

    func testTrafficMovesAwayFromASlowedEndpointAndBackOnceItRecovers() throws {
        let stack = try balancedStack()
        defer { stack.stop() }
        let key = try stack.createKey(name: "balance")
        _ = lastThirty(stack, key: key, for: 1)
        XCTAssertGreaterThan(stack.mockCount(model: "lat-one"), 0, "both endpoints get measured")
        XCTAssertGreaterThan(stack.mockCount(model: "lat-two"), 0, "both endpoints get measured")

        // "one" slows down: within a few seconds nearly everything goes to "two".
        stack.setMockFault(model: "lat-one", "delay=250ms")
        var recent = lastThirty(stack, key: key, for: 4)
        XCTAssertEqual(recent.count, 30)
        XCTAssertLessThanOrEqual(recent.filter { $0 == "one" }.count, 8, "the last 30 calls: \(recent)")  // explore: ~10%
        let health = try stack.sluice(["endpoints", "--config", stack.configPath, "--json"]).output
        XCTAssertTrue(health.contains("lat-one"), health)

        // "one" recovers and "two" slows a little: only the exploring calls still reach
        // "one", and they bring its average down until it wins the traffic back.
        stack.setMockFault(model: "lat-one", "")
        stack.setMockFault(model: "lat-two", "delay=30ms")
        recent = lastThirty(stack, key: key, for: 8)
        XCTAssertGreaterThanOrEqual(recent.filter { $0 == "one" }.count, 20, "the last 30 calls: \(recent)")
    }

    func testAStreamsLatencyIsItsTimeToFirstEvent() throws {
        let stack = try balancedStack()
        defer { stack.stop() }
        let key = try stack.createKey(name: "ttft")
        _ = lastThirty(stack, key: key, stream: true, for: 1)
        // "one" sends its headers at once but its first event 250 ms later: measured to its
        // headers it would look as fast as "two".
        stack.setMockFault(model: "lat-one", "first_event=250ms")
        let recent = lastThirty(stack, key: key, stream: true, for: 4)
        XCTAssertEqual(recent.count, 30)
        XCTAssertLessThanOrEqual(recent.filter { $0 == "one" }.count, 8, "the last 30 streams: \(recent)")
        // The attempt's latency in the audit record and the shared health is that time.
        let stream = stack.client.post("/v1/chat/completions", key: key,
                                       #"{"model":"first-event","stream":true,"messages":[{"role":"user","content":"ttft"}]}"#)
        XCTAssertEqual(stream.status, 200)
        XCTAssertTrue(stream.text.hasSuffix("data: [DONE]\n\n"), stream.text)
        let attempts = try XCTUnwrap(try stack.auditRecord(of: stream)["attempts"] as? [[String: Any]])
        let latency = try XCTUnwrap(attempts.first?["latency_ms"] as? Int)
        XCTAssertGreaterThanOrEqual(latency, 250)
        XCTAssertLessThan(latency, 2000)
        var row: [String: Any] = [:]
        try waitUntil("the shared health has the latency", timeout: .seconds(5)) {
            let out = (try? stack.sluice(["endpoints", "--config", stack.configPath, "--json"]).output) ?? ""
            row = out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .first { $0["route"] as? String == "first-event" } ?? [:]
            return row["last_latency_ms"] != nil
        }
        XCTAssertGreaterThanOrEqual(row["last_latency_ms"] as? Int ?? 0, 250, "\(row)")
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
