import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SluiceCore
@testable import SluiceMockProvider
import SluiceProviders
import XCTest

/// The mock's Bedrock prompt caching (`cachePoint`), reasoning content, forced tools and
/// the CountTokens operation.
final class MockProviderBedrockFeatureTests: XCTestCase {
    private let model = "anthropic.claude-sonnet-4-20250514-v1:0"
    private let thinking: [String: Any] = ["thinking": ["type": "enabled", "budget_tokens": 2048]]

    private func user(_ text: String) -> [[String: Any]] {
        [["role": "user", "content": [["text": text]]]]
    }

    func testCachePointsWriteThenReadWithTTLDetails() async throws {
        let mock = try MockClient()
        let long = Array(repeating: "policy", count: 30).joined(separator: " ")
        let body: [String: Any] = [
            "system": [["text": long], ["cachePoint": ["type": "default", "ttl": "1h"]]],
            "messages": [["role": "user", "content": [["text": "first part"], ["cachePoint": ["type": "default"]],
                                                      ["text": "the rest"]]]],
        ]
        let first = try await bedrockUsage(mock.bedrock(model, "converse", body))
        XCTAssertEqual(first["cacheReadInputTokens"] as? Int, 0)
        XCTAssertEqual(first["cacheWriteInputTokens"] as? Int, 30 + 3 + 2)
        XCTAssertEqual(first["inputTokens"] as? Int, 2)
        let details = try XCTUnwrap(first["cacheDetails"] as? [[String: Any]])
        XCTAssertEqual(details.map { $0["ttl"] as? String }, ["1h", "5m"])
        XCTAssertEqual(details.map { $0["inputTokens"] as? Int }, [30, 5])
        let output = try XCTUnwrap(first["outputTokens"] as? Int)
        XCTAssertEqual(first["totalTokens"] as? Int, 2 + 35 + output)

        let second = try await bedrockUsage(mock.bedrock(model, "converse", body))
        XCTAssertEqual(second["cacheReadInputTokens"] as? Int, 35)
        XCTAssertEqual(second["cacheWriteInputTokens"] as? Int, 0)
        XCTAssertEqual(second["inputTokens"] as? Int, 2)
        XCTAssertNil(second["cacheDetails"])

        let stream = try await mock.bedrock(model, "converse-stream", body)
        let messages = eventStreamMessages(stream.body).messages
        let metadata = try payload(try XCTUnwrap(messages.last))
        let usage = try XCTUnwrap(metadata["usage"] as? [String: Any])
        XCTAssertEqual(usage["cacheReadInputTokens"] as? Int, 35)
        XCTAssertEqual(usage["inputTokens"] as? Int, 2)

        let plain = try await bedrockUsage(mock.bedrock(model, "converse", ["messages": user("x")]))
        XCTAssertNil(plain["cacheReadInputTokens"], "no cachePoint, no cache members")
    }

    func testReasoningContentInAnswerStreamAndHistory() async throws {
        let mock = try MockClient()
        let body: [String: Any] = ["messages": user("hello there"), "additionalModelRequestFields": thinking,
                                   "inferenceConfig": ["maxTokens": 4096]]
        let object = try await mock.bedrock(model, "converse", body).object()
        let message = try XCTUnwrap((object["output"] as? [String: Any])?["message"] as? [String: Any])
        let content = try XCTUnwrap(message["content"] as? [[String: Any]])
        let reasoning = try XCTUnwrap((content[0]["reasoningContent"] as? [String: Any])?["reasoningText"] as? [String: Any])
        let text = try XCTUnwrap(reasoning["text"] as? String)
        XCTAssertEqual(reasoning["signature"] as? String, MockThinking.signature(for: text))
        XCTAssertEqual(content[1]["text"] as? String, "Echo: hello there")
        XCTAssertEqual((object["usage"] as? [String: Any])?["outputTokens"] as? Int, MockAnswer.words(of: text).count + 3)

        let stream = try await mock.bedrock(model, "converse-stream", body)
        let events = try eventStreamMessages(stream.body).messages.map { ($0.header(":event-type"), try payload($0)) }
        let deltas = events.filter { $0.0 == "contentBlockDelta" && $0.1["contentBlockIndex"] as? Int == 0 }
            .compactMap { ($0.1["delta"] as? [String: Any])?["reasoningContent"] as? [String: Any] }
        XCTAssertGreaterThan(deltas.count, 2)
        XCTAssertEqual(deltas.compactMap { $0["text"] as? String }.joined(), text)
        XCTAssertEqual(deltas.last?["signature"] as? String, MockThinking.signature(for: text))
        let answer = events.filter { $0.0 == "contentBlockDelta" && $0.1["contentBlockIndex"] as? Int == 1 }
            .compactMap { ($0.1["delta"] as? [String: Any])?["text"] as? String }.joined()
        XCTAssertEqual(answer, "Echo: hello there")

        func followUp(_ assistant: [[String: Any]]) -> [String: Any] {
            ["messages": user("hello there") + [["role": "assistant", "content": assistant]] + user("again"),
             "additionalModelRequestFields": thinking]
        }
        let accepted = try await mock.bedrock(model, "converse", followUp(content))
        XCTAssertEqual(accepted.status, 200)
        var tampered = content
        tampered[0] = ["reasoningContent": ["reasoningText": ["text": text, "signature": "forged"]]]
        let refused = try await mock.bedrock(model, "converse", followUp(tampered))
        XCTAssertEqual(refused.status, 400)
        let error = try bedrockError(refused)
        XCTAssertEqual(error.type, "ValidationException")
        XCTAssertTrue(error.message.contains("Invalid `signature` in `thinking` block"), error.message)
    }

    func testForcedToolInputValidatesAgainstInputSchema() async throws {
        let mock = try MockClient()
        let schema: [String: Any] = ["type": "object", "properties": [
            "city": ["type": "string"], "unit": ["type": "string", "enum": ["c", "f"]], "count": ["type": "integer", "minimum": 2],
        ], "required": ["city", "unit", "count"]]
        let object = try await mock.bedrock(model, "converse", [
            "messages": user("hi"),
            "toolConfig": ["tools": [["toolSpec": ["name": "forecast", "inputSchema": ["json": schema]]]],
                           "toolChoice": ["tool": ["name": "forecast"]]],
        ]).object()
        let message = try XCTUnwrap((object["output"] as? [String: Any])?["message"] as? [String: Any])
        let toolUse = try XCTUnwrap((message["content"] as? [[String: Any]])?.first?["toolUse"] as? [String: Any])
        let input = try XCTUnwrap(toolUse["input"] as? [String: Any])
        XCTAssertEqual(Set(input.keys), ["city", "unit", "count"])
        XCTAssertEqual(input["unit"] as? String, "c")
        XCTAssertEqual(input["count"] as? Int, 2)
    }

    func testCountTokensForConverseAndInvokeModelBodies() async throws {
        let mock = try MockClient()
        let converse: [String: Any] = ["messages": user("count these words"), "system": [["text": "be brief"]]]
        let counted = try await mock.bedrock(model, "count-tokens", ["input": ["converse": converse]])
        XCTAssertEqual(counted.status, 200)
        XCTAssertEqual(try counted.object() as NSDictionary, ["inputTokens": 2 + 3 + 3] as NSDictionary)
        let billed = try await mock.bedrock(model, "converse", converse).object()
        XCTAssertEqual((billed["usage"] as? [String: Any])?["inputTokens"] as? Int, 8)

        let invokeBody = try JSONSerialization.data(withJSONObject: [
            "anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "system": "be brief",
            "messages": [["role": "user", "content": "count these words"]],
        ])
        let invoked = try await mock.bedrock(model, "count-tokens",
                                             ["input": ["invokeModel": ["body": invokeBody.base64EncodedString()]]])
        XCTAssertEqual(invoked.status, 200)
        XCTAssertEqual(try invoked.object()["inputTokens"] as? Int, 5 + 6)

        let empty = try await mock.bedrock(model, "count-tokens", ["input": [String: Any]()])
        XCTAssertEqual(empty.status, 400)
        XCTAssertEqual(try bedrockError(empty).type, "ValidationException")
        let missing = try await mock.bedrock(model, "count-tokens", [:])
        XCTAssertEqual(try bedrockError(missing).type, "ValidationException")
    }
}

/// The `usage` object of a Converse answer.
private func bedrockUsage(_ response: MockResponse) throws -> [String: Any] {
    try XCTUnwrap(response.object()["usage"] as? [String: Any])
}
