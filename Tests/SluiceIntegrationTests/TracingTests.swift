import Foundation
import XCTest

/// OpenTelemetry: each call is a server span following the GenAI semantic conventions with
/// a client span per upstream attempt, exported with OTLP/HTTP protobuf to a receiver that
/// decodes it with opentelemetry-proto's own classes (`scripts/otlp-receiver.py`); the
/// client's W3C `traceparent` continues the trace, and the provider gets the attempt's.
final class TracingTests: XCTestCase {
    private var stack: GatewayStack!
    private var receiver: ManagedProcess!
    private var spansFile = ""
    private var stallFile = ""
    private var key = ""

    override func setUpWithError() throws {
        guard runCommandQuietly("python3", ["-c", "import opentelemetry.proto.collector.trace.v1.trace_service_pb2"]) else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("CI must pip install opentelemetry-proto") }
            throw XCTSkip("Python's opentelemetry-proto is not installed (pip install opentelemetry-proto)")
        }
        let port = freeLoopbackPort()
        // The stalled-collector test: a queue a few calls fill, and a short export timeout.
        let pressure = name.contains("Stalled") ? "\n  max_queue: 16\n  timeout: 1s" : ""
        stack = try GatewayStack(config: { stack in
            GatewayStack.mockConfig(stack, workers: 1, threads: 4, """
            telemetry:
              otlp_endpoint: "http://127.0.0.1:\(port)/v1/traces"
              headers: { x-collector-key: "${env:SLUICE_TEST_MOCK_KEY}" }
              service_name: sluice-test
              interval: 100ms\(pressure)
            routes:
              chat: { type: chat, endpoints: [ { provider: mock, model: mock-gpt } ] }
              claude: { type: chat, endpoints: [ { provider: mock-anthropic, model: claude-mock } ] }
              fallback:
                type: chat
                endpoints:
                  - { name: failing, provider: mock, model: "mock-gpt@status=503" }
                  - { name: backup, provider: mock, model: mock-gpt, fallback_only: true }
            principals:
              "*": {}
            """)
        })
        spansFile = stack.directory.appendingPathComponent("spans.jsonl").path
        stallFile = stack.directory.appendingPathComponent("stall").path
        receiver = try ManagedProcess(name: "otlp", executable: "/usr/bin/env",
                                      arguments: ["python3", GatewayStack.repository.path + "/scripts/otlp-receiver.py",
                                                  "--port", "\(port)", "--out", spansFile, "--stall-file", stallFile],
                                      logDirectory: stack.directory)
        try waitUntil("the receiver listens", timeout: .seconds(10)) { receiver.log.contains("listening") }
        key = try stack.createKey(name: "tracing")
    }

    override func tearDown() {
        receiver?.stop()
        stack?.stop()
        super.tearDown()
    }

    private func spans(trace: String, count: Int) throws -> [[String: Any]] {
        let traceBase64 = Data(hex: trace).base64EncodedString()
        var found: [[String: Any]] = []
        try waitUntil("\(count) spans of trace \(trace)", timeout: .seconds(10)) {
            let text = (try? String(contentsOfFile: spansFile, encoding: .utf8)) ?? ""
            found = text.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }.filter { $0["traceId"] as? String == traceBase64 }
            return found.count >= count
        }
        return found
    }

    func testAClientTraceIsContinuedThroughTheGatewayToTheProvider() throws {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736", parent = "00f067aa0ba902b7"
        let response = stack.client.post("/v1/chat/completions", key: key,
                                          #"{"model":"chat","messages":[{"role":"user","content":"trace me"}]}"#,
                                          extraHeaders: [("traceparent", "00-\(trace)-\(parent)-01"), ("tracestate", "acme=7")])
        XCTAssertEqual(response.status, 200, response.text)
        // The provider got the same trace, with the attempt's span as parent.
        let headers = try XCTUnwrap((stack.mockStats()["last_request"] as? [String: Any])?["headers"] as? [String: String])
        let upstream = try XCTUnwrap(headers["traceparent"]).split(separator: "-").map(String.init)
        XCTAssertEqual(upstream.count, 4)
        XCTAssertEqual(upstream[1], trace)
        XCTAssertNotEqual(upstream[2], parent, "the provider's parent is the gateway's attempt span")
        XCTAssertEqual(upstream[3], "01")
        XCTAssertEqual(headers["tracestate"], "acme=7")

        let spans = try spans(trace: trace, count: 2)
        XCTAssertEqual(spans.count, 2)
        let server = try XCTUnwrap(spans.first { $0["kind"] as? String == "SPAN_KIND_SERVER" })
        let client = try XCTUnwrap(spans.first { $0["kind"] as? String == "SPAN_KIND_CLIENT" })
        XCTAssertEqual(server["parentSpanId"] as? String, Data(hex: parent).base64EncodedString(), "the client's span is the parent")
        XCTAssertEqual(client["parentSpanId"] as? String, server["spanId"] as? String)
        XCTAssertEqual(client["spanId"] as? String, Data(hex: upstream[2]).base64EncodedString(),
                       "the span the provider was told is the attempt span")
        XCTAssertEqual(server["traceState"] as? String, "acme=7")
        XCTAssertEqual(server["name"] as? String, "chat chat")
        let attributes = Self.attributes(server)
        XCTAssertEqual(attributes["gen_ai.operation.name"] as? String, "chat")
        XCTAssertEqual(attributes["gen_ai.system"] as? String, "openai")
        XCTAssertEqual(attributes["gen_ai.request.model"] as? String, "mock-gpt")
        XCTAssertEqual(attributes["gen_ai.response.model"] as? String, "mock-gpt")
        XCTAssertEqual(attributes["gen_ai.response.finish_reasons"] as? [String], ["stop"])
        XCTAssertEqual(attributes["sluice.route"] as? String, "chat")
        XCTAssertEqual(attributes["sluice.endpoint"] as? String, "mock/mock-gpt", "the endpoint that answered")
        XCTAssertEqual(attributes["http.response.status_code"] as? String, "200", "int64 as a JSON string")
        // Token counts as the audit record has them.
        let record = try stack.auditRecord(of: response)
        XCTAssertEqual(attributes["gen_ai.usage.input_tokens"] as? String, "\(record["prompt_tokens"] as? Int ?? -1)")
        XCTAssertEqual(attributes["gen_ai.usage.output_tokens"] as? String, "\(record["completion_tokens"] as? Int ?? -1)")
        XCTAssertEqual(attributes["sluice.request_id"] as? String, response.header("x-sluice-request-id"))
        // Times: the attempt within the call.
        let start = UInt64(server["startTimeUnixNano"] as? String ?? "") ?? 0, end = UInt64(server["endTimeUnixNano"] as? String ?? "") ?? 0
        let childStart = UInt64(client["startTimeUnixNano"] as? String ?? "") ?? 0
        let childEnd = UInt64(client["endTimeUnixNano"] as? String ?? "") ?? 0
        XCTAssertTrue(start > 1_700_000_000_000_000_000 && start <= childStart && childStart <= childEnd && childEnd <= end,
                      "\(start) \(childStart) \(childEnd) \(end)")
        // The resource and the collector's header; the header's value is a secret kept out of the audit record.
        XCTAssertTrue("\(server["resource"] ?? "")".contains("sluice-test"))
        XCTAssertEqual((server["headers"] as? [String: String])?["x-collector-key"], stack.mockKey)
    }

    func testStreamsFallbacksAndAnthropicAnswersAreSpansToo() throws {
        // No traceparent: a new trace, which the provider also gets.
        let stream = stack.client.post("/v1/chat/completions", key: key,
                                        #"{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(stream.status, 200)
        let headers = try XCTUnwrap((stack.mockStats()["last_request"] as? [String: Any])?["headers"] as? [String: String])
        let trace = try XCTUnwrap(headers["traceparent"]?.split(separator: "-").dropFirst().first.map(String.init))
        let streamed = try spans(trace: trace, count: 2)
        let server = try XCTUnwrap(streamed.first { $0["kind"] as? String == "SPAN_KIND_SERVER" })
        XCTAssertNil(server["parentSpanId"])
        let attributes = Self.attributes(server)
        XCTAssertEqual(attributes["gen_ai.system"] as? String, "anthropic")
        XCTAssertEqual(attributes["sluice.stream"] as? Bool, true)
        XCTAssertEqual(attributes["gen_ai.response.finish_reasons"] as? [String], ["end_turn"], "Anthropic's stop_reason")
        XCTAssertEqual(attributes["gen_ai.response.model"] as? String, "claude-mock")

        // A fallback: two attempt spans, the first failed.
        let trace2 = "0af7651916cd43dd8448eb211c80319c"
        let fallback = stack.client.post("/v1/chat/completions", key: key,
                                          #"{"model":"fallback","messages":[{"role":"user","content":"hi"}]}"#,
                                          extraHeaders: [("traceparent", "00-\(trace2)-b7ad6b7169203331-01")])
        XCTAssertEqual(fallback.status, 200)
        let spans = try spans(trace: trace2, count: 3)
        let attempts = spans.filter { $0["kind"] as? String == "SPAN_KIND_CLIENT" }
            .sorted { ($0["startTimeUnixNano"] as? String ?? "") < ($1["startTimeUnixNano"] as? String ?? "") }
        XCTAssertEqual(attempts.map { Self.attributes($0)["sluice.endpoint"] as? String }, ["failing", "backup"])
        XCTAssertEqual((attempts.first?["status"] as? [String: Any])?["code"] as? String, "STATUS_CODE_ERROR")
        XCTAssertEqual(Self.attributes(attempts[0])["http.response.status_code"] as? String, "503")
        let fallbackServer = try XCTUnwrap(spans.first { $0["kind"] as? String == "SPAN_KIND_SERVER" })
        XCTAssertEqual(Self.attributes(fallbackServer)["sluice.endpoint"] as? String, "backup", "the endpoint that answered")

        // A client that does not sample: propagated, not exported.
        let trace3 = "11111111111111111111111111111111"
        XCTAssertEqual(stack.client.post("/v1/chat/completions", key: key,
                                         #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#,
                                         extraHeaders: [("traceparent", "00-\(trace3)-2222222222222222-00")]).status, 200)
        let unsampled = try XCTUnwrap((stack.mockStats()["last_request"] as? [String: Any])?["headers"] as? [String: String])
        XCTAssertEqual(unsampled["traceparent"]?.hasPrefix("00-\(trace3)-"), true)
        XCTAssertEqual(unsampled["traceparent"]?.hasSuffix("-00"), true)
        usleep(500_000)
        let text = (try? String(contentsOfFile: spansFile, encoding: .utf8)) ?? ""
        XCTAssertFalse(text.contains(Data(hex: trace3).base64EncodedString()), "an unsampled trace is not exported")
        // Counted in /metrics once the process adds its sums to Redis (once a second).
        try waitUntil("exported spans are counted", timeout: .seconds(5)) {
            stack.client.send(.get, "/metrics").text.contains(#"sluice_otel_spans_total{result="exported"}"#)
        }
    }

    func testWithTracingOffTheClientsTraceparentStillReachesTheProviderAndAFullQueueDropsSpans() throws {
        // Tracing off: the client's header passes unchanged (and an invalid one does not pass).
        let plain = try GatewayStack()
        defer { plain.stop() }
        let plainKey = try plain.createKey(name: "plain")
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        XCTAssertEqual(plain.client.post("/v1/chat/completions", key: plainKey,
                                         #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#,
                                         extraHeaders: [("traceparent", header), ("tracestate", "a=1")]).status, 200)
        var sent = try XCTUnwrap((plain.mockStats()["last_request"] as? [String: Any])?["headers"] as? [String: String])
        XCTAssertEqual(sent["traceparent"], header)
        XCTAssertEqual(sent["tracestate"], "a=1")
        XCTAssertEqual(plain.client.post("/v1/chat/completions", key: plainKey,
                                         #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#,
                                         extraHeaders: [("traceparent", "00-zz-00f067aa0ba902b7-01")]).status, 200)
        sent = try XCTUnwrap((plain.mockStats()["last_request"] as? [String: Any])?["headers"] as? [String: String])
        XCTAssertNil(sent["traceparent"])

        // A queue that cannot hold a call's spans: they are dropped and counted, the call is served.
        try stack.writeConfig(try String(contentsOfFile: stack.configPath, encoding: .utf8)
            .replacingOccurrences(of: "interval: 100ms", with: "interval: 100ms\n  max_queue: 1"))
        stack.reload()
        try waitUntil("the reloaded workers drop spans", timeout: .seconds(10)) {
            _ = stack.client.post("/v1/chat/completions", key: key, #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#)
            return stack.client.send(.get, "/metrics").text.contains(#"sluice_otel_spans_total{result="dropped"} "#)
        }
    }

    /// A collector that hangs (the receiver holds every POST unanswered) slows no call: the
    /// exporter's POSTs time out off the request path, the queue fills, and the spans that
    /// did not fit are counted as dropped, those of the hung POSTs as failed. Before, the
    /// spans of several calls travel in one POST.
    func testAStalledCollectorSlowsNoCallAndItsSpansAreCountedAsDroppedOrFailed() throws {
        let body = #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#
        func timedCalls(_ count: Int) -> [Double] {
            (0..<count).map { _ in
                let start = ContinuousClock.now
                XCTAssertEqual(stack.client.post("/v1/chat/completions", key: key, body).status, 200)
                let elapsed = ContinuousClock.now - start
                return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            }
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        func counted(_ result: String) -> Double {
            let text = stack.client.send(.get, "/metrics").text
            guard let line = text.split(separator: "\n").first(where: {
                $0.hasPrefix("sluice_otel_spans_total{result=\"\(result)\"} ")
            }) else { return 0 }
            return Double(line.split(separator: " ").last ?? "") ?? 0
        }

        // Batching: calls 10 ms apart, exported every 100 ms, share POSTs.
        let baseline = (0..<6).flatMap { _ in let latency = timedCalls(1); usleep(10_000); return latency }
        var perPost: [Int: Set<String>] = [:]
        try waitUntil("the six calls' spans arrive", timeout: .seconds(10)) {
            let text = (try? String(contentsOfFile: spansFile, encoding: .utf8)) ?? ""
            perPost = [:]
            for line in text.split(separator: "\n") {
                guard let span = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let post = span["post"] as? Int, let trace = span["traceId"] as? String else { continue }
                perPost[post, default: []].insert(trace)
            }
            return perPost.values.reduce(0) { $0 + $1.count } >= 6
        }
        XCTAssertGreaterThanOrEqual(perPost.values.map(\.count).max() ?? 0, 2, "a POST carries several calls' spans: \(perPost)")
        XCTAssertLessThan(perPost.count, 6, "fewer POSTs than calls")
        try waitUntil("the exported spans are counted", timeout: .seconds(5)) { counted("exported") >= 12 }
        let (droppedBefore, failedBefore) = (counted("dropped"), counted("failed"))
        XCTAssertEqual(droppedBefore + failedBefore, 0)

        // The collector hangs: each export waits its 1 s timeout; calls go on at their pace.
        FileManager.default.createFile(atPath: stallFile, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: stallFile) }
        let stalled = timedCalls(40)
        XCTAssertLessThan(median(stalled), median(baseline) + 0.05, "median latency: \(median(baseline)) s -> \(median(stalled)) s")
        XCTAssertLessThan(stalled.max() ?? 0, 0.5, "no call waits for the hung collector (timeout 1 s): \(stalled)")
        var (dropped, failed) = (0.0, 0.0)
        try waitUntil("dropped and failed spans are counted", timeout: .seconds(10)) {
            (dropped, failed) = (counted("dropped"), counted("failed"))
            return dropped > 0 && failed > 0
        }
        // 40 calls of 2 spans, a queue of 16: most are dropped.
        XCTAssertGreaterThanOrEqual(dropped, 40, "dropped \(dropped), failed \(failed)")
        XCTAssertLessThanOrEqual(dropped + failed, 80 + 12)

        // Once it answers again, spans are exported again.
        try FileManager.default.removeItem(atPath: stallFile)
        let exported = counted("exported")
        try waitUntil("spans are exported again", timeout: .seconds(15)) {
            _ = timedCalls(1)
            return counted("exported") > exported
        }
    }

    /// A span's attributes as key → value (string, bool, or an array of strings).
    static func attributes(_ span: [String: Any]) -> [String: Any] {
        var out: [String: Any] = [:]
        for item in span["attributes"] as? [[String: Any]] ?? [] {
            guard let key = item["key"] as? String, let value = item["value"] as? [String: Any] else { continue }
            if let text = value["stringValue"] { out[key] = text }
            if let number = value["intValue"] { out[key] = number }
            if let flag = value["boolValue"] { out[key] = flag }
            if let number = value["doubleValue"] { out[key] = number }
            if let array = (value["arrayValue"] as? [String: Any])?["values"] as? [[String: Any]] {
                out[key] = array.compactMap { $0["stringValue"] as? String }
            }
        }
        return out
    }
}

private func runCommandQuietly(_ executable: String, _ arguments: [String]) -> Bool {
    (try? runCommand("/usr/bin/env", [executable] + arguments))?.status == 0
}

extension Data {
    /// Bytes from lowercase hex text.
    init(hex: String) {
        var bytes: [UInt8] = []
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            bytes.append(UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) ?? 0)
        }
        self.init(bytes)
    }
}
