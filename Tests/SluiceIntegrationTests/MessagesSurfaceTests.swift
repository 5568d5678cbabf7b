import Foundation
import XCTest

/// Anthropic's Messages API (`POST /v1/messages`) served from an OpenAI-backed route
/// through real nginx and the pool: answers, named-event streams, tool use, usage, and
/// errors in Anthropic's shape.
final class MessagesSurfaceTests: SharedStackTestCase {
    nonisolated(unsafe) private static var cachedKey: String?

    private var key: String {
        get throws {
            if let key = Self.cachedKey { return key }
            let key = try gateway().createKey(name: "messages-tests")
            Self.cachedKey = key
            return key
        }
    }

    /// A Messages call as the Anthropic SDK sends it: `x-api-key` and `anthropic-version`.
    private func messages(_ body: String) throws -> TestResponse {
        try gateway().client.send(.post, "/v1/messages",
                                  headers: [("x-api-key", key), ("anthropic-version", "2023-06-01")], body: body)
    }


    func testMessageFromAnOpenAIRoute() throws {
        let response = try messages(#"{"model":"chat","max_tokens":64,"system":"be brief","messages":[{"role":"user","content":"hello there"}]}"#)
        XCTAssertEqual(response.status, 200, response.text)
        let json = response.json
        XCTAssertEqual(json["type"] as? String, "message")
        XCTAssertEqual(json["role"] as? String, "assistant")
        XCTAssertEqual(json["model"] as? String, "chat")
        XCTAssertEqual(json["stop_reason"] as? String, "end_turn")
        let content = try XCTUnwrap(json["content"] as? [[String: Any]])
        XCTAssertEqual(content.first?["type"] as? String, "text")
        XCTAssertEqual(content.first?["text"] as? String, "Echo: hello there")
        let usage = try XCTUnwrap(json["usage"] as? [String: Any])
        XCTAssertEqual(usage["output_tokens"] as? Int, 3)
        XCTAssertEqual(usage["input_tokens"] as? Int, 2 + 3 + 2 + 3, "the mock counts words + 3 per message, system included")
    }

    func testStreamUsesAnthropicsNamedEvents() throws {
        let response = try messages(#"{"model":"chat","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"stream these words"}]}"#)
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertTrue(response.header("content-type")?.hasPrefix("text/event-stream") ?? false)
        let events = response.namedEvents
        let names = events.map(\.name)
        XCTAssertEqual(names.first, "message_start")
        XCTAssertEqual(names.last, "message_stop")
        XCTAssertTrue(names.contains("content_block_start"))
        XCTAssertTrue(names.contains("content_block_stop"))
        let text = events.filter { $0.name == "content_block_delta" }
            .compactMap { ($0.data["delta"] as? [String: Any])?["text"] as? String }.joined()
        XCTAssertEqual(text, "Echo: stream these words")
        let delta = try XCTUnwrap(events.last { $0.name == "message_delta" }?.data)
        XCTAssertEqual((delta["delta"] as? [String: Any])?["stop_reason"] as? String, "end_turn")
        XCTAssertEqual((delta["usage"] as? [String: Any])?["output_tokens"] as? Int, 4, "exactly the provider's usage")
        XCTAssertFalse(response.text.contains("[DONE]"), "no OpenAI markers leak into an Anthropic stream")
    }

    func testToolUseRoundTrip() throws {
        let body = #"""
            {"model":"chat","max_tokens":64,
             "tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}}}}],
             "messages":[{"role":"user","content":"what is the weather in Paris?"}]}
            """#
        let response = try messages(body)
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertEqual(response.json["stop_reason"] as? String, "tool_use")
        let block = try XCTUnwrap((response.json["content"] as? [[String: Any]])?.first { $0["type"] as? String == "tool_use" })
        XCTAssertEqual(block["name"] as? String, "get_weather")
        XCTAssertEqual((block["input"] as? [String: Any])?["location"] as? String, "Paris")
        let id = try XCTUnwrap(block["id"] as? String)
        let followUp = #"""
            {"model":"chat","max_tokens":64,
             "messages":[{"role":"user","content":"what is the weather in Paris?"},
                         {"role":"assistant","content":[{"type":"tool_use","id":"\#(id)","name":"get_weather","input":{"location":"Paris"}}]},
                         {"role":"user","content":[{"type":"tool_result","tool_use_id":"\#(id)","content":"sunny"}]}]}
            """#
        let answer = try messages(followUp)
        XCTAssertEqual(answer.status, 200, answer.text)
        XCTAssertEqual(answer.json["type"] as? String, "message")
    }

    func testErrorsHaveAnthropicsShape() throws {
        let unknown = try messages(#"{"model":"no-such-route","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(unknown.status, 404)
        XCTAssertEqual(unknown.json["type"] as? String, "error")
        XCTAssertEqual((unknown.json["error"] as? [String: Any])?["type"] as? String, "not_found_error")
        let invalid = try messages(#"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(invalid.status, 400, invalid.text)
        XCTAssertEqual((invalid.json["error"] as? [String: Any])?["type"] as? String, "invalid_request_error")
        let noKey = try gateway().client.send(.post, "/v1/messages", headers: [("anthropic-version", "2023-06-01")],
                                              body: #"{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(noKey.status, 401)
        XCTAssertEqual((noKey.json["error"] as? [String: Any])?["type"] as? String, "authentication_error")
        let limited = try messages(#"{"model":"rate-limited","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual((limited.json["error"] as? [String: Any])?["type"] as? String, "rate_limit_error")
        XCTAssertEqual(limited.header("retry-after"), "7")
    }

    func testBearerAuthAlsoWorks() throws {
        let response = try gateway().client.post("/v1/messages", key: key,
                                                 #"{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(response.status, 200, response.text)
    }
}
