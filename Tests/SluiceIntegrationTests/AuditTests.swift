import Foundation
import SluiceCore
import SluiceRedis
import Synchronization
import XCTest

/// The audit stream through real nginx, Redis and the pool: one record per call with its
/// fields, nothing lost while Redis is stopped, and usage totals that match the records.
final class AuditTests: SharedStackTestCase {
    nonisolated(unsafe) private static var cachedKey: String?

    override class var stackConfig: ((GatewayStack) -> String)? {
        { stack in
            GatewayStack.config(stack, extraRoutes: #"""
              captured:
                type: chat
                capture: { max_bytes: 4k, redact_fields: [ssn], redact_patterns: ['\b\d{3}-\d{2}-\d{4}\b'] }
                endpoints: [ { provider: mock, model: mock-gpt } ]
            """#)
        }
    }

    private var key: String {
        get throws {
            if let key = Self.cachedKey { return key }
            let key = try gateway().createKey(name: "audit-tests")
            Self.cachedKey = key
            return key
        }
    }

    func testEveryCallGetsOneRecordWithItsFields() throws {
        let stack = try gateway()
        let key = try self.key
        let plain = stack.client.post("/v1/chat/completions", key: key,
                                      #"{"model":"chat","messages":[{"role":"user","content":"count these words please"}]}"#,
                                      extraHeaders: [("X-Sluice-Tags", "team=support, project_id=bot")])
        XCTAssertEqual(plain.status, 200, plain.text)
        let record = try waitForRecord(plain)
        XCTAssertEqual(record["kind"] as? String, "call")
        XCTAssertEqual(record["route"] as? String, "chat")
        XCTAssertEqual(record["endpoint"] as? String, "mock/mock-gpt")
        XCTAssertEqual(record["provider"] as? String, "mock")
        XCTAssertEqual(record["provider_model"] as? String, "mock-gpt")
        XCTAssertEqual(record["tags"] as? [String: String], ["team": "support", "project_id": "bot"])
        XCTAssertEqual(record["status"] as? Int, 200)
        XCTAssertEqual(record["client_addr"] as? String, "127.0.0.1")
        XCTAssertTrue((record["key_id"] as? String)?.hasPrefix("key_") ?? false, "\(record)")
        XCTAssertEqual((record["attempts"] as? [[String: Any]])?.count, 1)
        let usage = try XCTUnwrap(plain.json["usage"] as? [String: Any])
        XCTAssertEqual(record["usage_source"] as? String, "provider")
        XCTAssertEqual(record["prompt_tokens"] as? Int, usage["prompt_tokens"] as? Int)
        XCTAssertEqual(record["completion_tokens"] as? Int, usage["completion_tokens"] as? Int)
        XCTAssertEqual(record["stream"] as? Bool, false)
        XCTAssertNotNil(record["latency_ms"] as? Int)
        let text = String(describing: record)
        XCTAssertFalse(text.contains(key) || text.contains(stack.mockKey), "no secrets in the audit record")

        // A stream whose client did not ask for usage: the gateway still knows it.
        let streamed = stack.client.post("/v1/chat/completions", key: key,
                                         #"{"model":"chat","stream":true,"messages":[{"role":"user","content":"one two three"}]}"#)
        XCTAssertEqual(streamed.events.last, "[DONE]")
        XCTAssertFalse(streamed.text.contains("\"usage\":{"), "the client did not ask for usage")
        let streamRecord = try waitForRecord(streamed)
        XCTAssertEqual(streamRecord["usage_source"] as? String, "provider")
        XCTAssertGreaterThan(streamRecord["completion_tokens"] as? Int ?? 0, 0)
        XCTAssertEqual(streamRecord["stream_completed"] as? Bool, true)
        XCTAssertNotNil(streamRecord["ttfb_ms"] as? Int)

        // A stream cut after its first byte: recorded as incomplete, with partial usage.
        let cut = stack.client.post("/v1/chat/completions", key: key,
                                    #"{"model":"cut","stream":true,"messages":[{"role":"user","content":"one two three"}]}"#)
        let cutRecord = try waitForRecord(cut)
        XCTAssertEqual(cutRecord["stream_completed"] as? Bool, false)
        XCTAssertEqual(cutRecord["usage_source"] as? String, "partial")
        XCTAssertEqual(cutRecord["error_class"] as? String, "stream_cut")

        // A fallback: the whole attempt chain.
        let fallback = stack.client.post("/v1/chat/completions", key: key,
                                         #"{"model":"fallback","messages":[{"role":"user","content":"x"}]}"#)
        let chain = try XCTUnwrap(try waitForRecord(fallback)["attempts"] as? [[String: Any]])
        XCTAssertEqual(chain.map { $0["endpoint"] as? String }, ["failing", "backup"])
        XCTAssertEqual(chain.map { $0["status"] as? Int }, [503, 200])

        // Refused before routing: still one record.
        let refused = stack.client.post("/v1/chat/completions", key: "sk-sluice-wrong", #"{"model":"chat"}"#)
        let refusedRecord = try waitForRecord(refused)
        XCTAssertEqual(refusedRecord["status"] as? Int, 401)
        XCTAssertEqual(refusedRecord["error_class"] as? String, "invalid_api_key")
        XCTAssertTrue(refusedRecord["key_id"] is NSNull)
    }

    func testCapturedPayloadsAreRedactedBeforeTheyLeaveTheProcess() throws {
        let stack = try gateway()
        let key = try self.key
        let body = #"{"model":"captured","messages":[{"role":"user","content":"my ssn is 123-45-6789 and key sk-proj-ABCDEFGHIJKLMNOPQRSTUV"}],"metadata":{"ssn":"987-65-4321","note":"keep me"}}"#
        let response = stack.client.post("/v1/chat/completions", key: key, body)
        XCTAssertEqual(response.status, 200, response.text)
        let record = try waitForRecord(response)
        let request = try XCTUnwrap(record["request_body"] as? String)
        let answer = try XCTUnwrap(record["response_body"] as? String)
        XCTAssertTrue(request.contains("keep me"), request)
        XCTAssertTrue(request.contains(#""ssn":"[redacted]""#), request)
        for secret in ["123-45-6789", "987-65-4321", "sk-proj-ABCDEFGHIJKLMNOPQRSTUV", key, stack.mockKey] {
            XCTAssertFalse(request.contains(secret) || answer.contains(secret), "\(secret) leaked into the record")
        }
        XCTAssertTrue(answer.contains("chat.completion"), answer)
        // Other routes capture nothing.
        let plain = stack.client.post("/v1/chat/completions", key: key, #"{"model":"chat","messages":[{"role":"user","content":"x"}]}"#)
        XCTAssertTrue(try waitForRecord(plain)["request_body"] is NSNull)
    }

    func testNoRecordIsLostWhileRedisIsStopped() throws {
        let stack = try gateway()
        let key = try self.key
        let redisPid = try XCTUnwrap(stack.redis?.pid)
        let ids = Mutex([String]())
        let running = Atomic<Bool>(true)
        let client = stack.client
        let clients = DispatchGroup()
        for _ in 0..<8 {
            DispatchQueue.global().async(group: clients) {
                while running.load(ordering: .relaxed) {
                    let response = client.post("/v1/chat/completions", key: key,
                                               #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#)
                    if let id = response.header("x-sluice-request-id") { ids.withLock { $0.append(id) } }
                }
            }
        }
        sleep(2)
        kill(redisPid, SIGSTOP)
        sleep(10)
        kill(redisPid, SIGCONT)
        sleep(2)
        running.store(false, ordering: .relaxed)
        clients.wait()
        let sent = ids.withLock { $0 }
        XCTAssertGreaterThan(sent.count, 1000, "a few thousand calls")
        var found: [String: Int] = [:]
        try waitUntil("every call's record is in the stream", timeout: .seconds(30)) {
            found = (try? self.requestIdCounts()) ?? [:]
            return sent.allSatisfy { found[$0] != nil }
        }
        XCTAssertEqual(sent.filter { (found[$0] ?? 0) > 1 }, [], "no record appended twice")

        // Counted again in durable storage: the drainer's day files.
        let directory = stack.directory.appendingPathComponent("drained").path
        let drained = try stack.sluice(["audit", "drain", "--config", stack.configPath, "--once", "--to", "file:" + directory])
        XCTAssertEqual(drained.status, 0, drained.output)
        var stored: [String: Int] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasSuffix(".ndjson") {
            let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            for line in text.split(separator: "\n") {
                guard let entry = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let record = entry["record"] as? [String: Any], let id = record["request_id"] as? String else { continue }
                stored[id, default: 0] += 1
            }
        }
        XCTAssertEqual(sent.filter { stored[$0] == nil }.count, 0, "every call of \(sent.count) is in the drained files")
        XCTAssertEqual(sent.filter { (stored[$0] ?? 0) > 1 }.count, 0, "and only once")
    }

    /// Commands that only read Redis run without the provider secrets: an operator who
    /// tails the audit stream need not hold the provider keys. `check` still needs them.
    func testReadOnlyCommandsNeedNoProviderSecrets() throws {
        let stack = try gateway()
        let key = try self.key
        XCTAssertEqual(stack.client.post("/v1/chat/completions", key: key,
                                         #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#).status, 200)
        var text = try String(contentsOfFile: stack.configPath, encoding: .utf8)
        text = text.replacingOccurrences(of: "${env:SLUICE_TEST_MOCK_KEY}", with: "${env:SLUICE_UNSET_PROVIDER_KEY}")
            .replacingOccurrences(of: stack.directory.path + "/mock.key", with: "/nonexistent/mock.key")
        let path = stack.directory.path + "/operator.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertNil(ProcessInfo.processInfo.environment["SLUICE_UNSET_PROVIDER_KEY"])
        let drained = stack.directory.path + "/read-only-drain"
        for arguments in [["usage", "--json"], ["keys", "list"], ["endpoints"], ["usage", "budgets"], ["audit", "verify"],
                          ["audit", "tail", "--from", "-1h", "--count", "1", "--json"],
                          ["report", "--since", "2d", "--out", stack.directory.path + "/read-only.html"],
                          ["audit", "drain", "--once", "--group", "read-only", "--to", "file:" + drained]] {
            let result = try runCommand(stack.binary, arguments + ["--config", path])
            XCTAssertEqual(result.status, 0, "\(arguments): \(result.output)")
            XCTAssertFalse(result.output.contains("SLUICE_UNSET_PROVIDER_KEY"), "\(arguments): \(result.output)")
        }
        // Or no config at all: --redis URL (or ${env:NAME}, keeping a password out of ps).
        let url = "redis://127.0.0.1:\(stack.redisPort)/0"
        for arguments in [["keys", "list", "--redis", url], ["audit", "verify", "--redis", url],
                          ["audit", "tail", "--redis", "${env:SLUICE_TEST_REDIS_URL}", "--from", "-1h", "--count", "1", "--json"]] {
            let result = try runCommand(stack.binary, arguments + ["--config", "/nonexistent.yaml"],
                                        environment: ["SLUICE_TEST_REDIS_URL": url])
            XCTAssertEqual(result.status, 0, "\(arguments): \(result.output)")
        }
        // usage, budgets, endpoints, report and drain too, their names from Redis.
        func redisOnly(_ arguments: [String]) throws -> String {
            let result = try runCommand(stack.binary, arguments + ["--redis", url, "--config", "/nonexistent.yaml"])
            XCTAssertEqual(result.status, 0, "\(arguments): \(result.output)")
            return result.output
        }
        func objects(_ text: String) -> [[String: Any]] {
            text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        let usage = objects(try redisOnly(["usage", "--json", "--since", "2d"]))
        XCTAssertGreaterThan(usage.first { $0["route"] as? String == "chat" }?["requests"] as? Int ?? 0, 0, "\(usage)")
        XCTAssertEqual(objects(try redisOnly(["usage", "--json", "--since", "2d"])).count,
                       objects(try runCommand(stack.binary, ["usage", "--json", "--since", "2d", "--config", path]).output).count)
        _ = try redisOnly(["usage", "budgets", "--json"])
        let endpoints = objects(try redisOnly(["endpoints", "--json"]))
        let mock = try XCTUnwrap(endpoints.first { $0["endpoint"] as? String == "mock/mock-gpt" }, "\(endpoints)")
        XCTAssertEqual(mock["route"] as? String, "-")
        XCTAssertEqual(mock["provider"] as? String, "mock")
        XCTAssertEqual(mock["model"] as? String, "mock-gpt")
        XCTAssertTrue(try redisOnly(["endpoints"]).contains("mock/mock-gpt"))
        let spend = try XCTUnwrap(objects(try redisOnly(["report", "--since", "2d", "--json"])).first)
        let routeTotals = (spend["routes"] as? [String: Any])?["totals"] as? [[String: Any]] ?? []
        XCTAssertEqual(routeTotals.first { $0["group"] as? String == "chat" }?["requests"] as? Int,
                       usage.first { $0["route"] as? String == "chat" }?["requests"] as? Int, "\(spend)")
        let attempts = (spend["endpoint_attempts"] as? [String: Any])?["totals"] as? [[String: Any]] ?? []
        XCTAssertGreaterThan(attempts.first { $0["group"] as? String == "chat mock/mock-gpt" }?["requests"] as? Int ?? 0, 0,
                             "\(attempts)")
        XCTAssertTrue(try redisOnly(["report", "--since", "2d", "--out", "-"]).contains("<svg"))
        let summary = try XCTUnwrap(objects(try redisOnly(["audit", "drain", "--once", "--json", "--group", "read-only-url",
                                                          "--to", "file:" + drained + "-url"])).first)
        XCTAssertGreaterThan(summary["stored"] as? Int ?? 0, 0, "\(summary)")
        var lines = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: drained + "-url") where file.hasSuffix(".ndjson") {
            lines += try String(contentsOfFile: drained + "-url/" + file, encoding: .utf8).split(separator: "\n").count
        }
        XCTAssertEqual(lines, summary["stored"] as? Int, "the summary counts what the files got: \(summary)")
        XCTAssertEqual(Set(summary.keys), ["read", "claimed", "stored", "already_stored", "dead_lettered", "deferred", "trimmed"])
        let verified = try runCommand(stack.binary, ["audit", "verify", "--redis", url, "--json"])
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(verified.output.utf8)) as? [String: Any], verified.output)
        XCTAssertEqual(report["intact"] as? Bool, true, verified.output)
        XCTAssertGreaterThan(report["checked"] as? Int ?? 0, 0)
        let tailed = try runCommand(stack.binary, ["audit", "tail", "--redis", url, "--from", "-1h", "--count", "1", "--json"])
        XCTAssertNotNil(try? JSONSerialization.jsonObject(with: Data(tailed.output.utf8)), tailed.output)
        let check = try runCommand(stack.binary, ["check", "--config", path])
        XCTAssertNotEqual(check.status, 0)
        XCTAssertTrue(check.output.contains("SLUICE_UNSET_PROVIDER_KEY"), check.output)
    }

    func testUsageByTagMatchesTheAuditRecords() throws {
        let stack = try gateway()
        let key = try self.key
        for (index, team) in ["alpha", "beta", "alpha", "alpha", "beta"].enumerated() {
            let response = stack.client.post("/v1/chat/completions", key: key,
                                             #"{"model":"chat","messages":[{"role":"user","content":"\#(String(repeating: "word ", count: index + 1))"}]}"#,
                                             extraHeaders: [("X-Sluice-Tags", "usage_team=\(team)")])
            XCTAssertEqual(response.status, 200)
            _ = try waitForRecord(response)
        }
        var expected: [String: (requests: Int, tokens: Int)] = [:]
        for record in try records() {
            guard let team = (record["tags"] as? [String: String])?["usage_team"] else { continue }
            let tokens = (record["prompt_tokens"] as? Int ?? 0) + (record["completion_tokens"] as? Int ?? 0)
            expected[team, default: (0, 0)].requests += 1
            expected[team, default: (0, 0)].tokens += tokens
        }
        let result = try stack.sluice(["usage", "--config", stack.configPath, "--by", "tag:usage_team", "--since", "2d", "--json"])
        XCTAssertEqual(result.status, 0, result.output)
        var reported: [String: (requests: Int, tokens: Int)] = [:]
        for line in result.output.split(separator: "\n") {
            guard let row = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let team = row["tag:usage_team"] as? String else { continue }
            reported[team] = (row["requests"] as? Int ?? 0, row["total_tokens"] as? Int ?? 0)
        }
        XCTAssertEqual(expected.count, 2)
        for (team, totals) in expected {
            XCTAssertEqual(reported[team]?.requests, totals.requests, team)
            XCTAssertEqual(reported[team]?.tokens, totals.tokens, team)
        }
        XCTAssertEqual(reported["alpha"]?.requests, 3)
    }

    func testMetricsCoverTheWholePool() throws {
        let stack = try gateway()
        let key = try self.key
        let before = try metricValue(#"sluice_requests_total{route="embeddings",endpoint="mock-openai/mock-embed",status="200"}"#)
        for _ in 0..<6 {
            XCTAssertEqual(stack.client.post("/v1/embeddings", key: key, #"{"model":"embeddings","input":"x"}"#).status, 200)
        }
        try waitUntil("the six calls are counted", timeout: .seconds(5)) {
            (try? self.metricValue(#"sluice_requests_total{route="embeddings",endpoint="mock-openai/mock-embed",status="200"}"#))
                == before + 6
        }
        let page = stack.client.send(.get, "/metrics")
        XCTAssertEqual(page.status, 200)
        XCTAssertEqual(page.header("content-type")?.hasPrefix("text/plain"), true)
        let text = page.text
        for needle in ["# TYPE sluice_request_duration_seconds histogram", "sluice_responder_threads{state=\"idle\"}",
                       "sluice_endpoint_up{route=\"chat\"", "sluice_audit_stream_entries ", "sluice_responder_processes 2"] {
            XCTAssertTrue(text.contains(needle), "missing \(needle) in\n\(text)")
        }
        let count = try metricValue(#"sluice_request_duration_seconds_count{route="embeddings"}"#)
        XCTAssertEqual(try metricValue(#"sluice_request_duration_seconds_bucket{route="embeddings",le="+Inf"}"#), count,
                       "buckets are cumulative up to the count")
        XCTAssertFalse(text.contains(key) || text.contains(stack.mockKey))
        XCTAssertFalse(stack.client.post("/metrics", key: nil, "").status == 200, "GET only")
    }

    // MARK: Helpers

    private func metricValue(_ series: String) throws -> Double {
        let text = try gateway().client.send(.get, "/metrics").text
        let line = text.split(separator: "\n").first { $0.hasPrefix(series + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    private func redis() throws -> RedisConnection {
        let stack = try gateway()
        return RedisConnection(config: RedisConfig(url: RedisURL(address: .tcp(host: "127.0.0.1", port: stack.redisPort)),
                                                   timeout: .seconds(3)))
    }

    /// Every record in the stream, oldest first.
    private func records() throws -> [[String: Any]] {
        guard case .array(let entries) = try redis().checked(["XRANGE", "sluice:audit", "-", "+"]) else { return [] }
        return entries.compactMap { entry -> [String: Any]? in
            guard case .array(let parts) = entry, parts.count == 2, let text = parts[1].fieldMap["record"] else { return nil }
            return try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        }
    }

    private func requestIdCounts() throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for record in try records() {
            if let id = record["request_id"] as? String { counts[id, default: 0] += 1 }
        }
        return counts
    }

    /// The record of the call that got `response` (it is written just after the response).
    private func waitForRecord(_ response: TestResponse) throws -> [String: Any] {
        let id = try XCTUnwrap(response.header("x-sluice-request-id"), "every response names its request id")
        var found: [String: Any]?
        try waitUntil("the audit record of \(id)", timeout: .seconds(5)) {
            found = (try? self.records())?.last { $0["request_id"] as? String == id }
            return found != nil
        }
        XCTAssertEqual(try requestIdCounts()[id], 1, "one record per call")
        return try XCTUnwrap(found)
    }
}
