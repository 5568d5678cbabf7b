import Foundation
import XCTest

/// `balance: latency`: traffic moves away from an endpoint that slows down within seconds,
/// from the latency every responder reports to the shared health in Redis.
final class LatencyBalancingTests: XCTestCase {
    func testTrafficMovesAwayFromASlowedEndpoint() throws {
        let stack = try GatewayStack(config: { stack in
            """
            server: { listen: "unix:\(stack.socketPath)", workers: 2, threads: 4 }
            redis: { url: "redis://127.0.0.1:\(stack.redisPort)/0", timeout: 500ms }
            audit: { spool_dir: "\(stack.directory.path)/spool" }
            providers:
              mock: { kind: openai_compatible, base_url: "http://127.0.0.1:\(stack.mockPort)/v1", api_key: "${env:SLUICE_TEST_MOCK_KEY}" }
            routes:
              balanced:
                type: chat
                balance: { by: latency, explore: 0.1 }
                endpoints:
                  - { name: one, provider: mock, model: lat-one }
                  - { name: two, provider: mock, model: lat-two }
            principals:
              "*": {}
            """
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
