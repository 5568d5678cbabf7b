import SluiceCore
import SluiceProviders
import XCTest

/// The OpenAI stream translator always learns the usage, and hides the usage chunk from a
/// client that did not ask for it.
final class OpenAIStreamUsageTests: XCTestCase {
    private let content = #"data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hello \"wor\u00e9ld\""}}],"usage":null}"# + "\n\n"
    private let spaced = #"data: {"id": "c", "choices": [{"index": 0, "delta": {"content": "abc"}}]}"# + "\n\n"
    private let usage = #"data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}"# + "\n\n"
    private let spacedUsage = #"data: {"id": "c", "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 1}}"# + "\n\n"

    func testUsageChunkIsReadAndDroppedForAClientThatDidNotAskForIt() {
        var hidden = OpenAIStreamTranslator(clientWantsUsage: false)
        XCTAssertNil(hidden.translate(event: ArraySlice(content.utf8)).output, "content passes through unchanged")
        XCTAssertEqual(hidden.translate(event: ArraySlice(usage.utf8)).output, [], "the usage chunk is dropped")
        XCTAssertEqual(hidden.usage, TokenUsage(prompt: 9, completion: 4))
        XCTAssertTrue(hidden.translate(event: ArraySlice("data: [DONE]\n\n".utf8)).isTerminal)

        var shown = OpenAIStreamTranslator(clientWantsUsage: true)
        XCTAssertNil(shown.translate(event: ArraySlice(usage.utf8)).output, "kept for a client that asked")
        XCTAssertEqual(shown.usage, TokenUsage(prompt: 9, completion: 4))

        var python = OpenAIStreamTranslator(clientWantsUsage: false)
        XCTAssertEqual(python.translate(event: ArraySlice(spacedUsage.utf8)).output, [], "any spacing")
        XCTAssertEqual(python.usage, TokenUsage(prompt: 2, completion: 1))
    }

    func testErrorsInsideAStreamEndIt() {
        var translator = OpenAIStreamTranslator()
        let openAI = translator.translate(event: ArraySlice(#"data: {"error":{"message":"overloaded","type":"server_error"}}"#.utf8))
        XCTAssertEqual(openAI.error?.message, "overloaded")
        let databricks = translator.translate(
            event: ArraySlice(#"data: {"error_code":"TEMPORARILY_UNAVAILABLE","message":"The endpoint is scaling up."}"#.utf8))
        XCTAssertEqual(databricks.error?.message, "The endpoint is scaling up.")
    }

    func testGeneratedTextIsMeasuredForCutStreams() {
        var translator = OpenAIStreamTranslator(clientWantsUsage: false)
        _ = translator.translate(event: ArraySlice(content.utf8))
        XCTAssertEqual(translator.generatedBytes, #"Hello \"wor\u00e9ld\""#.utf8.count, "bytes as written, escapes included")
        _ = translator.translate(event: ArraySlice(spaced.utf8))
        XCTAssertEqual(translator.generatedBytes, #"Hello \"wor\u00e9ld\""#.utf8.count + 3)
        XCTAssertNil(translator.usage)
    }
}
