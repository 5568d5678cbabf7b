import Foundation
import SluiceCore
import SluiceHTTP
import SluiceMockProvider
import XCTest

/// `HTTPClient` (libcurl) against a real `MockProviderServer` on loopback. Faults are
/// chosen with the mock's model suffix (`m@delay=300ms`, `@interval=…`, `@drop=N`,
/// `@status=N`).
final class HTTPClientTests: XCTestCase {
    /// One mock for the whole class (it cannot be stopped); stats are reset per test.
    nonisolated(unsafe) private static var mock: MockProviderServer?

    override class func setUp() {
        super.setUp()
        CurlGlobal.initialize()
    }

    override func setUpWithError() throws {
        if Self.mock == nil {
            let server = try MockProviderServer(options: MockProviderOptions())
            server.start()
            Self.mock = server
        }
        let reset = RecordingHandler()
        XCTAssertEqual(HTTPClient().perform(request("/_mock/reset", body: []), handler: reset), .completed(status: 200))
    }

    private var port: Int { Self.mock?.port ?? 0 }

    // MARK: Completed transfers

    func testCompleted200DeliversStatusHeadersAndBody() throws {
        let client = HTTPClient()
        let handler = RecordingHandler()
        let body = #"{"model":"gpt-test","messages":[{"role":"user","content":"hello wire"}]}"#
        let outcome = client.perform(request("/v1/chat/completions", json: body,
                                             headers: [("Authorization", "Bearer upstream-key"), ("X-Extra", "a b c")]),
                                     handler: handler)
        XCTAssertEqual(outcome, .completed(status: 200))
        XCTAssertEqual(handler.heads.count, 1, "the head is delivered exactly once")
        XCTAssertEqual(handler.heads.first?.status, 200)
        XCTAssertEqual(handler.header("content-type"), "application/json")
        XCTAssertTrue(handler.header("x-request-id")?.hasPrefix("req_mock_") ?? false, "\(handler.heads)")
        XCTAssertTrue(handler.heads.first?.headers.allSatisfy { $0.name == $0.name.lowercased() } ?? false,
                      "header names are lower-cased")
        XCTAssertEqual(handler.header("content-length"), String(handler.body.count))
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(handler.body)) as? [String: Any])
        let message = ((object["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
        XCTAssertEqual(message, "Echo: hello wire")

        // What went over the wire: our headers and exactly our body bytes.
        let last = try XCTUnwrap(stats()["last_request"] as? [String: Any])
        let sent = try XCTUnwrap(last["headers"] as? [String: String])
        XCTAssertEqual(sent["authorization"], "Bearer upstream-key")
        XCTAssertEqual(sent["x-extra"], "a b c")
        XCTAssertEqual(sent["content-type"], "application/json")
        XCTAssertNil(sent["expect"], "no 100-continue round trip")
        XCTAssertEqual(last["body"] as? String, body)
        XCTAssertEqual(last["method"] as? String, "POST")
    }

    func testStreamDeliversEveryEventAndCompletes() throws {
        let handler = RecordingHandler()
        let outcome = HTTPClient().perform(request("/v1/chat/completions", json: chat(model: "m", stream: true)),
                                           handler: handler)
        XCTAssertEqual(outcome, .completed(status: 200))
        XCTAssertTrue(handler.header("content-type")?.hasPrefix("text/event-stream") ?? false)
        XCTAssertTrue(handler.text.hasSuffix("data: [DONE]\n\n"), handler.text)
        // The mock counts a stream once it has written the last byte, which can be just
        // after the client read it.
        var completed = 0
        for _ in 0..<40 where completed != 1 {
            completed = try stats()["streams_completed"] as? Int ?? 0
            if completed != 1 { usleep(25_000) }
        }
        XCTAssertEqual(completed, 1)
    }

    func testGetRequest() throws {
        let handler = RecordingHandler()
        let outcome = HTTPClient().perform(request("/v1/models", method: .get, body: []), handler: handler)
        XCTAssertEqual(outcome, .completed(status: 200))
        XCTAssertTrue(handler.text.contains("\"mock-model\""), handler.text)
        XCTAssertEqual((try stats()["last_request"] as? [String: Any])?["method"] as? String, "GET")
    }

    func testNon2xxStatusIsACompletedTransfer() throws {
        for status in [400, 429, 500, 503] {
            let handler = RecordingHandler()
            let outcome = HTTPClient().perform(
                request("/v1/chat/completions", json: chat(model: "m@status=\(status),retry_after=3")), handler: handler)
            XCTAssertEqual(outcome, .completed(status: status))
            XCTAssertEqual(handler.heads.first?.status, status)
            XCTAssertEqual(handler.header("retry-after"), "3")
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(handler.body)) as? [String: Any], handler.text)
            XCTAssertNotNil(object["error"] as? [String: Any], handler.text)
        }
    }

    func testKeepAliveClientServesSequentialCalls() throws {
        let client = HTTPClient()
        for index in 0..<3 {
            let handler = RecordingHandler()
            XCTAssertEqual(client.perform(request("/v1/chat/completions", json: chat(model: "m", content: "call \(index)")),
                                          handler: handler),
                           .completed(status: 200), "call \(index)")
            XCTAssertTrue(handler.text.contains("Echo: call \(index)"), handler.text)
        }
        let streamed = RecordingHandler()
        XCTAssertEqual(client.perform(request("/v1/chat/completions", json: chat(model: "m", stream: true)), handler: streamed),
                       .completed(status: 200))
        XCTAssertTrue(streamed.text.hasSuffix("data: [DONE]\n\n"))
        let embedded = RecordingHandler()
        XCTAssertEqual(client.perform(request("/v1/embeddings", json: #"{"model":"e","input":"x"}"#), handler: embedded),
                       .completed(status: 200))
        XCTAssertEqual(try stats()["requests"] as? Int, 5)
    }

    // MARK: AWS Signature Version 4

    /// A request carrying `awsSigV4` arrives signed for Bedrock (`…/{region}/bedrock/aws4_request`),
    /// the signature verifies against what the server received (path with `%3A` included),
    /// and the next, unsigned call on the same handle carries no trace of it.
    func testSigV4SignedRequestVerifiesAndLeavesNothingOnTheHandle() throws {
        let client = HTTPClient()
        let body = #"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#
        var signed = request("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", json: body)
        signed.awsSigV4 = AWSSigV4(region: "us-west-2", service: "bedrock", accessKeyID: "AKIDTEST",
                                   secretAccessKey: "test/secret+key", sessionToken: "session-token-1")
        guard case .completed = client.perform(signed, handler: RecordingHandler()) else {
            return XCTFail("the signed request did not complete")
        }
        let last = try XCTUnwrap(stats()["last_request"] as? [String: Any])
        let sent = try XCTUnwrap(last["headers"] as? [String: String])
        let authorization = try XCTUnwrap(sent["authorization"])
        let today = String(SigV4.amzDate(Int(Date().timeIntervalSince1970)).prefix(8))
        XCTAssertTrue(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDTEST/\(today)/us-west-2/bedrock/aws4_request, "
                                              + "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="),
                      authorization)
        XCTAssertEqual(sent["x-amz-date"]?.count, 16)
        XCTAssertEqual(sent["x-amz-security-token"], "session-token-1")
        XCTAssertEqual(sent["host"], "127.0.0.1:\(port)")
        XCTAssertEqual(last["path"] as? String, "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse")
        let verified = SigV4.verify(method: try XCTUnwrap(last["method"] as? String), rawPath: try XCTUnwrap(last["path"] as? String),
                                    headers: sent.map { ($0.key, $0.value) }, body: Array(try XCTUnwrap(last["body"] as? String).utf8),
                                    region: "us-west-2", service: "bedrock", now: Int(Date().timeIntervalSince1970)) {
            $0 == "AKIDTEST" ? "test/secret+key" : nil
        }
        XCTAssertEqual(try verified.get().accessKeyID, "AKIDTEST")
        let wrongSecret = SigV4.verify(method: "POST", rawPath: try XCTUnwrap(last["path"] as? String),
                                       headers: sent.map { ($0.key, $0.value) }, body: Array(body.utf8)) { _ in "other" }
        XCTAssertEqual(wrongSecret, .failure(.signatureMismatch))

        XCTAssertEqual(client.perform(request("/v1/chat/completions", json: chat(model: "m")), handler: RecordingHandler()),
                       .completed(status: 200))
        let next = try XCTUnwrap((stats()["last_request"] as? [String: Any])?["headers"] as? [String: String])
        XCTAssertNil(next["authorization"])
        XCTAssertNil(next["x-amz-date"])
        XCTAssertNil(next["x-amz-security-token"])
    }

    // MARK: Failures

    func testConnectionRefused() throws {
        let port = try freeLoopbackPort()
        let handler = RecordingHandler()
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = HTTPClient().perform(request("/v1/models", port: port, method: .get, body: []), handler: handler)
        guard case .failed(.connect(let detail), receivedHead: false) = outcome else {
            return XCTFail("expected a connect failure, got \(outcome)")
        }
        XCTAssertFalse(detail.isEmpty)
        XCTAssertTrue(handler.heads.isEmpty)
        XCTAssertLessThan(clock.now - start, .seconds(1))
    }

    func testFirstByteTimeout() throws {
        let handler = RecordingHandler()
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = HTTPClient().perform(
            request("/v1/chat/completions", json: chat(model: "m@delay=5s"),
                    limits: timeLimits(firstByte: .milliseconds(500))),
            handler: handler)
        let elapsed = clock.now - start
        XCTAssertEqual(outcome, .failed(.timeout(.firstByte), receivedHead: false))
        XCTAssertTrue(handler.heads.isEmpty)
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(500))
        XCTAssertLessThan(elapsed, .milliseconds(2500), "enforced within about a second of the limit")
    }

    func testIdleTimeoutBetweenStreamEvents() throws {
        let handler = RecordingHandler()
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = HTTPClient().perform(
            request("/v1/chat/completions", json: chat(model: "m@interval=4s", stream: true),
                    limits: timeLimits(idle: .milliseconds(500))),
            handler: handler)
        let elapsed = clock.now - start
        XCTAssertEqual(outcome, .failed(.timeout(.idle), receivedHead: true))
        XCTAssertEqual(handler.heads.first?.status, 200)
        XCTAssertTrue(handler.text.hasPrefix("data: {"), "the first event arrived before the silence")
        XCTAssertFalse(handler.text.contains("[DONE]"))
        XCTAssertLessThan(elapsed, .milliseconds(2500), "not after the 4 s interval")
    }

    func testTotalTimeout() throws {
        let handler = RecordingHandler()
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = HTTPClient().perform(
            request("/v1/chat/completions", json: chat(model: "m@interval=200ms,words=50", stream: true),
                    limits: timeLimits(total: .milliseconds(1200))),
            handler: handler)
        let elapsed = clock.now - start
        XCTAssertEqual(outcome, .failed(.timeout(.total), receivedHead: true))
        XCTAssertGreaterThan(handler.body.count, 0)
        XCTAssertFalse(handler.text.contains("[DONE]"))
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(1100))
        XCTAssertLessThan(elapsed, .milliseconds(2500))
    }

    func testShouldContinueFalseAbortsWithinASecond() throws {
        let handler = RecordingHandler()
        handler.stopWhen = { $0.text.contains("Echo") }
        let outcome = HTTPClient().perform(
            request("/v1/chat/completions", json: chat(model: "m@interval=200ms,words=100", stream: true)),
            handler: handler)
        XCTAssertEqual(outcome, .failed(.aborted, receivedHead: true))
        let decided = try XCTUnwrap(handler.stoppedAt, "shouldContinue was asked while data flowed")
        XCTAssertLessThan(ContinuousClock.now - decided, .seconds(1), "aborted within a second of the decision")
        XCTAssertFalse(handler.text.contains("[DONE]"))
        try waitForStats { $0["streams_aborted"] as? Int == 1 }
        XCTAssertEqual(try stats()["streams_completed"] as? Int, 0)
    }

    func testShouldContinueFalseAbortsWhileWaitingForHeaders() throws {
        let handler = RecordingHandler()
        let clock = ContinuousClock()
        let start = clock.now
        handler.stopWhen = { _ in clock.now - start > .milliseconds(300) }
        let outcome = HTTPClient().perform(request("/v1/chat/completions", json: chat(model: "m@delay=5s")),
                                           handler: handler)
        XCTAssertEqual(outcome, .failed(.aborted, receivedHead: false))
        XCTAssertLessThan(clock.now - start, .milliseconds(2000))
        try waitForStats { $0["responses_abandoned"] as? Int == 1 }
    }

    func testHandlerRefusingBodyOrHeadAborts() throws {
        let refusesBody = RecordingHandler()
        refusesBody.acceptBody = false
        XCTAssertEqual(HTTPClient().perform(request("/v1/chat/completions", json: chat(model: "m")), handler: refusesBody),
                       .failed(.aborted, receivedHead: true))

        let refusesHead = RecordingHandler()
        refusesHead.acceptHead = false
        XCTAssertEqual(HTTPClient().perform(request("/v1/chat/completions", json: chat(model: "m")), handler: refusesHead),
                       .failed(.aborted, receivedHead: true))
        XCTAssertTrue(refusesHead.body.isEmpty, "no body after the head was refused")
    }

    func testDroppedStreamIsAFailureNotACompletion() throws {
        let client = HTTPClient()
        let handler = RecordingHandler()
        let outcome = client.perform(
            request("/v1/chat/completions", json: chat(model: "m@drop=3,words=10", stream: true)), handler: handler)
        // The mock closes the connection without the last chunk of the chunked body:
        // curl reports a transport error after the head, never `.completed`.
        guard case .failed(.transport(let detail), receivedHead: true) = outcome else {
            return XCTFail("expected a transport failure after the head, got \(outcome)")
        }
        XCTAssertFalse(detail.isEmpty)
        XCTAssertEqual(handler.heads.first?.status, 200)
        XCTAssertTrue(handler.text.contains("Echo"), "the events before the drop were delivered")
        XCTAssertFalse(handler.text.contains("[DONE]"))
        try waitForStats { $0["streams_dropped"] as? Int == 1 }

        // The same client recovers on a new connection.
        let next = RecordingHandler()
        XCTAssertEqual(client.perform(request("/v1/chat/completions", json: chat(model: "m")), handler: next),
                       .completed(status: 200))
    }

    func testDroppedJSONBodyIsAFailure() throws {
        let handler = RecordingHandler()
        let outcome = HTTPClient().perform(request("/v1/chat/completions", json: chat(model: "m@drop=1")), handler: handler)
        guard case .failed(.transport, receivedHead: true) = outcome else {
            return XCTFail("a body shorter than its content-length must not complete: \(outcome)")
        }
    }

    func testClientIsReusableAfterAbortAndTimeout() throws {
        let client = HTTPClient()
        let aborting = RecordingHandler()
        aborting.stopWhen = { !$0.body.isEmpty }
        XCTAssertEqual(client.perform(request("/v1/chat/completions",
                                              json: chat(model: "m@interval=200ms,words=20", stream: true)),
                                      handler: aborting),
                       .failed(.aborted, receivedHead: true))
        XCTAssertEqual(client.perform(request("/v1/chat/completions", json: chat(model: "m@delay=3s"),
                                              limits: timeLimits(firstByte: .milliseconds(300))),
                                      handler: RecordingHandler()),
                       .failed(.timeout(.firstByte), receivedHead: false))
        let fine = RecordingHandler()
        XCTAssertEqual(client.perform(request("/v1/chat/completions", json: chat(model: "m", content: "after")),
                                      handler: fine),
                       .completed(status: 200))
        XCTAssertTrue(fine.text.contains("Echo: after"))
        XCTAssertEqual(fine.heads.count, 1)
    }

    // MARK: Helpers

    private func request(_ path: String, port: Int? = nil, method: UpstreamRequest.Method = .post, json: String,
                         headers: [(name: String, value: String)] = [], limits: TransferLimits = timeLimits()) -> UpstreamRequest {
        request(path, port: port, method: method, body: Array(json.utf8),
                headers: [("Content-Type", "application/json")] + headers, limits: limits)
    }

    private func request(_ path: String, port: Int? = nil, method: UpstreamRequest.Method = .post, body: [UInt8],
                         headers: [(name: String, value: String)] = [], limits: TransferLimits = timeLimits()) -> UpstreamRequest {
        UpstreamRequest(method: method, url: "http://127.0.0.1:\(port ?? self.port)\(path)", headers: headers, body: body,
                        limits: limits)
    }

    /// `GET /_mock/stats`, through a separate client.
    private func stats(file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let handler = RecordingHandler()
        let outcome = HTTPClient().perform(request("/_mock/stats", method: .get, body: []), handler: handler)
        XCTAssertEqual(outcome, .completed(status: 200), file: file, line: line)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(handler.body)) as? [String: Any], file: file, line: line)
    }

    /// Polls the stats until `condition` holds (the mock counts a stream's end on its own thread).
    private func waitForStats(timeout: Duration = .seconds(5), file: StaticString = #filePath, line: UInt = #line,
                              _ condition: ([String: Any]) -> Bool) throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var last: [String: Any] = [:]
        while clock.now < deadline {
            last = try stats(file: file, line: line)
            if condition(last) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTFail("stats never matched: \(last)", file: file, line: line)
    }
}

// MARK: - A recording handler

/// Records what `HTTPClient` delivers; can refuse the head or body, or stop when told.
private final class RecordingHandler: UpstreamResponseHandler {
    var heads: [(status: Int, headers: [(name: String, value: String)])] = []
    var body: [UInt8] = []
    var acceptHead = true
    var acceptBody = true
    /// Asked from `shouldContinue`; once it says yes, every later call answers `false`.
    var stopWhen: ((RecordingHandler) -> Bool)?
    private(set) var stoppedAt: ContinuousClock.Instant?
    private(set) var continueCalls = 0

    var text: String { String(decoding: body, as: UTF8.self) }

    func header(_ name: String) -> String? {
        heads.first?.headers.first { $0.name == name }?.value
    }

    func didReceiveHead(status: Int, headers: [(name: String, value: String)]) -> Bool {
        heads.append((status, headers))
        return acceptHead
    }

    func didReceive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        body.append(contentsOf: bytes)
        return acceptBody
    }

    func shouldContinue() -> Bool {
        continueCalls += 1
        if stoppedAt != nil { return false }
        if let stopWhen, stopWhen(self) {
            stoppedAt = .now
            return false
        }
        return true
    }
}

private func timeLimits(connect: Duration = .seconds(2), firstByte: Duration = .seconds(10), idle: Duration = .seconds(10),
                    total: Duration = .seconds(20)) -> TransferLimits {
    TransferLimits(connect: connect, firstByte: firstByte, idle: idle, total: total)
}

private func chat(model: String, stream: Bool = false, content: String = "x") -> String {
    #"{"model":"\#(model)","stream":\#(stream),"messages":[{"role":"user","content":"\#(content)"}]}"#
}
