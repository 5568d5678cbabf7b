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
