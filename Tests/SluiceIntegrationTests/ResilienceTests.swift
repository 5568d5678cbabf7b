import Foundation
import Synchronization
import XCTest

/// Routing and resilience through real nginx, Redis and several worker processes, with
/// the mock provider injecting faults: fallbacks, the stream-integrity contract, weighted
/// splits, tag rules, retries, pool-wide cooldown with a single probe, and keep-warm.
final class ResilienceTests: SharedStackTestCase {
    nonisolated(unsafe) private static var cachedKey: String?

    override class var stackConfig: ((GatewayStack) -> String)? {
        { stack in
            """
            server: { listen: "unix:\(stack.socketPath)", workers: 4, threads: 4, drain_timeout: 5s }
            redis: { url: "redis://127.0.0.1:\(stack.redisPort)/0", timeout: 500ms }
            audit: { spool_dir: "\(stack.directory.path)/spool" }
            health: { window: 10s, min_calls: 4, failure_ratio: 0.5, cooldown: 2s, max_cooldown: 20s }
            providers:
              mock: { kind: openai_compatible, base_url: "http://127.0.0.1:\(stack.mockPort)/v1", api_key: "${env:SLUICE_TEST_MOCK_KEY}" }
              other: { kind: openai, base_url: "http://127.0.0.1:\(stack.mockPort)/v1", api_key: "${file:\(stack.directory.path)/mock.key}" }
              dead: { kind: openai_compatible, base_url: "http://127.0.0.1:\(stack.deadPort)/v1", timeouts: { connect: 1s } }
            routes:
            \(fallbackRoute("fb-429", primary: "{ name: primary, provider: mock, model: \"fb-429@status=429\" }"))
            \(fallbackRoute("fb-500", primary: "{ name: primary, provider: mock, model: \"fb-500@status=500\" }"))
            \(fallbackRoute("fb-529", primary: "{ name: primary, provider: mock, model: \"fb-529@status=529\" }"))
            \(fallbackRoute("fb-timeout", primary: "{ name: primary, provider: mock, model: \"fb-timeout@delay=4s\", timeouts: { first_byte: 1s } }"))
            \(fallbackRoute("fb-connect", primary: "{ name: primary, provider: dead, model: fb-connect }"))
            \(fallbackRoute("fb-drop", primary: "{ name: primary, provider: mock, model: \"fb-drop@drop=1,words=40\" }"))
            \(fallbackRoute("fb-400", primary: "{ name: primary, provider: mock, model: \"fb-400@status=400\" }"))
            \(fallbackRoute("cut", primary: "{ name: primary, provider: mock, model: \"cut@drop=2,words=8\" }"))
            \(fallbackRoute("stream-fb", primary: "{ name: primary, provider: mock, model: \"stream-fb@status=503\" }"))
            \(fallbackRoute("cool", primary: "{ name: primary, provider: mock, model: cool-primary }"))
              quota:
                type: chat
                endpoints:
                  - { name: q1, provider: mock, model: "q1@quota=1" }
                  - { name: q2, provider: mock, model: q2, fallback_only: true }
                  - { name: q3, provider: other, model: q3, fallback_only: true }
              split:
                type: chat
                endpoints:
                  - { name: cheap, provider: mock, model: split-cheap, weight: 80 }
                  - { name: good, provider: mock, model: split-good, weight: 20 }
              tagged:
                type: chat
                default: small
                rules: [ { when: { priority: high }, use: big } ]
                endpoints:
                  - { name: small, provider: mock, model: tag-small, weight: 1 }
                  - { name: big, provider: mock, model: tag-big, weight: 1 }
              retry-after:
                type: chat
                retry: { attempts: 2, max_wait: 3s }
                endpoints: [ { name: only, provider: mock, model: "ra@status=429,retry_after=1" } ]
              deadline:
                type: chat
                retry: { deadline: 1500ms }
                endpoints: [ { name: slow, provider: mock, model: "dl@delay=5s" } ]
              warm:
                type: chat
                endpoints: [ { name: warm, provider: mock, model: warm-model, keep_warm: 1s } ]
              params:
                type: chat
                endpoints:
                  - { name: tuned, provider: mock, model: tuned, params: { temperature: 0.1, max_tokens: 7 }, headers: { X-Team: abc } }
            principals:
              "*": {}
            """
        }
    }

    private static func fallbackRoute(_ name: String, primary: String) -> String {
        """
          \(name):
            type: chat
            endpoints:
              - \(primary)
              - { name: backup, provider: other, model: backup-\(name), fallback_only: true }
        """
    }

    private var key: String {
        get throws {
            if let key = Self.cachedKey { return key }
            let key = try gateway().createKey(name: "routing-tests")
            Self.cachedKey = key
            return key
        }
    }

    private func chat(_ route: String, stream: Bool = false, tags: String? = nil) throws -> TestResponse {
        let body = #"{"model":"\#(route)","stream":\#(stream),"messages":[{"role":"user","content":"hello there"}]}"#
        return try gateway().client.post("/v1/chat/completions", key: key, body,
                                         extraHeaders: tags.map { [("X-Sluice-Tags", $0)] } ?? [])
    }

    // MARK: Fallback chain

    func testRetryableFailuresFallBackToTheNextEndpoint() throws {
        let stack = try gateway()
        for route in ["fb-429", "fb-500", "fb-529", "fb-timeout", "fb-connect", "fb-drop"] {
            let response = try chat(route)
            XCTAssertEqual(response.status, 200, "\(route): \(response.text)")
            XCTAssertEqual(response.header("x-sluice-route"), route)
            XCTAssertEqual(response.header("x-sluice-endpoint"), "backup", route)
            XCTAssertEqual(response.header("x-sluice-attempts"), "2", route)
            XCTAssertEqual(stack.mockCount(model: "backup-\(route)"), 1, route)
        }
    }

    func testClientErrorReachesTheClientWithoutFallback() throws {
        let stack = try gateway()
        let response = try chat("fb-400")
        XCTAssertEqual(response.status, 400, response.text)
        XCTAssertEqual(response.header("x-sluice-endpoint"), "primary")
        XCTAssertEqual(response.header("x-sluice-attempts"), "1")
        XCTAssertEqual(stack.mockCount(model: "backup-fb-400"), 0, "a 400 is never retried elsewhere")
    }

    func testStreamCutAfterFirstByteEndsWithAnErrorEventAndNoSecondCall() throws {
        let stack = try gateway()
        let response = try chat("cut", stream: true)
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("x-sluice-endpoint"), "primary")
        let events = response.events
        XCTAssertGreaterThan(events.count, 1, response.text)
        XCTAssertNotEqual(events.last, "[DONE]", "a cut stream must not look complete")
        XCTAssertTrue(events.last?.contains("\"error\"") ?? false, response.text)
        XCTAssertEqual(stack.mockCount(model: "backup-cut"), 0, "never switch providers after the first byte")
    }

    func testStreamFailingBeforeItsFirstByteFallsBackTransparently() throws {
        let response = try chat("stream-fb", stream: true)
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertEqual(response.header("x-sluice-endpoint"), "backup")
        XCTAssertEqual(response.events.last, "[DONE]")
    }

    func testExhaustedQuotaIsNotRetriedOnTheSameAccount() throws {
        let stack = try gateway()
        let response = try chat("quota")
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertEqual(response.header("x-sluice-endpoint"), "q3")
        XCTAssertEqual(response.header("x-sluice-attempts"), "2")
        XCTAssertEqual(stack.mockCount(model: "q2"), 0, "q2 is on the account whose quota ran out")
    }

    // MARK: Retries and deadline

    func testRetryAfterIsHonouredBeforeCallingTheEndpointAgain() throws {
        let stack = try gateway()
        let started = ContinuousClock.now
        let response = try chat("retry-after")
        let elapsed = ContinuousClock.now - started
        XCTAssertEqual(response.status, 429, response.text)
        XCTAssertEqual(response.header("x-sluice-attempts"), "2")
        XCTAssertEqual(response.header("retry-after"), "1")
        XCTAssertEqual(stack.mockCount(model: "ra@status=429,retry_after=1"), 2)
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(950), "the second call waited for Retry-After")
    }

    func testDeadlineBoundsTheWholeRequest() throws {
        let started = ContinuousClock.now
        let response = try chat("deadline")
        let elapsed = ContinuousClock.now - started
        XCTAssertEqual(response.status, 504, response.text)
        XCTAssertLessThan(elapsed, .milliseconds(3500), "the 1.5 s deadline cut the 5 s call short")
    }

    // MARK: Selection

    func testTagRulesComeFirstAndTheDefaultOtherwise() throws {
        for _ in 0..<10 {
            XCTAssertEqual(try chat("tagged", tags: "priority=high, team=a").header("x-sluice-endpoint"), "big")
            XCTAssertEqual(try chat("tagged").header("x-sluice-endpoint"), "small")
            XCTAssertEqual(try chat("tagged", tags: "priority=low").header("x-sluice-endpoint"), "small")
        }
    }

    func testWeightedSplitLandsWithinTwoPercentOverTenThousandRequests() throws {
        let stack = try gateway()
        let key = try self.key
        let counts = Mutex([String: Int]())
        let client = stack.client
        let body = #"{"model":"split","messages":[{"role":"user","content":"hi"}]}"#
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            var local: [String: Int] = [:]
            for _ in 0..<1250 {
                let response = client.post("/v1/chat/completions", key: key, body)
                local[response.status == 200 ? response.header("x-sluice-endpoint") ?? "none" : "status \(response.status)", default: 0] += 1
            }
            counts.withLock { all in local.forEach { all[$0.key, default: 0] += $0.value } }
        }
        let result = counts.withLock { $0 }
        XCTAssertEqual((result["cheap"] ?? 0) + (result["good"] ?? 0), 10_000, "\(result)")
        let share = Double(result["cheap"] ?? 0) / 10_000
        XCTAssertEqual(share, 0.8, accuracy: 0.02, "\(result)")
    }

    func testEndpointParamsAndHeadersReachTheProvider() throws {
        let stack = try gateway()
        let response = stack.client.post("/v1/chat/completions", key: try key,
                                          #"{"model":"params","temperature":0.9,"messages":[{"role":"user","content":"x"}]}"#)
        XCTAssertEqual(response.status, 200, response.text)
        let last = try XCTUnwrap(stack.mockStats()["last_request"] as? [String: Any])
        let sent = try XCTUnwrap(last["body"] as? String)
        XCTAssertEqual(sent, #"{"model":"tuned","temperature":0.1,"messages":[{"role":"user","content":"x"}],"max_tokens":7}"#)
        XCTAssertEqual((last["headers"] as? [String: String])?["x-team"], "abc")
    }

    // MARK: Shared health

    func testCooledDownEndpointGetsNoTrafficFromAnyWorkerUntilItsSingleProbe() throws {
        let stack = try gateway()
        stack.setMockFault(model: "cool-primary", "status=500")
        defer { stack.setMockFault(model: "cool-primary", "") }
        for _ in 0..<4 {
            let response = try chat("cool")
            XCTAssertEqual(response.status, 200, response.text)
            XCTAssertEqual(response.header("x-sluice-endpoint"), "backup")
        }
        try waitUntil("the primary is cooling down", timeout: .seconds(3)) { (try? state("cool")) == "cooling" }
        let failedCalls = stack.mockCount(model: "cool-primary")
        XCTAssertEqual(failedCalls, 4)

        // Many clients, spread over four worker processes: none reaches the primary.
        let endpoints = concurrentChats("cool", clients: 8, each: 5)
        XCTAssertEqual(endpoints, ["backup": 40])
        XCTAssertEqual(stack.mockCount(model: "cool-primary"), failedCalls, "no traffic during the cooldown")

        // The cooldown ends while the primary still fails: exactly one responder probes it.
        try waitUntil("the cooldown is over", timeout: .seconds(4)) { (try? state("cool")) != "cooling" }
        _ = concurrentChats("cool", clients: 8, each: 2)
        XCTAssertEqual(stack.mockCount(model: "cool-primary"), failedCalls + 1, "one probe, pool-wide")
        try waitUntil("the failed probe cools it down again", timeout: .seconds(2)) { (try? state("cool")) == "cooling" }
        let row = try XCTUnwrap(try endpointRows().first { $0["route"] as? String == "cool" && $0["endpoint"] as? String == "primary" })
        XCTAssertEqual(row["trips"] as? Int, 2)

        // Recovered: after its probe succeeds, traffic returns.
        stack.setMockFault(model: "cool-primary", "")
        try waitUntil("the second cooldown is over", timeout: .seconds(6)) { (try? state("cool")) != "cooling" }
        // The probe's outcome is recorded before its response completes: the very next call
        // finds the endpoint recovered, not still being probed.
        for _ in 0..<5 {
            let response = try chat("cool")
            XCTAssertEqual(response.header("x-sluice-endpoint"), "primary",
                           "attempts \(response.header("x-sluice-attempts") ?? "-"): \(response.text)")
        }
        XCTAssertEqual(try state("cool"), "healthy")
    }

    func testKeepWarmPingsComeFromExactlyOneResponder() throws {
        let stack = try gateway()
        // Pings and calls to the model from one snapshot of the mock's counters, so a ping
        // that lands between two reads cannot make them disagree.
        let counts = { () -> (pings: Int, model: Int) in
            let stats = stack.mockStats()
            return ((stats["keep_warm_pings"] as? Int) ?? 0, ((stats["by_model"] as? [String: Any])?["warm-model"] as? Int) ?? 0)
        }
        let before = counts()
        sleep(4)
        let after = counts()
        let sent = after.pings - before.pings
        // One ping per second for the whole pool; four workers each pinging would send ~16.
        XCTAssertGreaterThanOrEqual(sent, 2)
        XCTAssertLessThanOrEqual(sent, 5)
        XCTAssertEqual(after.model - before.model, sent)
        let row = try XCTUnwrap(try endpointRows().first { $0["route"] as? String == "warm" })
        XCTAssertNotNil(row["last_ping_ms"])
        XCTAssertNotNil(row["last_success_ms"])
    }

    func testEndpointsCommandShowsEveryEndpoint() throws {
        let stack = try gateway()
        _ = try chat("split")
        let table = try stack.sluice(["endpoints", "--config", stack.configPath])
        XCTAssertEqual(table.status, 0, table.output)
        XCTAssertTrue(table.output.hasPrefix("ROUTE"), table.output)
        XCTAssertTrue(table.output.contains("cheap"), table.output)
        XCTAssertFalse(table.output.contains(stack.mockKey), "no secrets")
        let rows = try endpointRows()
        XCTAssertEqual(rows.count, 31, "every endpoint of every route")
        XCTAssertTrue(rows.allSatisfy { ["healthy", "cooling", "probing", "half-open"].contains($0["state"] as? String ?? "") })
    }

    // MARK: Helpers

    private func endpointRows() throws -> [[String: Any]] {
        let stack = try gateway()
        let result = try stack.sluice(["endpoints", "--config", stack.configPath, "--json"])
        guard result.status == 0 else { throw StackError("sluice endpoints failed: \(result.output)") }
        return result.output.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// The state of the route's `primary` endpoint.
    private func state(_ route: String) throws -> String? {
        try endpointRows().first { $0["route"] as? String == route && $0["endpoint"] as? String == "primary" }?["state"] as? String
    }

    /// Sends `clients × each` chats at once; counts the answering endpoints.
    private func concurrentChats(_ route: String, clients: Int, each: Int) -> [String: Int] {
        guard let stack = try? gateway(), let key = try? key else { return [:] }
        let counts = Mutex([String: Int]())
        let client = stack.client
        let body = #"{"model":"\#(route)","messages":[{"role":"user","content":"hi"}]}"#
        DispatchQueue.concurrentPerform(iterations: clients) { _ in
            for _ in 0..<each {
                let response = client.post("/v1/chat/completions", key: key, body)
                let name = response.status == 200 ? response.header("x-sluice-endpoint") ?? "none" : "status \(response.status)"
                counts.withLock { $0[name, default: 0] += 1 }
            }
        }
        return counts.withLock { $0 }
    }
}
