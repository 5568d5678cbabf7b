import Foundation
import XCTest

/// The OpenAI-compatible surface through nginx → pool → mock provider.
final class APISurfaceTests: SharedStackTestCase {
    nonisolated(unsafe) private static var cachedKey: String?

    /// One gateway key for the whole class.
    private var key: String {
        get throws {
            if let key = Self.cachedKey { return key }
            let key = try gateway().createKey(name: "api-tests")
            Self.cachedKey = key
            return key
        }
    }

    func testChatCompletionReplacesOnlyTheModelAndSendsTheProviderKey() throws {
        let stack = try gateway()
        let key = try self.key
        let body = #"{"model":"chat", "temperature":0.25,"messages":[{"role":"user","content":"hello gateway \u00e9"}],"x_custom":{"a":[1,2]}}"#
        let response = stack.client.post("/v1/chat/completions", key: key, body)
        XCTAssertEqual(response.status, 200, response.text)
        let choices = try XCTUnwrap(response.json["choices"] as? [[String: Any]])
        let message = try XCTUnwrap(choices.first?["message"] as? [String: Any])
        XCTAssertEqual(message["content"] as? String, "Echo: hello gateway é")
        XCTAssertNotNil(response.json["usage"])

        let last = try XCTUnwrap(stack.mockStats()["last_request"] as? [String: Any])
        let sent = try XCTUnwrap(last["body"] as? String)
        XCTAssertEqual(sent, body.replacingOccurrences(of: #""model":"chat""#, with: #""model":"mock-gpt""#),
                       "everything but the model passes through byte for byte")
        let headers = try XCTUnwrap(last["headers"] as? [String: String])
        XCTAssertEqual(headers["authorization"], "Bearer \(stack.mockKey)")
        XCTAssertFalse(headers.values.contains { $0.contains(key) }, "the gateway key never goes upstream")
    }

    func testStreamArrivesEventByEventBeforeTheProviderFinishes() throws {
        let stack = try gateway()
        let key = try self.key
        let started = ContinuousClock.now
        let response = stack.client.post("/v1/chat/completions", key: key,
                                          #"{"model":"slow","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"one two three"}]}"#)
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertEqual(response.header("content-type")?.hasPrefix("text/event-stream"), true)
        let events = response.events
        XCTAssertEqual(events.last, "[DONE]")
        XCTAssertEqual(events.filter { $0.contains("\"usage\":{") }.count, 1, "exactly one usage chunk")
        // The mock pauses 250 ms between events: the first chunk must reach us long before the last.
        let first = try XCTUnwrap(response.chunks.first?.at)
        let last = try XCTUnwrap(response.chunks.last?.at)
        XCTAssertGreaterThan(last - first, .milliseconds(1500), "events were relayed as they arrived")
        XCTAssertLessThan(first - started, .milliseconds(800), "the first event is not held back")
        XCTAssertGreaterThan(response.chunks.count, 5)
    }

    func testCompletionsAndEmbeddings() throws {
        let stack = try gateway()
        let key = try self.key
        let completion = stack.client.post("/v1/completions", key: key, #"{"model":"completions","prompt":"say this"}"#)
        XCTAssertEqual(completion.status, 200, completion.text)
        XCTAssertEqual(completion.json["object"] as? String, "text_completion")

        let streamed = stack.client.post("/v1/completions", key: key, #"{"model":"completions","prompt":"a b","stream":true}"#)
        XCTAssertEqual(streamed.events.last, "[DONE]")

        let floats = stack.client.post("/v1/embeddings", key: key, #"{"model":"embeddings","input":["x","y"]}"#)
        XCTAssertEqual(floats.status, 200, floats.text)
        let data = try XCTUnwrap(floats.json["data"] as? [[String: Any]])
        XCTAssertEqual(data.count, 2)
        let vector = try XCTUnwrap(data[0]["embedding"] as? [Double])

        let encoded = stack.client.post("/v1/embeddings", key: key,
                                        #"{"model":"embeddings","input":["x","y"],"encoding_format":"base64"}"#)
        let base64 = try XCTUnwrap((encoded.json["data"] as? [[String: Any]])?.first?["embedding"] as? String)
        let bytes = try XCTUnwrap(Data(base64Encoded: base64))
        let decoded = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float32.self)) }
        XCTAssertEqual(decoded.count, vector.count)
        for (a, b) in zip(decoded, vector) { XCTAssertEqual(Double(a), b, accuracy: 1e-6) }
    }

    func testModelsListsOnlyTheRoutesTheKeyMayUse() throws {
        let stack = try gateway()
        let key = try self.key
        let all = stack.client.send(.get, "/v1/models", headers: [("x-api-key", key)])
        XCTAssertEqual(all.status, 200)
        let ids = (all.json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
        XCTAssertEqual(Array(ids.prefix(3)), ["chat", "completions", "embeddings"])

        let limited = try stack.createKey(name: "limited", routes: ["embeddings"])
        let few = stack.client.send(.get, "/v1/models", headers: [("api-key", limited)])
        XCTAssertEqual((few.json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, ["embeddings"])
        let forbidden = stack.client.post("/v1/chat/completions", key: limited, #"{"model":"chat","messages":[]}"#)
        XCTAssertEqual(forbidden.status, 403)
        XCTAssertEqual(forbidden.errorType, "permission_error")
        XCTAssertEqual(stack.client.send(.get, "/v1/models/embeddings", headers: [("api-key", limited)]).status, 200)
        XCTAssertEqual(stack.client.send(.get, "/v1/models/chat", headers: [("api-key", limited)]).status, 404)
    }

    func testClientErrorsAreOpenAIShapedWithTheRightStatus() throws {
        let stack = try gateway()
        let key = try self.key
        let cases: [(String?, String, Int, String)] = [
            (key, "{not json", 400, "invalid_json"),
            (key, #"{"model":"chat","messages":"hi"}"#, 400, "invalid_request"),
            (key, #"{"model":"chat","stream":"yes","messages":[]}"#, 400, "invalid_request"),
            (key, #"{"messages":[]}"#, 400, "invalid_request"),
            (nil, #"{"model":"chat","messages":[]}"#, 401, "missing_api_key"),
            ("sk-sluice-not-a-real-key", #"{"model":"chat","messages":[]}"#, 401, "invalid_api_key"),
            ("sk-sluice-" + String(repeating: "a", count: 40), #"{"model":"chat","messages":[]}"#, 401, "invalid_api_key"),
            (key, #"{"model":"no-such-route","messages":[]}"#, 404, "model_not_found"),
            (key, #"{"model":"embeddings","messages":[]}"#, 400, "route_type_mismatch"),
        ]
        for (key, body, status, code) in cases {
            let response = stack.client.post("/v1/chat/completions", key: key, body)
            XCTAssertEqual(response.status, status, "\(body): \(response.text)")
            XCTAssertEqual(response.errorCode, code, body)
            XCTAssertNotNil((response.json["error"] as? [String: Any])?["message"] as? String)
            if let key { XCTAssertFalse(response.text.contains(key), "errors never echo the key") }
        }
        let wrongMethod = stack.client.send(.get, "/v1/chat/completions", headers: [("Authorization", "Bearer \(key)")])
        XCTAssertEqual(wrongMethod.status, 405)
    }

    func testTooLargeBodyIs413InOpenAIShape() throws {
        let stack = try gateway()
        let key = try self.key
        let padding = String(repeating: "a", count: 9 << 20)
        let response = stack.client.post("/v1/chat/completions", key: key,
                                          #"{"model":"chat","messages":[{"role":"user","content":"\#(padding)"}]}"#)
        XCTAssertEqual(response.status, 413)
        XCTAssertEqual(response.errorType, "invalid_request_error")
    }

    func testUpstreamFailuresMapToGatewayStatuses() throws {
        let stack = try gateway()
        let key = try self.key
        let chat = #"{"model":"ROUTE","messages":[{"role":"user","content":"hi"}]}"#
        let dead = stack.client.post("/v1/chat/completions", key: key, chat.replacingOccurrences(of: "ROUTE", with: "dead"))
        XCTAssertEqual(dead.status, 502, dead.text)

        let started = ContinuousClock.now
        let slow = stack.client.post("/v1/chat/completions", key: key, chat.replacingOccurrences(of: "ROUTE", with: "timeout"))
        XCTAssertEqual(slow.status, 504, slow.text)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(3), "the first-byte timeout (1 s) applies")

        let limited = stack.client.post("/v1/chat/completions", key: key, chat.replacingOccurrences(of: "ROUTE", with: "rate-limited"))
        XCTAssertEqual(limited.status, 429, limited.text)
        XCTAssertEqual(limited.header("retry-after"), "7")
        XCTAssertEqual(limited.errorType, "requests")

        let rejected = stack.client.post("/v1/chat/completions", key: key, chat.replacingOccurrences(of: "ROUTE", with: "rejected"))
        XCTAssertEqual(rejected.status, 400, rejected.text)
        XCTAssertEqual(rejected.errorType, "invalid_request_error")
    }

    func testFallbackEndpointServesWhenThePrimaryFails() throws {
        let stack = try gateway()
        let key = try self.key
        let response = stack.client.post("/v1/chat/completions", key: key,
                                          #"{"model":"fallback","messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertEqual(response.header("x-sluice-endpoint"), "backup")
    }

    func testCutStreamEndsWithAnErrorEventNeverDone() throws {
        let stack = try gateway()
        let key = try self.key
        let response = stack.client.post("/v1/chat/completions", key: key,
                                          #"{"model":"cut","stream":true,"messages":[{"role":"user","content":"a b c d"}]}"#)
        XCTAssertEqual(response.status, 200)
        let events = response.events
        XCTAssertFalse(events.contains("[DONE]"), "a cut stream must not look complete")
        let last = try XCTUnwrap(events.last)
        XCTAssertTrue(last.contains("\"error\""), last)
    }

    func testClientThatGoesAwayCancelsTheUpstreamCall() throws {
        let stack = try gateway()
        let key = try self.key
        stack.resetMock()
        let response = stack.client.post("/v1/chat/completions", key: key,
                                          #"{"model":"slow","stream":true,"messages":[{"role":"user","content":"a b c d e f g h i j k l m n o p"}]}"#,
                                          abortAfterFirstChunk: true)
        XCTAssertEqual(response.status, 200)
        try waitUntil("the mock sees the stream aborted", timeout: .milliseconds(1500)) {
            (stack.mockStats()["streams_aborted"] as? Int ?? 0) >= 1
        }
        XCTAssertEqual(stack.mockStats()["streams_completed"] as? Int ?? -1, 0)
    }

    func testHealthz() throws {
        let stack = try gateway()
        let key = try self.key
        let response = stack.client.send(.get, "/sluice/healthz")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.json["status"] as? String, "ok")
    }
}
