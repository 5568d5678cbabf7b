import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import SluiceMockProvider
import XCTest

/// The mock's Anthropic extended thinking, prompt caching, forced tools and request
/// recording, and the OpenAI chat mock's structured output, reasoning and cached tokens.
final class MockProviderAnthropicFeatureTests: XCTestCase {
    private static let version = ["anthropic-version": "2023-06-01"]

    private func messages(_ mock: MockClient, _ body: [String: Any],
                          headers: [String: String] = MockProviderAnthropicFeatureTests.version) async throws -> MockResponse {
        try await mock.post("/v1/messages", body, headers: headers)
    }

    private let thinkingOn: [String: Any] = ["type": "enabled", "budget_tokens": 2048]

    // MARK: Signatures

    func testSignatureIsBase64HMACSHA256OfTheThinkingText() {
        // RFC 4231 test case 2.
        let mac = MockSHA256.hmac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        XCTAssertEqual(MockSHA256.hex(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        XCTAssertEqual(MockSHA256.hex(MockSHA256.hash(Array("abc".utf8))),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let text = "Let me think."
        let expected = Data(MockSHA256.hmac(key: Array("sluice-mock-thinking-v1".utf8), message: Array(text.utf8)))
        XCTAssertEqual(MockThinking.signature(for: text), expected.base64EncodedString())
    }

    // MARK: Thinking

    func testThinkingBlockComesFirstAndCountsAsOutput() async throws {
        let mock = try MockClient()
        let object = try await messages(mock, [
            "model": "claude-think", "max_tokens": 4096, "thinking": thinkingOn,
            "messages": [["role": "user", "content": "hello there"]],
        ]).object()
        let content = try XCTUnwrap(object["content"] as? [[String: Any]])
        XCTAssertEqual(content.map { $0["type"] as? String }, ["thinking", "text"])
        let thinking = try XCTUnwrap(content[0]["thinking"] as? String)
        XCTAssertFalse(thinking.isEmpty)
        XCTAssertEqual(content[0]["signature"] as? String, MockThinking.signature(for: thinking))
        XCTAssertEqual(content[1]["text"] as? String, "Echo: hello there")
        let usage = try XCTUnwrap(object["usage"] as? [String: Any])
        XCTAssertEqual(usage["output_tokens"] as? Int, MockAnswer.words(of: thinking).count + 3)

        let disabled = try await messages(mock, [
            "model": "c", "max_tokens": 100, "thinking": ["type": "disabled"],
            "messages": [["role": "user", "content": "hello"]],
        ]).object()
        XCTAssertEqual((disabled["content"] as? [[String: Any]])?.map { $0["type"] as? String }, ["text"])
    }

    func testThinkingStreamSendsThinkingAndSignatureDeltas() async throws {
        let mock = try MockClient()
        let response = try await messages(mock, [
            "model": "c", "max_tokens": 4096, "stream": true, "thinking": thinkingOn,
            "messages": [["role": "user", "content": "hi there"]],
        ])
        let events = try namedEvents(response.text)
        let starts = events.filter { $0.name == "content_block_start" }
        XCTAssertEqual(starts.compactMap { $0.data["index"] as? Int }, [0, 1])
        XCTAssertEqual(starts[0].data["content_block"] as? NSDictionary,
                       ["type": "thinking", "thinking": "", "signature": ""] as NSDictionary)
        let zero = events.filter { $0.name == "content_block_delta" && $0.data["index"] as? Int == 0 }
            .compactMap { $0.data["delta"] as? [String: Any] }
        XCTAssertGreaterThan(zero.count, 3)
        XCTAssertEqual(zero.dropLast().map { $0["type"] as? String }, Array(repeating: "thinking_delta", count: zero.count - 1))
        XCTAssertEqual(zero.last?["type"] as? String, "signature_delta")
        let thinking = zero.compactMap { $0["thinking"] as? String }.joined()
        XCTAssertEqual(zero.last?["signature"] as? String, MockThinking.signature(for: thinking))
        let text = events.filter { $0.name == "content_block_delta" && $0.data["index"] as? Int == 1 }
            .compactMap { ($0.data["delta"] as? [String: Any])?["text"] as? String }.joined()
        XCTAssertEqual(text, "Echo: hi there")
        XCTAssertEqual(events.filter { $0.name == "content_block_stop" }.compactMap { $0.data["index"] as? Int }, [0, 1])
        let usage = try XCTUnwrap(events.first { $0.name == "message_delta" }?.data["usage"] as? [String: Any])
        XCTAssertEqual(usage["output_tokens"] as? Int, MockAnswer.words(of: thinking).count + 3)
        XCTAssertEqual(usage["input_tokens"] as? Int, 5)
        XCTAssertEqual(usage["cache_read_input_tokens"] as? Int, 0)
    }

    func testThinkingHistoryNeedsTheIssuedSignature() async throws {
        let mock = try MockClient()
        let tools: [[String: Any]] = [["name": "get_weather", "input_schema": ["type": "object"]]]
        let first = try await messages(mock, [
            "model": "c", "max_tokens": 4096, "thinking": thinkingOn, "tools": tools,
            "messages": [["role": "user", "content": "weather in Paris?"]],
        ]).object()
        let content = try XCTUnwrap(first["content"] as? [[String: Any]])
        XCTAssertEqual(content.map { $0["type"] as? String }, ["thinking", "tool_use"])
        let toolID = try XCTUnwrap(content[1]["id"] as? String)
        func followUp(_ assistant: [[String: Any]]) -> [String: Any] {
            ["model": "c", "max_tokens": 4096, "thinking": thinkingOn, "tools": tools, "messages": [
                ["role": "user", "content": "weather in Paris?"],
                ["role": "assistant", "content": assistant],
                ["role": "user", "content": [["type": "tool_result", "tool_use_id": toolID, "content": "sunny"]]],
            ]]
        }
        let good = try await messages(mock, followUp(content))
        XCTAssertEqual(good.status, 200)

        var tampered = content
        tampered[0]["signature"] = "AAAA" + (content[0]["signature"] as? String ?? "")
        let refused = try await messages(mock, followUp(tampered))
        XCTAssertEqual(refused.status, 400)
        XCTAssertEqual(try refused.error()["type"] as? String, "invalid_request_error")
        XCTAssertEqual(try refused.error()["message"] as? String, "messages.1.content.0: Invalid `signature` in `thinking` block")

        var edited = content
        edited[0]["thinking"] = "something else"
        let editedRefused = try await messages(mock, followUp(edited))
        XCTAssertEqual(editedRefused.status, 400)

        let missing = try await messages(mock, followUp([content[1]]))
        XCTAssertEqual(missing.status, 400)
        let message = try XCTUnwrap(missing.error()["message"] as? String)
        XCTAssertTrue(message.hasPrefix("messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`."),
                      message)
    }

    func testThinkingConfigIsCheckedAsAnthropicChecksIt() async throws {
        let mock = try MockClient()
        func refusal(_ thinking: [String: Any], maxTokens: Int = 4096) async throws -> String? {
            let response = try await messages(mock, [
                "model": "c", "max_tokens": maxTokens, "thinking": thinking, "messages": [["role": "user", "content": "x"]],
            ])
            XCTAssertEqual(response.status, 400)
            return try response.error()["message"] as? String
        }
        let low = try await refusal(["type": "enabled", "budget_tokens": 1000])
        XCTAssertEqual(low, "thinking.budget_tokens: Input should be greater than or equal to 1024")
        let high = try await refusal(["type": "enabled", "budget_tokens": 2048], maxTokens: 2048)
        XCTAssertTrue(high?.hasPrefix("`max_tokens` must be greater than `thinking.budget_tokens`") ?? false)
        let missing = try await refusal(["type": "enabled"])
        XCTAssertTrue(missing?.contains("budget_tokens") ?? false)
    }

    // MARK: Prompt caching

    func testCacheWritesThenReadsWithTTLSplit() async throws {
        let mock = try MockClient()
        let longText = Array(repeating: "cached", count: 40).joined(separator: " ")
        let body: [String: Any] = [
            "model": "claude-cache", "max_tokens": 100,
            "tools": [["name": "lookup", "description": "Look things up", "input_schema": ["type": "object"],
                       "cache_control": ["type": "ephemeral", "ttl": "1h"]]],
            "system": [["type": "text", "text": longText, "cache_control": ["type": "ephemeral", "ttl": "1h"]]],
            "messages": [["role": "user", "content": [
                ["type": "text", "text": "some question words", "cache_control": ["type": "ephemeral"]],
                ["type": "text", "text": "tail words"],
            ]]],
        ]
        let counted = try await mock.post("/v1/messages/count_tokens", body.filter { $0.key != "max_tokens" },
                                          headers: Self.version).object()
        let total = try XCTUnwrap(counted["input_tokens"] as? Int)

        let first = try await usageOf(messages(mock, body))
        let created = try XCTUnwrap(first["cache_creation"] as? [String: Int])
        XCTAssertEqual(first["cache_read_input_tokens"] as? Int, 0)
        XCTAssertEqual(first["input_tokens"] as? Int, 2, "the words after the last breakpoint")
        XCTAssertGreaterThan(created["ephemeral_1h_input_tokens"] ?? 0, 40)
        XCTAssertEqual(created["ephemeral_5m_input_tokens"], 3 + 3, "the message's overhead and words up to its breakpoint")
        XCTAssertEqual(first["cache_creation_input_tokens"] as? Int,
                       (created["ephemeral_1h_input_tokens"] ?? 0) + (created["ephemeral_5m_input_tokens"] ?? 0))
        XCTAssertEqual((first["input_tokens"] as? Int ?? 0) + (first["cache_creation_input_tokens"] as? Int ?? 0), total)

        let second = try await usageOf(messages(mock, body))
        XCTAssertEqual(second["cache_read_input_tokens"] as? Int, total - 2)
        XCTAssertEqual(second["cache_creation_input_tokens"] as? Int, 0)
        XCTAssertEqual(second["cache_creation"] as? [String: Int], ["ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0])
        XCTAssertEqual(second["input_tokens"] as? Int, 2)

        // A changed message keeps the tools and system prefix.
        var changed = body
        changed["messages"] = [["role": "user", "content": [
            ["type": "text", "text": "another question", "cache_control": ["type": "ephemeral"]],
        ]]]
        let third = try await usageOf(messages(mock, changed))
        XCTAssertEqual(third["cache_read_input_tokens"] as? Int, created["ephemeral_1h_input_tokens"])
        XCTAssertEqual(third["cache_creation_input_tokens"] as? Int, 3 + 2)

        var streamed = body
        streamed["stream"] = true
        let streamedResponse = try await messages(mock, streamed)
        let events = try namedEvents(streamedResponse.text)
        let start = try XCTUnwrap((events.first?.data["message"] as? [String: Any])?["usage"] as? [String: Any])
        XCTAssertEqual(start["cache_read_input_tokens"] as? Int, total - 2)
        let delta = try XCTUnwrap(events.first { $0.name == "message_delta" }?.data["usage"] as? [String: Any])
        XCTAssertEqual(delta["cache_read_input_tokens"] as? Int, total - 2)
        XCTAssertEqual(delta["input_tokens"] as? Int, 2)

        _ = try await mock.post("/_mock/reset", [:])
        let afterReset = try await usageOf(messages(mock, body))
        XCTAssertEqual(afterReset["cache_read_input_tokens"] as? Int, 0)
    }

    func testMoreThanFourBreakpointsAreRefused() async throws {
        let mock = try MockClient()
        let block: [String: Any] = ["type": "text", "text": "x", "cache_control": ["type": "ephemeral"]]
        let response = try await messages(mock, [
            "model": "c", "max_tokens": 10, "system": Array(repeating: block, count: 3),
            "messages": [["role": "user", "content": [block, block]]],
        ])
        XCTAssertEqual(response.status, 400)
        XCTAssertEqual(try response.error()["message"] as? String, "A maximum of 4 blocks with cache_control may be provided. Found 5.")
        let badTTL = try await messages(mock, [
            "model": "c", "max_tokens": 10,
            "messages": [["role": "user", "content": [["type": "text", "text": "x", "cache_control": ["type": "ephemeral", "ttl": "2h"]]]]],
        ])
        XCTAssertEqual(badTTL.status, 400)
    }

    // MARK: Forced tools and count_tokens

    func testForcedToolInputValidatesAgainstItsSchema() async throws {
        let mock = try MockClient()
        let schema: [String: Any] = [
            "type": "object",
            "properties": [
                "city": ["type": "string"],
                "unit": ["type": "string", "enum": ["celsius", "fahrenheit"]],
                "days": ["type": "integer", "minimum": 1],
                "detail": ["type": "object", "properties": ["level": ["const": "full"]], "required": ["level"]],
                "tags": ["type": "array", "items": ["type": "string"], "minItems": 1],
                "optional": ["type": "boolean"],
            ],
            "required": ["city", "unit", "days", "detail", "tags"],
        ]
        let object = try await messages(mock, [
            "model": "c", "max_tokens": 100, "tools": [["name": "forecast", "input_schema": schema]],
            "tool_choice": ["type": "tool", "name": "forecast"], "messages": [["role": "user", "content": "hi"]],
        ]).object()
        let block = try XCTUnwrap((object["content"] as? [[String: Any]])?.first)
        let input = try XCTUnwrap(block["input"] as? [String: Any])
        XCTAssertEqual(Set(input.keys), ["city", "unit", "days", "detail", "tags"])
        XCTAssertTrue(input["city"] is String)
        XCTAssertEqual(input["unit"] as? String, "celsius")
        XCTAssertEqual(input["days"] as? Int, 1)
        XCTAssertEqual(input["detail"] as? NSDictionary, ["level": "full"] as NSDictionary)
        XCTAssertEqual((input["tags"] as? [String])?.count, 1)
    }

    func testCountTokensCountsToolsWithoutMaxTokensAndIsRecorded() async throws {
        let mock = try MockClient()
        let base: [String: Any] = ["model": "c", "system": "be brief", "messages": [["role": "user", "content": "count these"]]]
        let plain = try await mock.post("/v1/messages/count_tokens", base, headers: Self.version).object()
        var withTools = base
        withTools["tools"] = [["name": "lookup", "description": "Look things up", "input_schema": ["type": "object"]]]
        let tooled = try await mock.post("/v1/messages/count_tokens", withTools, headers: Self.version).object()
        XCTAssertEqual(plain["input_tokens"] as? Int, 5 + 5)
        XCTAssertGreaterThan(tooled["input_tokens"] as? Int ?? 0, 10)
        let stats = try await mock.get("/_mock/stats").object()
        XCTAssertEqual((stats["by_path"] as? [String: Int])?["/v1/messages/count_tokens"], 2)
    }

    func testLastRequestKeepsRawBodyAndAnthropicHeaders() async throws {
        let mock = try MockClient()
        let raw = Data(#"{"model":"c",  "max_tokens":5,"messages":[{"role":"user","content":"héllo \/ x"}]}"#.utf8)
        let response = try await mock.send("POST", "/v1/messages", body: raw, headers: [
            "anthropic-version": "2023-06-01", "anthropic-beta": "prompt-caching-2024-07-31",
        ])
        XCTAssertEqual(response.status, 200)
        let stats = try await mock.get("/_mock/stats").object()
        let last = try XCTUnwrap(stats["last_request"] as? [String: Any])
        XCTAssertEqual(Data(base64Encoded: last["body_base64"] as? String ?? ""), raw)
        XCTAssertEqual(last["body"] as? String, String(decoding: raw, as: UTF8.self))
        let headers = try XCTUnwrap(last["headers"] as? [String: String])
        XCTAssertEqual(headers["anthropic-beta"], "prompt-caching-2024-07-31")
        XCTAssertEqual(headers["anthropic-version"], "2023-06-01")
    }

    // MARK: OpenAI chat

    func testChatJSONSchemaAndJSONObjectAnswers() async throws {
        let mock = try MockClient()
        let schema: [String: Any] = [
            "type": "object", "additionalProperties": false,
            "properties": ["name": ["type": "string"], "age": ["type": "integer"], "email": ["type": "string", "format": "email"]],
            "required": ["name", "age", "email"],
        ]
        let object = try await mock.post("/v1/chat/completions", [
            "model": "gpt", "messages": [["role": "user", "content": "who am i"]],
            "response_format": ["type": "json_schema", "json_schema": ["name": "person", "schema": schema, "strict": true]],
        ]).object()
        let message = try XCTUnwrap(((object["choices"] as? [[String: Any]])?.first)?["message"] as? [String: Any])
        let content = try jsonObject(try XCTUnwrap(message["content"] as? String))
        XCTAssertEqual(Set(content.keys), ["name", "age", "email"])
        XCTAssertTrue(content["name"] is String)
        XCTAssertEqual(content["age"] as? Int, 0)
        XCTAssertEqual(content["email"] as? String, "mock@example.com")

        let streamed = try await mock.post("/v1/chat/completions", [
            "model": "gpt", "stream": true, "messages": [["role": "user", "content": "who am i"]],
            "response_format": ["type": "json_schema", "json_schema": ["name": "person", "schema": schema]],
        ])
        let pieces = try sseData(streamed.text).filter { $0 != "[DONE]" }.compactMap { data -> String? in
            let choice = (try jsonObject(data)["choices"] as? [[String: Any]])?.first
            return (choice?["delta"] as? [String: Any])?["content"] as? String
        }
        XCTAssertGreaterThan(pieces.filter { !$0.isEmpty }.count, 1)
        XCTAssertEqual(try jsonObject(pieces.joined()) as NSDictionary, content as NSDictionary)

        let json = try await mock.post("/v1/chat/completions", [
            "model": "gpt", "messages": [["role": "user", "content": "answer in JSON please"]],
            "response_format": ["type": "json_object"],
        ]).object()
        let text = ((json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
        XCTAssertNotNil(try jsonObject(try XCTUnwrap(text)))
        let refused = try await mock.post("/v1/chat/completions", [
            "model": "gpt", "messages": [["role": "user", "content": "no keyword"]], "response_format": ["type": "json_object"],
        ])
        XCTAssertEqual(refused.status, 400)
    }

    func testChatReasoningEffortAndCachedTokens() async throws {
        let mock = try MockClient()
        let object = try await mock.post("/v1/chat/completions", [
            "model": "o-mock", "reasoning_effort": "low", "messages": [["role": "user", "content": "hi"]],
        ]).object()
        let usage = try XCTUnwrap(object["usage"] as? [String: Any])
        let reasoning = try XCTUnwrap((usage["completion_tokens_details"] as? [String: Int])?["reasoning_tokens"])
        XCTAssertGreaterThan(reasoning, 0)
        XCTAssertEqual(usage["completion_tokens"] as? Int, 2 + reasoning)

        let long = Array(repeating: "lorem", count: 1200).joined(separator: " ")
        let body: [String: Any] = ["model": "gpt", "messages": [["role": "system", "content": long],
                                                                ["role": "user", "content": "question"]]]
        let first = try await usageOf(mock.post("/v1/chat/completions", body))
        XCTAssertEqual((first["prompt_tokens_details"] as? [String: Int])?["cached_tokens"], 0)
        let second = try await usageOf(mock.post("/v1/chat/completions", body))
        let cached = try XCTUnwrap((second["prompt_tokens_details"] as? [String: Int])?["cached_tokens"])
        XCTAssertEqual(cached, (1200 + 3 + 1 + 3) / 128 * 128)
        XCTAssertEqual(cached % 128, 0)
    }
}

/// The `usage` object of a JSON answer.
private func usageOf(_ response: MockResponse) throws -> [String: Any] {
    try XCTUnwrap(response.object()["usage"] as? [String: Any])
}

