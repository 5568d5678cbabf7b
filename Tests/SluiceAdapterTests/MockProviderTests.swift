import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import SluiceMockProvider
import XCTest

/// Drives a real `MockProviderServer` on a loopback port: `URLSession` where a normal
/// client will do, a raw socket where the test must see the bytes on the wire.
final class MockProviderTests: XCTestCase {
    // MARK: Chat

    func testChatEchoesLastUserMessageWithUsage() async throws {
        let mock = try MockClient()
        let response = try await mock.post("/v1/chat/completions", [
            "model": "gpt-test",
            "messages": [
                ["role": "system", "content": "be brief"],
                ["role": "user", "content": "first question"],
                ["role": "assistant", "content": "an answer"],
                ["role": "user", "content": [["type": "text", "text": "hello"], ["type": "text", "text": "mock world"]]],
            ],
        ])
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("content-type"), "application/json")
        let object = try response.object()
        XCTAssertEqual(object["object"] as? String, "chat.completion")
        XCTAssertEqual(object["model"] as? String, "gpt-test")
        XCTAssertTrue((object["id"] as? String ?? "").hasPrefix("chatcmpl-mock-"))
        XCTAssertNotNil(object["created"] as? Int)
        let choice = try XCTUnwrap((object["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual(choice["finish_reason"] as? String, "stop")
        XCTAssertTrue(choice["logprobs"] is NSNull)
        let message = try XCTUnwrap(choice["message"] as? [String: Any])
        XCTAssertEqual(message["role"] as? String, "assistant")
        XCTAssertEqual(message["content"] as? String, "Echo: hello mock world")
        XCTAssertTrue(message["refusal"] is NSNull)
        // 2 + 2 + 2 + 3 words, plus 3 per message.
        XCTAssertEqual(try usage(object), [9 + 12, 4, 25])
    }

    func testChatMaxTokensCutsTheAnswerAndWordsFaultLengthensIt() async throws {
        let mock = try MockClient()
        let cut = try await mock.post("/chat/completions", [
            "model": "m", "max_tokens": 2, "messages": [["role": "user", "content": "one two three"]],
        ]).object()
        let cutChoice = try XCTUnwrap((cut["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual(cutChoice["finish_reason"] as? String, "length")
        XCTAssertEqual((cutChoice["message"] as? [String: Any])?["content"] as? String, "Echo: one")

        let long = try await mock.post("/v1/chat/completions", [
            "model": "m@words=7", "messages": [["role": "user", "content": "a b"]],
        ]).object()
        let longChoice = try XCTUnwrap((long["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual((longChoice["message"] as? [String: Any])?["content"] as? String, "Echo: a b Echo: a b Echo:")
        XCTAssertEqual(long["model"] as? String, "m")
    }

    func testChatStreamWithIncludeUsage() async throws {
        let mock = try MockClient()
        let response = try await mock.post("/v1/chat/completions", [
            "model": "m", "stream": true, "stream_options": ["include_usage": true],
            "messages": [["role": "user", "content": "stream these words"]],
        ])
        XCTAssertEqual(response.status, 200)
        XCTAssertTrue(response.header("content-type")?.hasPrefix("text/event-stream") ?? false)
        let events = sseData(response.text)
        XCTAssertEqual(events.last, "[DONE]")
        let chunks = try events.dropLast().map(jsonObject)
        XCTAssertEqual(chunks.count, 1 + 4 + 1 + 1)
        XCTAssertTrue(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
        XCTAssertEqual(Set(chunks.compactMap { $0["id"] as? String }).count, 1)

        let withUsage = chunks.filter { !($0["usage"] is NSNull) }
        XCTAssertEqual(withUsage.count, 1, "exactly one chunk carries usage; the others carry null")
        XCTAssertEqual((withUsage.first?["choices"] as? [Any])?.count, 0)
        XCTAssertEqual(try usage(XCTUnwrap(withUsage.first)), [3 + 3, 4, 10])
        XCTAssertTrue(chunks.dropLast().allSatisfy { $0.keys.contains("usage") && $0["usage"] is NSNull })

        let deltas = chunks.dropLast().compactMap { ($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any] }
        XCTAssertEqual(deltas.first?["role"] as? String, "assistant")
        XCTAssertEqual(deltas.compactMap { $0["content"] as? String }.joined(), "Echo: stream these words")
        let finish = (chunks[chunks.count - 2]["choices"] as? [[String: Any]])?.first
        XCTAssertEqual(finish?["finish_reason"] as? String, "stop")
        XCTAssertEqual((finish?["delta"] as? [String: Any])?.count, 0)
    }

    func testChatStreamWithoutIncludeUsageHasNoUsageKey() async throws {
        let mock = try MockClient()
        let response = try await mock.post("/v1/chat/completions", [
            "model": "m", "stream": true, "messages": [["role": "user", "content": "hi"]],
        ])
        let events = sseData(response.text)
        XCTAssertEqual(events.last, "[DONE]")
        let chunks = try events.dropLast().map(jsonObject)
        XCTAssertEqual(chunks.count, 4)
        XCTAssertTrue(chunks.allSatisfy { !$0.keys.contains("usage") })
    }

    func testToolsAndWeatherGiveAToolCall() async throws {
        let mock = try MockClient()
        let object = try await mock.post("/v1/chat/completions", [
            "model": "m",
            "messages": [["role": "user", "content": "What is the weather like?"]],
            "tools": [["type": "function", "function": ["name": "get_weather", "parameters": ["type": "object"]]]],
        ]).object()
        let choice = try XCTUnwrap((object["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual(choice["finish_reason"] as? String, "tool_calls")
        let message = try XCTUnwrap(choice["message"] as? [String: Any])
        XCTAssertTrue(message["content"] is NSNull)
        let call = try XCTUnwrap((message["tool_calls"] as? [[String: Any]])?.first)
        XCTAssertEqual(call["type"] as? String, "function")
        let function = try XCTUnwrap(call["function"] as? [String: Any])
        XCTAssertEqual(function["name"] as? String, "get_weather")
        let arguments = try jsonObject(XCTUnwrap(function["arguments"] as? String))
        XCTAssertEqual(arguments["location"] as? String, "Paris")
    }

    // MARK: Completions and embeddings

    func testLegacyCompletionsOneChoicePerPromptAndStream() async throws {
        let mock = try MockClient()
        let object = try await mock.post("/v1/completions", ["model": "m", "prompt": ["a b", "c"]]).object()
        XCTAssertEqual(object["object"] as? String, "text_completion")
        let choices = try XCTUnwrap(object["choices"] as? [[String: Any]])
        XCTAssertEqual(choices.map { $0["text"] as? String }, ["Echo: a b", "Echo: c"])
        XCTAssertEqual(choices.map { $0["index"] as? Int }, [0, 1])
        XCTAssertTrue(choices.allSatisfy { $0["logprobs"] is NSNull && $0["finish_reason"] as? String == "stop" })
        XCTAssertEqual(try usage(object), [3, 5, 8])

        let stream = try await mock.post("/v1/completions", ["model": "m", "prompt": "x y", "stream": true])
        let events = sseData(stream.text)
        XCTAssertEqual(events.last, "[DONE]")
        let chunks = try events.dropLast().map(jsonObject)
        XCTAssertTrue(chunks.allSatisfy { $0["object"] as? String == "text_completion" })
        let texts = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["text"] as? String }
        XCTAssertEqual(texts, ["Echo: ", "x ", "y", ""])
    }

    func testEmbeddingsFloatAndBase64CarryTheSameUnitVectors() async throws {
        let mock = try MockClient()
        let request: [String: Any] = ["model": "emb", "input": ["alpha", "beta"], "dimensions": 16]
        let floats = try await mock.post("/v1/embeddings", request).object()
        var base64Request = request
        base64Request["encoding_format"] = "base64"
        let base64 = try await mock.post("/v1/embeddings", base64Request).object()

        XCTAssertEqual(floats["object"] as? String, "list")
        XCTAssertEqual(floats["model"] as? String, "emb")
        let usage = try XCTUnwrap(floats["usage"] as? [String: Any])
        XCTAssertEqual(usage["prompt_tokens"] as? Int, 2)
        XCTAssertEqual(usage["total_tokens"] as? Int, 2)

        let floatVectors = try XCTUnwrap(floats["data"] as? [[String: Any]]).map { item in
            XCTAssertEqual(item["object"] as? String, "embedding")
            return (item["embedding"] as? [Double] ?? []).map(Float.init)
        }
        let decoded = try XCTUnwrap(base64["data"] as? [[String: Any]]).map { item in
            decodeFloat32LittleEndian(item["embedding"] as? String ?? "")
        }
        XCTAssertEqual(floatVectors.map(\.count), [16, 16])
        XCTAssertEqual(decoded, floatVectors)
        XCTAssertNotEqual(floatVectors[0], floatVectors[1])
        for vector in floatVectors {
            XCTAssertEqual(vector.reduce(0) { $0 + Double($1) * Double($1) }, 1, accuracy: 1e-5)
        }

        let again = try await mock.post("/v1/embeddings", ["model": "emb", "input": "alpha", "dimensions": 16]).object()
        let againVector = ((again["data"] as? [[String: Any]])?.first?["embedding"] as? [Double] ?? []).map(Float.init)
        XCTAssertEqual(againVector, floatVectors[0], "same input, same vector")
    }

    func testModelsList() async throws {
        let mock = try MockClient()
        let object = try await mock.get("/v1/models").object()
        XCTAssertEqual(object["object"] as? String, "list")
        let ids = (object["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        XCTAssertTrue(ids.contains("mock-model"))
    }

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

    // MARK: Wire details and stats

    func testChunkedRequestBodyAndKeepAlive() throws {
        let mock = try MockClient()
        let json = #"{"model":"m","messages":[{"role":"user","content":"chunked body"}]}"#
        let half = json.utf8.count / 2
        let first = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + String(half, radix: 16) + "\r\n" + String(json.prefix(half)) + "\r\n"
            + String(json.utf8.count - half, radix: 16) + "\r\n" + String(json.dropFirst(half)) + "\r\n0\r\n\r\n"
        let second = "GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        let connection = try RawConnection(port: mock.port)
        try connection.send(first + second)
        let raw = String(decoding: connection.readToEnd(), as: UTF8.self)
        XCTAssertEqual(raw.components(separatedBy: "HTTP/1.1 200 OK").count - 1, 2, "both requests on one connection")
        XCTAssertTrue(raw.contains("Echo: chunked body"))
        XCTAssertTrue(raw.contains("\"mock-model\""))
    }

    func testStatsRecordWhatWasSentAndResetZeroesThem() async throws {
        let mock = try MockClient()
        _ = try await mock.post("/v1/chat/completions", [
            "model": "routed-model", "messages": [["role": "user", "content": "x"]],
        ], headers: ["Authorization": "Bearer upstream-key"])
        _ = try await mock.post("/v1/chat/completions", [
            "model": "m", "stream": true, "messages": [["role": "user", "content": "x"]],
        ])
        let stats = try await mock.get("/_mock/stats").object()
        XCTAssertEqual(stats["requests"] as? Int, 2)
        XCTAssertEqual((stats["by_path"] as? [String: Int])?["/v1/chat/completions"], 2)
        XCTAssertEqual(stats["streams_started"] as? Int, 1)
        XCTAssertEqual(stats["streams_completed"] as? Int, 1)
        XCTAssertEqual(stats["streams_aborted"] as? Int, 0)
        let last = try XCTUnwrap(stats["last_request"] as? [String: Any])
        XCTAssertEqual(last["method"] as? String, "POST")
        XCTAssertEqual(last["path"] as? String, "/v1/chat/completions")
        XCTAssertTrue((last["body"] as? String ?? "").contains("\"stream\""))

        _ = try await mock.post("/v1/embeddings", ["model": "routed-model", "input": "x"],
                                headers: ["Authorization": "Bearer upstream-key"])
        let afterEmbedding = try await mock.get("/_mock/stats").object()
        let lastEmbedding = try XCTUnwrap(afterEmbedding["last_request"] as? [String: Any])
        XCTAssertEqual((lastEmbedding["headers"] as? [String: String])?["authorization"], "Bearer upstream-key")
        XCTAssertEqual(try jsonObject(lastEmbedding["body"] as? String ?? "")["model"] as? String, "routed-model")

        let reset = try await mock.send("POST", "/_mock/reset", body: Data())
        XCTAssertEqual(reset.status, 200)
        let zeroed = try await mock.get("/_mock/stats").object()
        XCTAssertEqual(zeroed["requests"] as? Int, 0)
        XCTAssertEqual(zeroed["streams_started"] as? Int, 0)
        XCTAssertTrue(zeroed["last_request"] is NSNull)
    }

    func testStatsCountByModelAsSentAndKeepWarmPings() async throws {
        let mock = try MockClient()
        let messages = [["role": "user", "content": "x"]]
        _ = try await mock.post("/v1/chat/completions", ["model": "gpt-x", "messages": messages])
        _ = try await mock.post("/v1/chat/completions", ["model": "gpt-x", "messages": messages],
                                headers: ["x-sluice-keep-warm": "1"])
        let failed = try await mock.post("/v1/chat/completions", ["model": "gpt-x@status=500", "messages": messages])
        XCTAssertEqual(failed.status, 500)
        _ = try await mock.post("/v1/embeddings", ["model": "emb", "input": "x"],
                                headers: ["x-sluice-keep-warm": ""])
        _ = try await mock.post("/v1/nowhere", ["model": "lost"])  // a 404, still counted
        _ = try await mock.post("/v1/chat/completions", ["model": 7, "messages": messages])  // not a string
        _ = try await mock.send("POST", "/v1/chat/completions", body: Data("{not json".utf8))
        _ = try await mock.get("/v1/models", headers: ["x-sluice-keep-warm": "yes"])
        _ = try await mock.setFault(model: "gpt-x", "")  // /_mock requests are never counted

        let stats = try await mock.get("/_mock/stats").object()
        XCTAssertEqual(stats["requests"] as? Int, 8)
        XCTAssertEqual(stats["by_model"] as? [String: Int],
                       ["gpt-x": 2, "gpt-x@status=500": 1, "emb": 1, "lost": 1])
        XCTAssertEqual(stats["keep_warm_pings"] as? Int, 3)

        _ = try await mock.send("POST", "/_mock/reset", body: Data())
        let zeroed = try await mock.get("/_mock/stats").object()
        XCTAssertEqual(zeroed["by_model"] as? [String: Int], [:])
        XCTAssertEqual(zeroed["keep_warm_pings"] as? Int, 0)
    }

    func testClientGoingAwayMidStreamCountsAsAborted() async throws {
        let mock = try MockClient()
        let body = #"{"model":"m@interval=100ms,words=50","stream":true,"messages":[{"role":"user","content":"x"}]}"#
        do {
            let connection = try RawConnection(port: mock.port)
            try connection.send(rawPost("/v1/chat/completions", body: body))
            XCTAssertTrue(connection.read(until: "Echo: "))
        }  // the connection closes here, mid-stream
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        var stats: [String: Any] = [:]
        repeat {
            try await Task.sleep(for: .milliseconds(50))
            stats = try await mock.get("/_mock/stats").object()
        } while stats["streams_aborted"] as? Int != 1 && clock.now < deadline
        XCTAssertEqual(stats["streams_aborted"] as? Int, 1)
        XCTAssertEqual(stats["streams_completed"] as? Int, 0)
    }
}

// MARK: - Helpers

/// A started server and a `URLSession` to call it.
private struct MockClient {
    let port: Int
    private let server: MockProviderServer

    init(options: MockProviderOptions = MockProviderOptions()) throws {
        server = try MockProviderServer(options: options)
        server.start()
        port = server.port
    }

    func post(_ path: String, _ json: [String: Any], headers: [String: String] = [:]) async throws -> MockResponse {
        try await send("POST", path, body: JSONSerialization.data(withJSONObject: json), headers: headers)
    }

    /// `POST /_mock/faults`: installs `fault` for `model`, or clears it when empty.
    func setFault(model: String, _ fault: String) async throws -> MockResponse {
        try await post("/_mock/faults", ["model": model, "fault": fault])
    }

    func get(_ path: String, headers: [String: String] = [:]) async throws -> MockResponse {
        try await send("GET", path, body: nil, headers: headers)
    }

    func send(_ method: String, _ path: String, body: Data?, headers: [String: String] = [:]) async throws -> MockResponse {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 10
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        return MockResponse(http: try XCTUnwrap(response as? HTTPURLResponse), body: data)
    }
}

private struct MockResponse {
    let http: HTTPURLResponse
    let body: Data

    var status: Int { http.statusCode }
    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { http.value(forHTTPHeaderField: name) }
    func object() throws -> [String: Any] { try jsonObject(text) }
    func error() throws -> [String: Any] { try XCTUnwrap(object()["error"] as? [String: Any]) }
}

/// A blocking loopback TCP connection, for checking bytes on the wire.
private final class RawConnection {
    private let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit {
        close(fd)
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { throw POSIXError(.EPIPE) }
    }

    /// Everything until the server closes (or 10 s pass).
    func readToEnd() -> Data {
        var data = Data()
        while let chunk = readSome() { data.append(chunk) }
        return data
    }

    /// Reads until `marker` has arrived; `false` if the connection ended first.
    func read(until marker: String) -> Bool {
        var text = ""
        while !text.contains(marker) {
            guard let chunk = readSome() else { return false }
            text += String(decoding: chunk, as: UTF8.self)
        }
        return true
    }

    private func readSome() -> Data? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return count > 0 ? Data(buffer[0..<count]) : nil
    }
}

private func rawPost(_ path: String, body: String) -> String {
    "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
        + "Connection: close\r\n\r\n" + body
}

/// The `data:` values of a server-sent event stream, in order. Works on a de-chunked
/// body and on raw chunked bytes alike, since every event sits inside one chunk.
private func sseData(_ text: String) -> [String] {
    // Split on scalars: in a String, the CRLF of the chunk framing is one Character.
    text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: true).compactMap { scalars in
        let line = String(String.UnicodeScalarView(scalars))
        return line.hasPrefix("data: ") ? String(line.dropFirst(6)) : nil
    }
}

private func jsonObject(_ text: String) throws -> [String: Any] {
    try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

/// `[prompt_tokens, completion_tokens, total_tokens]`.
private func usage(_ object: [String: Any]) throws -> [Int] {
    let usage = try XCTUnwrap(object["usage"] as? [String: Any])
    return ["prompt_tokens", "completion_tokens", "total_tokens"].compactMap { usage[$0] as? Int }
}

/// How the official SDKs read `encoding_format: "base64"`: little-endian float32.
private func decodeFloat32LittleEndian(_ base64: String) -> [Float] {
    guard let data = Data(base64Encoded: base64) else { return [] }
    return stride(from: 0, to: data.count, by: 4).map { offset in
        let bits = data[offset..<(offset + 4)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return Float(bitPattern: bits)
    }
}
