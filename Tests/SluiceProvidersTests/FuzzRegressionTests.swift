import SluiceCore
import SluiceProviders
import XCTest

/// Inputs that trapped a worker (Int overflow) when run through the libFuzzer harnesses
/// in Fuzz/ (`scripts/soak.d/fuzz`): token counts a provider writes, and a client's
/// thinking budget, are added up, so an absurd value (`9223372036854775807`, or `1e300`,
/// which Foundation reads as Int.min) overflowed. Counts are now clamped to
/// `0...TokenUsage.maxCount` where they are read, and the budget is refused above it.
final class FuzzRegressionTests: XCTestCase {
    private let max = "9223372036854775807"
    private let clamped = TokenUsage.maxCount

    private func request(_ json: String, _ operation: APIOperation = .chatCompletions) throws -> APIRequest {
        try APIRequest(operation: operation, body: Array(json.utf8))
    }

    private var chat: APIRequest {
        get throws { try request(#"{"model":"route","messages":[{"role":"user","content":"hi"}],"stream":true}"#) }
    }

    /// FuzzProviders: Anthropic `message` usage (`AnthropicCounts.usage` added the parts).
    func testAnthropicMessageWithAbsurdUsage() throws {
        let body = #"{"type":"message","id":"m","content":[],"usage":{"input_tokens":\#(max),"cache_read_input_tokens":5,"output_tokens":1}}"#
        let translated = try XCTUnwrap(AnthropicTranslator(now: { 0 }).clientBody(for: chat, status: 200, body: Array(body.utf8)))
        XCTAssertTrue(String(decoding: translated, as: UTF8.self).contains("\"prompt_tokens\":\(clamped + 5)"))
        // Read back (as the gateway reads any OpenAI-shaped usage), the count is clamped again.
        XCTAssertEqual(TokenUsage.openAI(in: translated), TokenUsage(prompt: clamped, completion: 1, cached: 5))
        let native = try request(#"{"model":"r","max_tokens":1,"messages":[]}"#, .messages)
        XCTAssertEqual(AnthropicPassthrough().usage(for: native, in: Array(body.utf8))?.prompt, clamped + 5)
    }

    /// FuzzStreams: usage on a content chunk (Databricks' way), totalled at `[DONE]`.
    func testOpenAIStreamWithAbsurdUsageOnAContentChunk() {
        let chunk = #"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":{"prompt_tokens":\#(max),"completion_tokens":1}}"# + "\n\n"
        var translator = OpenAIStreamTranslator(clientWantsUsage: true)
        _ = translator.translate(event: ArraySlice(chunk.utf8))
        let done = translator.translate(event: ArraySlice("data: [DONE]\n\n".utf8))
        XCTAssertTrue(done.isTerminal)
        XCTAssertTrue(String(decoding: done.output ?? [], as: UTF8.self).contains("\"total_tokens\":\(clamped + 1)"))
    }

    /// FuzzProviders: a chat completion re-shaped for Messages and Responses clients
    /// (`MessagesUsage.anthropicObject` subtracted a negative cache count, `ResponsesItems.usage` added).
    func testChatCompletionWithAbsurdUsageOnTheSurfaces() throws {
        let body = #"{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":\#(max),"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":-1}}}"#
        let message = try AnthropicSurface.messageResponse(fromChatCompletion: Array(body.utf8), model: "route")
        XCTAssertEqual(TokenUsage.anthropic(in: message), TokenUsage(prompt: clamped, completion: 1))
        let context = ResponsesContext(request: Array(#"{"model":"route","input":"hi"}"#.utf8), model: "route", now: 0)
        let made = try ResponsesSurface.responseObject(fromChatCompletion: Array(body.utf8), context: context)
        XCTAssertEqual(TokenUsage.openAI(in: made.response), TokenUsage(prompt: clamped, completion: 1))
    }

    /// FuzzProviders: Bedrock Converse usage (`totalTokens - outputTokens` with `1e300`).
    func testBedrockConverseWithAbsurdUsage() throws {
        let body = #"{"output":{"message":{"role":"assistant","content":[{"text":"Hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":1e300}}"#
        let translated = try XCTUnwrap(BedrockTranslator().clientBody(for: chat, status: 200, body: Array(body.utf8)))
        XCTAssertEqual(TokenUsage.openAI(in: translated), TokenUsage(prompt: 1, completion: 1))
        let huge = #"{"output":{"message":{"role":"assistant","content":[]}},"usage":{"inputTokens":\#(max),"outputTokens":\#(max),"cacheReadInputTokens":\#(max)}}"#
        let capped = try XCTUnwrap(BedrockTranslator().clientBody(for: chat, status: 200, body: Array(huge.utf8)))
        XCTAssertEqual(TokenUsage.openAI(in: capped)?.completion, clamped)
    }

    /// FuzzRequests: a client's `thinking.budget_tokens` is added to the output cap for
    /// Anthropic and Bedrock; an absurd one is now a 400, not a trap.
    func testAbsurdThinkingBudgetIsRefused() throws {
        let body = #"{"model":"m","messages":[{"role":"user","content":"hi"}],"thinking":{"type":"enabled","budget_tokens":\#(max)}}"#
        let endpoint = EndpointConfig(name: "e", provider: "p", model: "claude")
        let limits = TransferLimits(connect: .seconds(1), firstByte: .seconds(1), idle: .seconds(1), total: .seconds(1))
        for kind in [ProviderKind.anthropic, .bedrock] {
            let provider = ProviderConfig(name: "p", kind: kind, baseURL: "https://example.com", apiKey: Secret("k", origin: "test"))
            XCTAssertThrowsError(try ProviderRegistry.translator(for: kind).upstreamRequest(
                for: request(body), endpoint: endpoint, provider: provider, limits: limits)) { error in
                XCTAssertEqual((error as? GatewayError)?.httpStatus, 400, "\(kind)")
                XCTAssertEqual((error as? GatewayError)?.param, "thinking.budget_tokens", "\(kind)")
            }
        }
    }
}
