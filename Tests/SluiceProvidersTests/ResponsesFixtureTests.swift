import Foundation
import SluiceCore
@testable import SluiceProviders
import XCTest

/// The Responses API against golden fixtures in `Fixtures/responses/`, written from
/// OpenAI's Response schema (openai-python `types/responses`): per translating provider,
/// the provider's answer → the client's Response object (generated ids normalised), a
/// provider stream → the documented event sequence, and a native stream read as it passes.
final class ResponsesFixtureTests: XCTestCase {
    /// `resp_…`, `msg_…`, `fc_…`, `rs_…` ids the gateway makes up → `<prefix>_ID`; `created_at` → 0.
    private func normalised(_ body: [UInt8]) throws -> [String: Any] {
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        func id(_ value: Any?) -> Any? {
            guard let text = value as? String, let underscore = text.firstIndex(of: "_"),
                  text[text.index(after: underscore)...].count == 32 else { return value }
            return String(text[..<underscore]) + "_ID"
        }
        object["id"] = id(object["id"])
        object["created_at"] = 0
        object["output"] = (object["output"] as? [[String: Any]])?.map { item -> [String: Any] in
            var item = item
            item["id"] = id(item["id"])
            return item
        }
        return object
    }

    private func response(_ name: String, kind: ProviderKind, upstream: String) throws -> (Any, [UInt8]) {
        let body = try fixture("responses/\(name)/client_request.json")
        let request = try APIRequest(operation: .responses, body: body)
        let target = AnthropicSurface.target(for: kind)
        let made = try ResponsesSurface.chatRequest(fromResponses: body, history: nil, for: target)
        let chat = try APIRequest(operation: .chatCompletions, body: made.chat)
        let translator = ProviderRegistry.translator(for: kind)
        let completion = try translator.clientBody(for: chat, status: 200, body: try fixture(upstream)) ?? fixture(upstream)
        let context = ResponsesContext(request: body, model: request.model)
        let (object, _) = try ResponsesSurface.responseObject(fromChatCompletion: completion, context: context)
        return (try normalised(object), object)
    }

    func testAnthropicToolCallsBecomeFunctionCallItems() throws {
        let (actual, _) = try response("anthropic_tool_call", kind: .anthropic, upstream: "anthropic/tool_use_response/upstream_response.json")
        ProviderFixtures.assertJSON(actual, try ProviderFixtures.json("responses/anthropic_tool_call/client_response.json"))
    }

    func testBedrockReasoningBecomesAReasoningItemAndCutAnswersAreIncomplete() throws {
        var (actual, _) = try response("bedrock_reasoning", kind: .bedrock, upstream: "responses/bedrock_reasoning/upstream_response.json")
        var object = try XCTUnwrap(actual as? [String: Any])
        var output = try XCTUnwrap(object["output"] as? [[String: Any]])
        let envelope = try XCTUnwrap(output[0]["encrypted_content"] as? String)
        let blocks = try XCTUnwrap(ReasoningEnvelope.blocks(from: envelope))
        XCTAssertEqual(blocks.first?["signature"]?.stringValue, "c2lnbmF0dXJl", "the signed block travels in encrypted_content")
        output[0]["encrypted_content"] = "ENVELOPE"
        object["output"] = output
        actual = object
        ProviderFixtures.assertJSON(actual, try ProviderFixtures.json("responses/bedrock_reasoning/client_response.json"))
    }

    func testDatabricksAnswerBecomesAMessageItem() throws {
        let (actual, _) = try response("databricks_text", kind: .databricks, upstream: "responses/databricks_text/upstream_response.json")
        ProviderFixtures.assertJSON(actual, try ProviderFixtures.json("responses/databricks_text/client_response.json"))
    }

    func testAnthropicStreamBecomesTheDocumentedEvents() throws {
        let body = Array(#"{"model":"claude-route","input":"Weather in Paris and London?","stream":true}"#.utf8)
        let context = ResponsesContext(request: body, model: "claude-route")
        let outcome = ResponsesStreamOutcome()
        var translator = ChainedStreamTranslator(
            AnthropicStreamTranslator(model: "claude-route", created: 0, clientWantsUsage: true),
            ResponsesSurface.streamTranslator(context: context, outcome: outcome))
        var framer = SSEFramer()
        var transcript: [UInt8] = []
        var terminal = false
        let upstream = try fixture("anthropic/stream_tool_calls/upstream_stream.sse")
        _ = upstream.withUnsafeBytes { raw in
            framer.feed(raw) { event in
                let result = translator.translate(event: event)
                transcript += result.output ?? Array(event)
                terminal = terminal || result.isTerminal
                return true
            }
        }
        XCTAssertTrue(terminal)
        let events = String(decoding: transcript, as: UTF8.self).components(separatedBy: "\n\n").filter { !$0.isEmpty }
        let payloads = try events.map { block -> [String: Any] in
            let lines = block.components(separatedBy: "\n")
            let name = try XCTUnwrap(lines.first { $0.hasPrefix("event: ") }?.dropFirst(7))
            let data = try XCTUnwrap(lines.first { $0.hasPrefix("data: ") }?.dropFirst(6))
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any])
            XCTAssertEqual(object["type"] as? String, String(name), "the event line names the data's type")
            return object
        }
        XCTAssertEqual(payloads.map { $0["type"] as? String ?? "" },
                       try XCTUnwrap(ProviderFixtures.json("responses/anthropic_stream/client_events.json") as? [String]))
        XCTAssertEqual(payloads.map { $0["sequence_number"] as? Int ?? -1 }, Array(0..<payloads.count))
        let completed = try XCTUnwrap(payloads.last?["response"] as? [String: Any])
        let output = try XCTUnwrap(completed["output"] as? [[String: Any]])
        XCTAssertEqual(output.map { $0["type"] as? String }, ["message", "function_call", "function_call"])
        XCTAssertEqual(output[1]["arguments"] as? String, #"{"location": "Paris, France"}"#)
        XCTAssertEqual((completed["usage"] as? [String: Any])?["input_tokens"] as? Int, 472)
        let kept = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try XCTUnwrap(outcome.assistant))) as? [String: Any])
        XCTAssertEqual((kept["tool_calls"] as? [[String: Any]])?.count, 2, "the conversation keeps both calls")
    }

    func testNativeStreamPassesAndItsIdAndUsageAreRead() throws {
        let outcome = ResponsesStreamOutcome()
        var translator = ResponsesPassthroughStream(outcome: outcome)
        var framer = SSEFramer()
        var terminal = false
        _ = try fixture("responses/native_stream/upstream_stream.sse").withUnsafeBytes { raw in
            framer.feed(raw) { event in
                let result = translator.translate(event: event)
                XCTAssertNil(result.output, "native events pass as they came")
                terminal = terminal || result.isTerminal
                return true
            }
        }
        XCTAssertTrue(terminal)
        XCTAssertEqual(outcome.responseID, "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654")
        XCTAssertEqual(translator.usage, TokenUsage(prompt: 37, completion: 11, cached: 12, reasoning: 4))
    }
}
