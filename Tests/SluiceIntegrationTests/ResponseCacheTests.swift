import Foundation
import XCTest

/// The exact-match response cache: a repeated request is answered from Redis, JSON and
/// streams byte for byte, without a provider call; per key by default; bypassed with
/// `Cache-Control: no-cache`; hits audited as `cache: hit` at zero cost, still counted
/// by the route's request limits, but not held to token limits or budgets.
final class ResponseCacheTests: XCTestCase {
    private var stack: GatewayStack!

    override func setUpWithError() throws {
        stack = try GatewayStack(config: { stack in
            GatewayStack.mockConfig(stack, workers: 2, threads: 4, """
            prices:
              cache-model: { input: 1.0, output: 4.0 }
              cache-spend-model: { input: 0, output: 1000 }
            budgets:
              cache-spend: { per: route, value: spent, amount: 0.11, period: day }
            routes:
              tokens:
                type: chat
                cache: { ttl: 1m }
                limits: [ { per: route, tokens: 250, window: 1m } ]
                endpoints: [ { provider: mock, model: "cache-tokens@words=120" } ]
              small:
                type: chat
                cache: { ttl: 1m, max_bytes: 1k }
                endpoints: [ { provider: mock, model: cache-small } ]
              brief:
                type: chat
                cache: { ttl: 1s }
                endpoints: [ { provider: mock, model: cache-brief } ]
              guarded:
                type: chat
                cache: { ttl: 1m }
                guardrails: [ { name: zebras, words: [zebra], action: log } ]
                endpoints: [ { provider: mock, model: cache-guarded } ]
              spent:
                type: chat
                cache: { ttl: 1m }
                endpoints: [ { provider: mock, model: "cache-spend-model@words=12" } ]
              cached:
                type: chat
                cache: { ttl: 1m, max_bytes: 64k, ignore_fields: [user] }
                endpoints: [ { provider: mock, model: "cache-model@words=12" } ]
              limited:
                type: chat
                cache: { ttl: 1m }
                limits: [ { per: route, requests: 2, window: 1m } ]
                endpoints: [ { provider: mock, model: limited-model } ]
            principals:
              "*": {}
            """)
        })
    }

    override func tearDown() {
        stack?.stop()
        super.tearDown()
    }

    func testRepeatedRequestsAreAnsweredFromTheCacheExactly() throws {
        let key = try stack.createKey(name: "cache-a"), other = try stack.createKey(name: "cache-b")
        let body = #"{"model":"cached","messages":[{"role":"user","content":"what is a sluice?"}],"user":"u1"}"#
        let first = stack.client.post("/v1/chat/completions", key: key, body)
        XCTAssertEqual(first.status, 200, first.text)
        XCTAssertEqual(first.header("x-sluice-cache"), "miss")
        let calls = stack.mockCount(model: "cache-model@words=12")
        XCTAssertEqual(calls, 1)

        // The same request (members reordered, another `user`): a hit, byte for byte.
        var second = stack.client.post("/v1/chat/completions", key: key,
                                       #"{"user":"u2","messages":[{"role":"user","content":"what is a sluice?"}],"model":"cached"}"#)
        for _ in 0..<20 where second.header("x-sluice-cache") != "hit" {  // stored once the first response was out
            usleep(50_000)
            second = stack.client.post("/v1/chat/completions", key: key, body)
        }
        XCTAssertEqual(second.status, 200)
        XCTAssertEqual(second.header("x-sluice-cache"), "hit")
        XCTAssertEqual(second.text, first.text)
        XCTAssertEqual(second.header("x-sluice-attempts"), "0")
        XCTAssertEqual(stack.mockCount(model: "cache-model@words=12"), calls, "no provider call for a hit")
        let record = try stack.auditRecord(of: second)
        XCTAssertEqual(record["cache"] as? String, "hit")
        XCTAssertEqual(record["cost"] as? Double, 0)
        XCTAssertEqual(record["status"] as? Int, 200)
        XCTAssertEqual(try stack.auditRecord(of: first)["cache"] as? String, "miss")

        // Another key has its own namespace; a client's no-cache bypasses the cache.
        XCTAssertEqual(stack.client.post("/v1/chat/completions", key: other, body).header("x-sluice-cache"), "miss")
        let bypass = stack.client.post("/v1/chat/completions", key: key, body, extraHeaders: [("Cache-Control", "no-cache")])
        XCTAssertEqual(bypass.header("x-sluice-cache"), "bypass")
        XCTAssertEqual(stack.mockCount(model: "cache-model@words=12"), calls + 2)
        // A different question is a miss.
        XCTAssertEqual(stack.client.post("/v1/chat/completions", key: key,
                                         #"{"model":"cached","messages":[{"role":"user","content":"and a weir?"}]}"#)
            .header("x-sluice-cache"), "miss")
        try waitUntil("hits are counted in /metrics", timeout: .seconds(5)) {
            stack.client.send(.get, "/metrics").text.contains(#"sluice_response_cache_total{route="cached",result="hit"}"#)
        }
    }

    func testAStreamIsReplayedAsTheSameStream() throws {
        let key = try stack.createKey(name: "cache-stream")
        let body = #"{"model":"cached","stream":true,"messages":[{"role":"user","content":"stream it"}]}"#
        let first = stack.client.post("/v1/chat/completions", key: key, body)
        XCTAssertEqual(first.status, 200)
        XCTAssertTrue(first.text.hasSuffix("data: [DONE]\n\n"), first.text)
        let second = untilHit(key, body)
        XCTAssertEqual(second.header("x-sluice-cache"), "hit")
        XCTAssertEqual(second.header("content-type"), first.header("content-type"))
        XCTAssertEqual(second.text, first.text, "the same events, byte for byte")
        // The JSON form of the same question is a different entry.
        let json = stack.client.post("/v1/chat/completions", key: key,
                                     #"{"model":"cached","messages":[{"role":"user","content":"stream it"}]}"#)
        XCTAssertEqual(json.header("x-sluice-cache"), "miss")
        XCTAssertTrue(json.text.hasPrefix("{"))
    }

    func testHitsStillCountAgainstRequestLimits() throws {
        let key = try stack.createKey(name: "cache-limits")
        let body = #"{"model":"limited","messages":[{"role":"user","content":"hi"}]}"#
        XCTAssertEqual(stack.client.post("/v1/chat/completions", key: key, body).status, 200)
        usleep(200_000)
        let hit = stack.client.post("/v1/chat/completions", key: key, body)
        XCTAssertEqual(hit.status, 200)
        XCTAssertEqual(hit.header("x-sluice-cache"), "hit")
        XCTAssertEqual(stack.client.post("/v1/chat/completions", key: key, body).status, 429, "the third request in the minute")
        XCTAssertEqual(stack.mockCount(model: "limited-model"), 1)
    }

    /// A hit reserves no tokens and no budget amount: with the route's token limit or its
    /// budget used up, a cached answer is still served while a new question is refused.
    func testHitsAreServedWhenTokensOrBudgetAreUsedUp() throws {
        let key = try stack.createKey(name: "cache-spent")
        // tokens: a call reserves its prompt estimate plus max_tokens 150 (~180 of 250) and
        // settles to its usage (124); spent: a call reserves 100 tokens × $0.001 = $0.10 of
        // $0.11 and spends 12 × $0.001.
        for (route, model, maxTokens) in [("tokens", "cache-tokens@words=120", 150), ("spent", "cache-spend-model@words=12", 100)] {
            let body = #"{"model":"\#(route)","max_tokens":\#(maxTokens),"messages":[{"role":"user","content":"once"}]}"#
            let first = stack.client.post("/v1/chat/completions", key: key, body)
            XCTAssertEqual(first.status, 200, first.text)
            XCTAssertEqual(first.header("x-sluice-cache"), "miss")
            let hit = untilHit(key, body)
            XCTAssertEqual(hit.status, 200, "\(route): \(hit.text)")
            XCTAssertEqual(hit.header("x-sluice-cache"), "hit", route)
            XCTAssertEqual(hit.text, first.text)
            // A new question needs tokens (or money) the route no longer has.
            let miss = stack.client.post("/v1/chat/completions", key: key,
                                         #"{"model":"\#(route)","max_tokens":\#(maxTokens),"messages":[{"role":"user","content":"twice"}]}"#)
            XCTAssertEqual(miss.status, 429, "\(route): \(miss.text)")
            XCTAssertEqual(miss.errorCode, route == "spent" ? "budget_exceeded" : "rate_limit_exceeded", miss.text)
            // Hits keep coming, however many, and the provider is called once.
            for _ in 0..<3 {
                let again = stack.client.post("/v1/chat/completions", key: key, body)
                XCTAssertEqual(again.status, 200, "\(route): \(again.text)")
                XCTAssertEqual(again.header("x-sluice-cache"), "hit")
            }
            XCTAssertEqual(stack.mockCount(model: model), 1, route)
        }
    }

    /// Posts `body` until it is a hit (an answer is stored just after its response is out).
    private func untilHit(_ key: String, _ body: String) -> TestResponse {
        var response = stack.client.post("/v1/chat/completions", key: key, body)
        for _ in 0..<20 where response.header("x-sluice-cache") != "hit" {
            usleep(50_000)
            response = stack.client.post("/v1/chat/completions", key: key, body)
        }
        return response
    }

    func testNoStoreNeitherReadsNorWritesTheCache() throws {
        let key = try stack.createKey(name: "cache-no-store")
        let body = #"{"model":"cached","messages":[{"role":"user","content":"keep this to yourself"}]}"#
        let noStore: [(String, String)] = [("Cache-Control", "no-store")]
        let first = stack.client.post("/v1/chat/completions", key: key, body, extraHeaders: noStore)
        XCTAssertEqual(first.status, 200, first.text)
        XCTAssertEqual(first.header("x-sluice-cache"), "bypass")
        XCTAssertEqual(try stack.auditRecord(of: first)["cache"] as? String, "bypass")
        usleep(300_000)  // a store would have happened by now
        XCTAssertEqual(stack.client.post("/v1/chat/completions", key: key, body).header("x-sluice-cache"), "miss",
                       "no-store wrote nothing")
        XCTAssertEqual(untilHit(key, body).header("x-sluice-cache"), "hit")
        let calls = stack.mockCount(model: "cache-model@words=12")
        // With an answer stored, no-store does not read it either: the provider answers.
        let again = stack.client.post("/v1/chat/completions", key: key, body, extraHeaders: [("Cache-Control", "private, no-store")])
        XCTAssertEqual(again.status, 200)
        XCTAssertEqual(again.header("x-sluice-cache"), "bypass")
        XCTAssertEqual(stack.mockCount(model: "cache-model@words=12"), calls + 1)
    }

    func testAnAnswerLargerThanMaxBytesIsNotStored() throws {
        let key = try stack.createKey(name: "cache-max-bytes")
        // The mock echoes the question: ~1.6 KB of answer, over the route's 1k.
        let long = #"{"model":"small","messages":[{"role":"user","content":"\#(String(repeating: "long ", count: 300))"}]}"#
        let first = stack.client.post("/v1/chat/completions", key: key, long)
        XCTAssertEqual(first.status, 200)
        XCTAssertGreaterThan(first.text.utf8.count, 1024)
        XCTAssertEqual(first.header("x-sluice-cache"), "miss")
        usleep(300_000)
        XCTAssertEqual(stack.client.post("/v1/chat/completions", key: key, long).header("x-sluice-cache"), "miss")
        XCTAssertEqual(stack.mockCount(model: "cache-small"), 2)
        // A short answer on the same route is kept.
        let short = #"{"model":"small","messages":[{"role":"user","content":"short"}]}"#
        let answer = stack.client.post("/v1/chat/completions", key: key, short)
        XCTAssertLessThan(answer.text.utf8.count, 1024)
        XCTAssertEqual(untilHit(key, short).header("x-sluice-cache"), "hit")
        XCTAssertEqual(stack.mockCount(model: "cache-small"), 3)
    }

    func testAnAnswerExpiresAfterItsTTL() throws {
        let key = try stack.createKey(name: "cache-ttl")
        let body = #"{"model":"brief","messages":[{"role":"user","content":"how long do you keep this?"}]}"#
        XCTAssertEqual(stack.client.post("/v1/chat/completions", key: key, body).header("x-sluice-cache"), "miss")
        XCTAssertEqual(untilHit(key, body).header("x-sluice-cache"), "hit")
        XCTAssertEqual(stack.mockCount(model: "cache-brief"), 1)
        usleep(1_300_000)  // ttl: 1s
        XCTAssertEqual(stack.client.post("/v1/chat/completions", key: key, body).header("x-sluice-cache"), "miss")
        XCTAssertEqual(stack.mockCount(model: "cache-brief"), 2)
        // `sluice usage` counts the hit as a request with no tokens and no cost, under model
        // `-` (no provider answered); the two provider calls under the provider's model.
        var rows: [String: [String: Any]] = [:]
        try waitUntil("usage has the hit and the calls", timeout: .seconds(5)) {
            let out = (try? stack.sluice(["usage", "report", "--config", stack.configPath, "--by", "model", "--json"]).output) ?? ""
            rows = [:]
            for line in out.split(separator: "\n") {
                if let row = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                   let model = row["model"] as? String { rows[model] = row }
            }
            return rows["mock/cache-brief"]?["requests"] as? Int == 2 && rows["-"] != nil
        }
        XCTAssertGreaterThanOrEqual(rows["-"]?["requests"] as? Int ?? 0, 1)
        XCTAssertEqual(rows["-"]?["total_tokens"] as? Int, 0)
        XCTAssertEqual(rows["-"]?["cost"] as? Double, 0)
    }

    /// The key carries the route's guardrail config: after a reload that adds guardrails to
    /// a route its stored answers are not served (they did not pass those checks); a route
    /// whose guardrails stay the same keeps its answers (the digest is the same in the new
    /// workers).
    func testAReloadThatChangesARoutesGuardrailsDoesNotServeItsOldAnswers() throws {
        let key = try stack.createKey(name: "cache-reload")
        let plain = #"{"model":"cached","messages":[{"role":"user","content":"a striped horse?"}]}"#
        let guarded = #"{"model":"guarded","messages":[{"role":"user","content":"a striped horse?"}]}"#
        XCTAssertEqual(stack.client.post("/v1/chat/completions", key: key, plain).header("x-sluice-cache"), "miss")
        XCTAssertEqual(stack.client.post("/v1/chat/completions", key: key, guarded).header("x-sluice-cache"), "miss")
        XCTAssertEqual(untilHit(key, plain).header("x-sluice-cache"), "hit")
        XCTAssertEqual(untilHit(key, guarded).header("x-sluice-cache"), "hit")

        let text = try String(contentsOfFile: stack.configPath, encoding: .utf8)
        let cachedRoute = "cache: { ttl: 1m, max_bytes: 64k, ignore_fields: [user] }"
        XCTAssertTrue(text.contains(cachedRoute))
        try stack.writeConfig(text.replacingOccurrences(
            of: cachedRoute, with: cachedRoute + "\n    guardrails: [ { name: zebras, words: [zebra], action: log } ]"))
        stack.reload()
        try waitUntil("the reload is applied", timeout: .seconds(5)) { stack.pool!.log.contains("configuration reloaded") }
        // The new workers miss (the old ones, draining, may still answer a call or two).
        var results: [String] = []
        for _ in 0..<20 where results.last != "miss" {
            results.append(stack.client.post("/v1/chat/completions", key: key, plain).header("x-sluice-cache") ?? "")
            usleep(50_000)
        }
        XCTAssertEqual(results.last, "miss", "\(results)")
        XCTAssertEqual(stack.mockCount(model: "cache-model@words=12"), 2)
        for _ in 0..<5 {
            XCTAssertEqual(stack.client.post("/v1/chat/completions", key: key, guarded).header("x-sluice-cache"), "hit",
                           "the same guardrails: the same key")
        }
        XCTAssertEqual(stack.mockCount(model: "cache-guarded"), 1)
    }
}
