import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import SluiceMockProvider
import XCTest

/// The mock provider's error answers and faults (model suffix, headers, runtime faults per
/// model), driven on a real `MockProviderServer` like `MockProviderTests`.
final class MockProviderFaultTests: XCTestCase {
    // MARK: Errors and faults

    func testInjectedStatusFromModelSuffixAndHeader() async throws {
        let mock = try MockClient()
        let limited = try await mock.post("/v1/chat/completions", [
            "model": "m@status=429,retry_after=2", "messages": [["role": "user", "content": "x"]],
        ])
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(limited.header("retry-after"), "2")
        XCTAssertEqual(try limited.error()["code"] as? String, "rate_limit_exceeded")

        let overloaded = try await mock.post("/v1/embeddings", ["model": "e", "input": "x"],
                                             headers: ["x-mock-status": "503"])
        XCTAssertEqual(overloaded.status, 503)
        XCTAssertEqual(try overloaded.error()["type"] as? String, "server_error")

        let broken = try await mock.post("/v1/completions", ["model": "m@status=500", "prompt": "x"])
        XCTAssertEqual(broken.status, 500)
        XCTAssertEqual(try broken.error()["type"] as? String, "server_error")
    }

    func testQuotaFaultAnswersOpenAIsInsufficientQuotaError() async throws {
        let mock = try MockClient()
        let expected: [String: Any] = [
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota", "param": NSNull(), "code": "insufficient_quota",
        ]
        let fromSuffix = try await mock.post("/v1/chat/completions", [
            "model": "m@quota=1", "messages": [["role": "user", "content": "x"]],
        ])
        XCTAssertEqual(fromSuffix.status, 429)
        XCTAssertNil(fromSuffix.header("retry-after"), "out of quota is not a rate limit")
        XCTAssertEqual(try fromSuffix.object().keys.sorted(), ["error"])
        XCTAssertEqual(try fromSuffix.error() as NSDictionary, expected as NSDictionary)

        let fromHeader = try await mock.post("/v1/embeddings", ["model": "e", "input": "x"],
                                             headers: ["x-mock-quota": "1"])
        XCTAssertEqual(fromHeader.status, 429)
        XCTAssertEqual(try fromHeader.error() as NSDictionary, expected as NSDictionary)

        let withStatus = try await mock.post("/v1/completions", ["model": "m@quota=1,status=403,retry_after=7",
                                                                 "prompt": "x"])
        XCTAssertEqual(withStatus.status, 403)
        XCTAssertEqual(withStatus.header("retry-after"), "7")
        XCTAssertEqual(try withStatus.error()["code"] as? String, "insufficient_quota")

        let off = try await mock.post("/v1/completions", ["model": "m@quota=0", "prompt": "x"])
        XCTAssertEqual(off.status, 200)
        let bad = try await mock.post("/v1/completions", ["model": "m@quota=yes", "prompt": "x"])
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(try bad.error()["param"] as? String, "model")
    }

    func testAnthropicStyleOverloadedStatus529() async throws {
        let mock = try MockClient()
        let response = try await mock.post("/v1/chat/completions", [
            "model": "m@status=529", "messages": [["role": "user", "content": "x"]],
        ])
        XCTAssertEqual(response.status, 529)
        XCTAssertEqual(try response.error()["type"] as? String, "server_error")
        XCTAssertEqual(try response.error()["code"] as? String, "overloaded")
        XCTAssertNil(response.header("retry-after"))
    }

    func testRuntimeFaultAppliesPerModelUntilClearedOrReset() async throws {
        let mock = try MockClient()
        func chat(_ model: String, headers: [String: String] = [:]) async throws -> MockResponse {
            try await mock.post("/v1/chat/completions", [
                "model": model, "messages": [["role": "user", "content": "x"]],
            ], headers: headers)
        }
        func expect(_ model: String, _ status: Int, headers: [String: String] = [:], _ why: String = "",
                    line: UInt = #line) async throws {
            let response = try await chat(model, headers: headers)
            XCTAssertEqual(response.status, status, why, line: line)
        }
        let installed = try await mock.setFault(model: "gpt-x", "status=500,retry_after=2")
        XCTAssertEqual(installed.status, 200)
        XCTAssertEqual(try installed.object() as NSDictionary, ["ok": true] as NSDictionary)

        let failed = try await chat("gpt-x")
        XCTAssertEqual(failed.status, 500)
        XCTAssertEqual(failed.header("retry-after"), "2")
        XCTAssertEqual(try failed.error()["type"] as? String, "server_error")
        try await expect("gpt-x@words=3", 500, "matches once the suffix is removed")
        try await expect("gpt-x@status=429", 500, "wins over the suffix")
        try await expect("gpt-x", 500, headers: ["x-mock-status": "503"], "wins over headers")
        try await expect("gpt-xy", 200)
        try await expect("other@gpt-x", 400, "only the part before @ matches; this suffix is a bad fault")
        let embedding = try await mock.post("/v1/embeddings", ["model": "gpt-x", "input": "x"])
        XCTAssertEqual(embedding.status, 500, "every endpoint with that model")

        // An entry for the model with its suffix matches that exact string only, and wins.
        _ = try await mock.setFault(model: "gpt-x@canary", "quota=1")
        try await expect("gpt-x@canary", 429)
        let canary = try await chat("gpt-x@canary")
        XCTAssertEqual(try canary.error()["code"] as? String, "insufficient_quota")
        try await expect("gpt-x", 500)
        try await expect("canary", 200)

        let cleared = try await mock.setFault(model: "gpt-x", "")
        XCTAssertEqual(cleared.status, 200)
        try await expect("gpt-x", 200)
        try await expect("gpt-x@status=429", 429, "suffix faults apply again")
        try await expect("gpt-x@canary", 429)

        _ = try await mock.setFault(model: "gpt-x", "status=503")
        try await expect("gpt-x", 503)
        let reset = try await mock.send("POST", "/_mock/reset", body: Data())
        XCTAssertEqual(reset.status, 200)
        try await expect("gpt-x", 200)
        try await expect("gpt-x@canary", 400, "its entry is gone too, so the suffix is parsed as faults again")
    }

    func testRuntimeFaultCanDropAStream() async throws {
        let mock = try MockClient()
        let installed = try await mock.setFault(model: "m", "drop=2,words=6")
        XCTAssertEqual(installed.status, 200)
        let body = #"{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}"#
        let connection = try RawConnection(port: mock.port)
        try connection.send(rawPost("/v1/chat/completions", body: body))
        let raw = String(decoding: connection.readToEnd(), as: UTF8.self)
        XCTAssertTrue(raw.hasPrefix("HTTP/1.1 200 OK\r\n"))
        XCTAssertFalse(raw.contains("[DONE]"))
        let contents = try sseData(raw).map(jsonObject).compactMap {
            (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String
        }
        XCTAssertEqual(contents, ["", "Echo: ", "x "])
    }

    func testRuntimeFaultRejectsMalformedBodiesInOpenAIShape() async throws {
        let mock = try MockClient()
        let cases: [(body: Data, param: String?)] = [
            (Data("{not json".utf8), nil),
            (Data("[]".utf8), nil),
            (try JSONSerialization.data(withJSONObject: ["fault": "status=500"]), "model"),
            (try JSONSerialization.data(withJSONObject: ["model": "", "fault": "status=500"]), "model"),
            (try JSONSerialization.data(withJSONObject: ["model": 3, "fault": "status=500"]), "model"),
            (try JSONSerialization.data(withJSONObject: ["model": "gpt-x"]), "fault"),
            (try JSONSerialization.data(withJSONObject: ["model": "gpt-x", "fault": 500]), "fault"),
            (try JSONSerialization.data(withJSONObject: ["model": "gpt-x", "fault": "status=700"]), "fault"),
            (try JSONSerialization.data(withJSONObject: ["model": "gpt-x", "fault": "status"]), "fault"),
            (try JSONSerialization.data(withJSONObject: ["model": "gpt-x", "fault": "colour=red"]), "fault"),
        ]
        for (body, param) in cases {
            let response = try await mock.send("POST", "/_mock/faults", body: body)
            let text = String(decoding: body, as: UTF8.self)
            XCTAssertEqual(response.status, 400, text)
            XCTAssertEqual(try response.error()["type"] as? String, "invalid_request_error", text)
            XCTAssertEqual(try response.error()["param"] as? String, param, text)
            XCTAssertNotNil(try response.error()["message"] as? String, text)
        }
        let wrongMethod = try await mock.get("/_mock/faults")
        XCTAssertEqual(wrongMethod.status, 404)
        let unaffected = try await mock.post("/v1/chat/completions", [
            "model": "gpt-x", "messages": [["role": "user", "content": "x"]],
        ])
        XCTAssertEqual(unaffected.status, 200, "nothing was installed")
    }

    func testValidationErrorsInOpenAIShape() async throws {
        let mock = try MockClient()
        let noMessages = try await mock.post("/v1/chat/completions", ["model": "m"])
        XCTAssertEqual(noMessages.status, 400)
        XCTAssertEqual(try noMessages.error()["param"] as? String, "messages")
        XCTAssertEqual(try noMessages.error()["type"] as? String, "invalid_request_error")

        let notArray = try await mock.post("/v1/chat/completions", ["model": "m", "messages": "hi"])
        XCTAssertEqual(notArray.status, 400)
        XCTAssertEqual(try notArray.error()["param"] as? String, "messages")

        let noModel = try await mock.post("/v1/chat/completions", ["messages": [["role": "user", "content": "x"]]])
        XCTAssertEqual(noModel.status, 400)
        XCTAssertEqual(try noModel.error()["param"] as? String, "model")

        let badJSON = try await mock.send("POST", "/v1/chat/completions", body: Data("{not json".utf8))
        XCTAssertEqual(badJSON.status, 400)
        XCTAssertEqual(try badJSON.error()["type"] as? String, "invalid_request_error")

        let unknown = try await mock.get("/v1/nothing-here")
        XCTAssertEqual(unknown.status, 404)
        XCTAssertEqual(try unknown.error()["message"] as? String, "Invalid URL (GET /v1/nothing-here)")
    }

    func testAPIKeyIsRequiredWhenConfigured() async throws {
        let mock = try MockClient(options: MockProviderOptions(apiKey: "sk-mock"))
        let denied = try await mock.get("/v1/models")
        XCTAssertEqual(denied.status, 401)
        XCTAssertEqual(try denied.error()["code"] as? String, "invalid_api_key")
        let allowed = try await mock.get("/v1/models", headers: ["Authorization": "Bearer sk-mock"])
        XCTAssertEqual(allowed.status, 200)
    }

    func testDelayComesBeforeTheHeaders() async throws {
        let mock = try MockClient()
        let clock = ContinuousClock()
        let start = clock.now
        let response = try await mock.post("/v1/chat/completions", [
            "model": "m@delay=300ms", "messages": [["role": "user", "content": "x"]],
        ])
        XCTAssertEqual(response.status, 200)
        XCTAssertGreaterThanOrEqual(clock.now - start, .milliseconds(290))
    }

    func testDropClosesTheStreamAfterNContentEventsWithoutDone() throws {
        let mock = try MockClient()
        let body = #"{"model":"m@drop=3,words=10","stream":true,"messages":[{"role":"user","content":"x"}]}"#
        let connection = try RawConnection(port: mock.port)
        try connection.send(rawPost("/v1/chat/completions", body: body))
        let raw = String(decoding: connection.readToEnd(), as: UTF8.self)
        XCTAssertTrue(raw.hasPrefix("HTTP/1.1 200 OK\r\n"))
        XCTAssertFalse(raw.contains("[DONE]"))
        XCTAssertFalse(raw.hasSuffix("0\r\n\r\n"), "no last chunk: the body is cut short")
        let chunks = try sseData(raw).map(jsonObject)
        let contents = chunks.compactMap {
            (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String
        }
        XCTAssertEqual(contents, ["", "Echo: ", "x ", "Echo: "])
    }
}
