import Foundation
import XCTest

/// Context-window fallback: an endpoint whose declared window a request does not fit is
/// skipped; no endpoint fitting is a 400 naming the limit; a provider's own "context
/// length exceeded" answer moves on to the next endpoint as well.
final class ContextWindowTests: XCTestCase {
    func testRequestsSkipEndpointsTheyDoNotFit() throws {
        let stack = try GatewayStack(config: { stack in
            GatewayStack.mockConfig(stack, workers: 1, threads: 4, """
            routes:
              sized:
                type: chat
                endpoints:
                  - { name: small, provider: mock, model: small-model, context_window: 100 }
                  - { name: large, provider: mock, model: large-model, context_window: 2000, fallback_only: true }
              declared-wrong:
                type: chat
                retry: { on: [connect] }
                endpoints:
                  - { name: openai-short, provider: mock, model: "short-model@context_window=40" }
                  - { name: claude-short, provider: mock-anthropic, model: "claude-short@context_window=60", fallback_only: true }
                  - { name: roomy, provider: mock, model: roomy-model, fallback_only: true }
            principals:
              "*": {}
            """)
        })
        defer { stack.stop() }
        let key = try stack.createKey(name: "context")
        func ask(_ route: String, words: Int, maxTokens: Int = 10) -> TestResponse {
            let text = Array(repeating: "lorem", count: words).joined(separator: " ")
            return stack.client.post("/v1/chat/completions", key: key,
                                     #"{"model":"\#(route)","max_tokens":\#(maxTokens),"messages":[{"role":"user","content":"\#(text)"}]}"#)
        }
        // Fits the small window: served there.
        let short = ask("sized", words: 5)
        XCTAssertEqual(short.status, 200, short.text)
        XCTAssertEqual(short.header("x-sluice-endpoint"), "small")
        XCTAssertNil(short.header("x-sluice-context-skipped"))
        // About 80 words × 6 bytes ≈ 120+ tokens: too much for 100, served by the large one.
        let long = ask("sized", words: 80)
        XCTAssertEqual(long.status, 200, long.text)
        XCTAssertEqual(long.header("x-sluice-endpoint"), "large")
        XCTAssertEqual(long.header("x-sluice-context-skipped"), "small")
        XCTAssertEqual(stack.mockCount(model: "small-model"), 1, "the small endpoint was not called for the long prompt")
        // max_tokens counts too.
        XCTAssertEqual(ask("sized", words: 5, maxTokens: 500).header("x-sluice-endpoint"), "large")
        // Tool definitions are prompt too: a short question with ~420 bytes of tool schema
        // (~105 tokens) does not fit the small window.
        let schema = (0..<12).map { #""field\#($0)":{"type":"string"}"# }.joined(separator: ",")
        let tools = #"[{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{\#(schema)}}}}]"#
        XCTAssertGreaterThan(tools.utf8.count, 400)
        let withTools = stack.client.post("/v1/chat/completions", key: key,
                                          #"{"model":"sized","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":\#(tools)}"#)
        XCTAssertEqual(withTools.status, 200, withTools.text)
        XCTAssertEqual(withTools.header("x-sluice-endpoint"), "large")
        XCTAssertEqual(withTools.header("x-sluice-context-skipped"), "small")
        // Fits nowhere: a 400 naming the limit, and no provider call.
        let huge = ask("sized", words: 2000)
        XCTAssertEqual(huge.status, 400)
        XCTAssertEqual(huge.errorCode, "context_length_exceeded")
        XCTAssertTrue(huge.text.contains("2000 tokens"), huge.text)
        XCTAssertEqual(stack.mockCount(model: "large-model"), 3)

        // No window declared, but the providers say so themselves (OpenAI's code, then
        // Anthropic's wording): the call moves on, though the route retries on connect only.
        let answered = ask("declared-wrong", words: 60)
        XCTAssertEqual(answered.status, 200, answered.text)
        XCTAssertEqual(answered.header("x-sluice-endpoint"), "roomy")
        XCTAssertEqual(answered.header("x-sluice-attempts"), "3")
        let record = try stack.auditRecord(of: answered)
        let attempts = try XCTUnwrap(record["attempts"] as? [[String: Any]])
        XCTAssertEqual(attempts.map { $0["error"] as? String }, ["context_length", "context_length", "ok"])
        // A short one stays on the first endpoint.
        XCTAssertEqual(ask("declared-wrong", words: 2).header("x-sluice-endpoint"), "openai-short")
    }
}
