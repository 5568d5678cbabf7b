import SluiceCore
import XCTest

/// Counts that trapped a worker (Int overflow) once added up, from the libFuzzer
/// harnesses in Fuzz/ (`scripts/soak.d/fuzz`): a provider's usage is read here for every
/// provider, and a client's `max_tokens` is added to the prompt estimate by the governor.
/// Both are now clamped to `0...TokenUsage.maxCount` where they are read.
final class FuzzRegressionTests: XCTestCase {
    private let max = "9223372036854775807"
    private let clamped = TokenUsage.maxCount

    func testAbsurdOpenAIUsageIsClampedBeforeItIsAddedUp() throws {
        let body = Array(#"{"usage":{"prompt_tokens":\#(max),"completion_tokens":1,"cache_creation_input_tokens":-9223372036854775808,"cache_creation":{"ephemeral_1h_input_tokens":-9223372036854775808}}}"#.utf8)
        let usage = try XCTUnwrap(TokenUsage.openAI(in: body))
        XCTAssertEqual(usage, TokenUsage(prompt: clamped, completion: 1))
        XCTAssertEqual(usage.total, clamped + 1)
        XCTAssertEqual(usage.uncachedPrompt, clamped)
    }

    func testAbsurdAnthropicUsageIsClampedBeforeItIsAddedUp() throws {
        let body = Array(#"{"usage":{"input_tokens":\#(max),"cache_read_input_tokens":\#(max),"cache_creation_input_tokens":\#(max),"output_tokens":-5}}"#.utf8)
        let usage = try XCTUnwrap(TokenUsage.anthropic(in: body))
        XCTAssertEqual(usage, TokenUsage(prompt: 3 * clamped, completion: 0, cached: clamped, cacheWrite: clamped))
        XCTAssertEqual(usage.total, 3 * clamped)
    }

    func testAbsurdMaxTokensIsClamped() throws {
        for (field, value, expected) in [("max_tokens", max, clamped), ("max_completion_tokens", "-3", 0),
                                         ("max_tokens", "4096", 4096)] {
            let body = #"{"model":"m","messages":[],"\#(field)":\#(value)}"#
            let request = try APIRequest(operation: .chatCompletions, body: Array(body.utf8))
            XCTAssertEqual(request.maxTokens, expected, body)
            XCTAssertEqual(request.upstreamBody(model: "m"), Array(body.utf8), "the client's bytes go upstream unchanged")
        }
    }

    /// An absurd configured price times the largest count a call may report: bounded, no trap.
    func testCostOfTheLargestUsageAtAnAbsurdPriceIsBounded() {
        let price = ModelPrice(input: 1e9, output: 1e9)
        let cost = price.costNanos(TokenUsage(prompt: clamped, completion: clamped))
        XCTAssertGreaterThan(cost, 0)
        XCTAssertLessThanOrEqual(cost, 1 << 62)
        XCTAssertEqual(ModelPrice(input: 2.5, output: 10).costNanos(TokenUsage(prompt: 1_000_000, completion: 0)), 2_500_000_000)
    }
}
