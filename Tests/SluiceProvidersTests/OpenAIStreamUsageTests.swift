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

    func testAzurePreambleIsDroppedAndRunningTotalsBecomeOneFinalUsageChunk() throws {
        // Azure's first chunk: no choices, empty id and object, prompt filter results.
        let preamble = #"data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}"# + "\n\n"
        // Databricks: the running totals on every content chunk.
        let first = #"data: {"id":"d1","object":"chat.completion.chunk","created":7,"model":"dbx","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"# + "\n\n"
        let last = #"data: {"id":"d1","object":"chat.completion.chunk","created":7,"model":"dbx","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"# + "\n\n"
        for wantsUsage in [false, true] {
            var translator = OpenAIStreamTranslator(clientWantsUsage: wantsUsage)
            XCTAssertEqual(translator.translate(event: ArraySlice(preamble.utf8)).output, [], "the preamble never reaches the client")
            for chunk in [first, last] {
                let output = try XCTUnwrap(translator.translate(event: ArraySlice(chunk.utf8)).output)
                let text = String(decoding: output, as: UTF8.self)
                XCTAssertTrue(text.hasPrefix("data: {") && text.hasSuffix("}\n\n"), text)
                XCTAssertFalse(text.contains("usage"), "no usage on a chunk with choices: \(text)")
                XCTAssertTrue(text.contains(#""choices":[{"#), text)
            }
            XCTAssertEqual(translator.usage, TokenUsage(prompt: 5, completion: 2))
            let end = translator.translate(event: ArraySlice("data: [DONE]\n\n".utf8))
            XCTAssertTrue(end.isTerminal)
            let tail = String(decoding: end.output ?? [], as: UTF8.self)
            if wantsUsage {
                XCTAssertEqual(tail, #"data: {"id":"d1","object":"chat.completion.chunk","created":7,"model":"dbx","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#
                               + "\n\ndata: [DONE]\n\n", "exactly one final usage chunk, as OpenAI sends it")
            } else {
                XCTAssertTrue(tail.isEmpty, "no usage for a client that did not ask: \(tail)")
            }
        }
    }
}
