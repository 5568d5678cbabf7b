import Foundation
import SluiceCore
@testable import SluiceProviders
import XCTest

/// Anthropic Messages clients against golden fixtures written from Anthropic's and
/// Bedrock's documentation: the native passthrough (`Fixtures/anthropic_native/`) and the
/// Converse mapping for Messages (`Fixtures/bedrock/messages_*`, `count_tokens`).
final class MessagesNativeTests: XCTestCase {
    private let limits = ProviderFixtures.limits
    private let anthropic = ProviderConfig(name: "anthropic", kind: .anthropic, baseURL: "https://api.anthropic.com/v1",
                                           apiKey: Secret("sk-ant-SECRET", origin: "test"), authHeader: "x-api-key",
                                           authPrefix: "")
    private let bedrock = ProviderConfig(name: "bedrock", kind: .bedrock, baseURL: "https://bedrock-runtime.us-east-1.amazonaws.com",
                                         apiKey: Secret("k", origin: "test"), authHeader: "Authorization", authPrefix: "Bearer ")
    private let claudeOnBedrock = ProviderFixtures.endpoint("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0")

    private func messages(_ body: [UInt8], _ operation: APIOperation = .messages,
                          headers: [(name: String, value: String)] = []) throws -> APIRequest {
        var request = try APIRequest(operation: operation, body: body)
        request.clientHeaders = headers
        return request
    }

    func testNativeBodyIsTheClientsBytesButForModel() throws {
        // Odd spacing, escapes and number spellings must survive: nothing is re-encoded.
        let body = Array(#"{ "model" : "claude",  "max_tokens":1024,"system":[{"type":"text","text":"caf\u00e9 \"x\"","cache_control":{"type":"ephemeral","ttl":"1h"}}],"messages":[{"role":"user","content":"hi"}],"thinking":{"type":"enabled","budget_tokens":1.024e3},"new_field":[1.50]}"#.utf8)
        let request = try messages(body, headers: [("anthropic-version", "2023-06-01"), ("anthropic-beta", "a-2025,b-2026")])
        let upstream = try AnthropicPassthrough().upstreamRequest(for: request, endpoint: ProviderFixtures.endpoint("a", "claude-opus-4-5"),
                                                                   provider: anthropic, limits: limits)
        XCTAssertEqual(upstream.url, "https://api.anthropic.com/v1/messages")
        let expected = String(decoding: body, as: UTF8.self).replacingOccurrences(of: #""model" : "claude""#,
                                                                                  with: #""model" : "claude-opus-4-5""#)
        XCTAssertEqual(String(decoding: upstream.body, as: UTF8.self), expected)
        XCTAssertEqual(upstream.headers.filter { $0.name == "anthropic-beta" }.map(\.value), ["a-2025,b-2026"])
        XCTAssertEqual(upstream.headers.filter { $0.name == "anthropic-version" }.map(\.value), ["2023-06-01"])
        XCTAssertEqual(upstream.headers.filter { $0.name == "x-api-key" }.map(\.value), ["sk-ant-SECRET"])

        let count = try messages(Array(#"{"model":"claude","messages":[{"role":"user","content":"hi"}]}"#.utf8), .countTokens)
        let counted = try AnthropicPassthrough().upstreamRequest(for: count, endpoint: ProviderFixtures.endpoint("a", "claude-opus-4-5"),
                                                                  provider: anthropic, limits: limits)
        XCTAssertEqual(counted.url, "https://api.anthropic.com/v1/messages/count_tokens")
        XCTAssertEqual(counted.headers.filter { $0.name == "anthropic-version" }.map(\.value), [anthropic.anthropicVersion],
                       "the provider's version when the client sent none")
    }

    func testNativeStreamIsRelayedUnchangedAndItsUsageRead() throws {
        var translator = AnthropicPassthroughStream()
        var framer = SSEFramer()
        var terminal = false
        let stream = try fixture("anthropic_native/stream_thinking_cache/upstream_stream.sse")
        var events = 0
        _ = stream.withUnsafeBytes { raw in
            framer.feed(raw) { event in
                let translated = translator.translate(event: event)
                XCTAssertNil(translated.output, "every event passes as it came")
                XCTAssertNil(translated.error)
                terminal = terminal || translated.isTerminal
                events += 1
                return true
            }
        }
        XCTAssertEqual(events, 11)
        XCTAssertTrue(terminal, "message_stop ends the stream")
        XCTAssertEqual(translator.usage, TokenUsage(prompt: 14 + 2051 + 1800, completion: 87, cached: 1800, cacheWrite: 51,
                                                    cacheWrite1h: 2000))
    }

    func testNativeAnswersUsageCountsCacheReadsAndWrites() {
        let answer = Array(#"{"id":"msg_1","type":"message","role":"assistant","content":[],"usage":{"input_tokens":21,"cache_creation_input_tokens":188086,"cache_read_input_tokens":1000,"cache_creation":{"ephemeral_5m_input_tokens":86,"ephemeral_1h_input_tokens":188000},"output_tokens":393}}"#.utf8)
        XCTAssertEqual(TokenUsage.anthropic(in: answer),
                       TokenUsage(prompt: 21 + 188_086 + 1000, completion: 393, cached: 1000, cacheWrite: 86, cacheWrite1h: 188_000))
        let price = ModelPrice(input: 3, output: 15, cachedInput: 0.3)
        // 21 × 3 + 1000 × 0.3 + 86 × 3.75 + 188000 × 6 + 393 × 15, in millionths of a dollar → nano-dollars.
        XCTAssertEqual(price.costNanos(TokenUsage.anthropic(in: answer)!), Int64((21 * 3 + 300 + 86 * 3.75 + 188_000 * 6 + 393 * 15) * 1000))
    }

    func testMessagesToBedrockMatchTheConverseFixture() throws {
        let request = try messages(fixture("bedrock/messages_cache_thinking/client_request.json"),
                                   headers: [("anthropic-beta", "interleaved-thinking-2025-05-14")])
        var conversions: [MessagesTarget: APIRequest] = [:]
        let (chat, translator) = try XCTUnwrap(try ProviderRegistry.call(request, kind: .bedrock, conversions: &conversions))
        let upstream = try translator.upstreamRequest(for: chat, endpoint: claudeOnBedrock, provider: bedrock, limits: limits)
        try ProviderFixtures.assertUpstream(upstream, matches: "bedrock/messages_cache_thinking/upstream_request.json")
    }

    func testBedrockReasoningAnswerBecomesASignedThinkingBlock() throws {
        let request = try messages(Array(#"{"model":"claude-bedrock","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}"#.utf8))
        var conversions: [MessagesTarget: APIRequest] = [:]
        let (chat, translator) = try XCTUnwrap(try ProviderRegistry.call(request, kind: .bedrock, conversions: &conversions))
        let completion = try XCTUnwrap(translator.clientBody(for: chat, status: 200,
                                                             body: fixture("bedrock/messages_reasoning_response/upstream_response.json")))
        XCTAssertEqual(translator.usage(for: chat, in: completion),
                       TokenUsage(prompt: 512, completion: 20, cached: 300, cacheWrite: 50, cacheWrite1h: 150))
        let message = try AnthropicSurface.messageResponse(fromChatCompletion: completion, model: "claude-bedrock")
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(message)) as? [String: Any])
        XCTAssertTrue((object["id"] as? String ?? "").hasPrefix("msg_"))
        object["id"] = "msg_ID"
        ProviderFixtures.assertJSON(object, try ProviderFixtures.json("bedrock/messages_reasoning_response/client_response.json"))
    }

    func testCountTokensOnBedrockUsesTheCountTokensOperation() throws {
        let request = try messages(fixture("bedrock/count_tokens/client_request.json"), .countTokens)
        var conversions: [MessagesTarget: APIRequest] = [:]
        let (same, translator) = try XCTUnwrap(try ProviderRegistry.call(request, kind: .bedrock, conversions: &conversions))
        let upstream = try translator.upstreamRequest(for: same, endpoint: claudeOnBedrock, provider: bedrock, limits: limits)
        try ProviderFixtures.assertUpstream(upstream, matches: "bedrock/count_tokens/upstream_request.json")
        let answer = try translator.clientBody(for: same, status: 200, body: Array(#"{"inputTokens":42}"#.utf8))
        XCTAssertEqual(answer.map { String(decoding: $0, as: UTF8.self) }, #"{"input_tokens":42}"#)
        XCTAssertNil(try ProviderRegistry.call(request, kind: .openai, conversions: &conversions),
                     "OpenAI has no count endpoint: the gateway estimates")
    }
}
