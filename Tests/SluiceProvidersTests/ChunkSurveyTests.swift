@testable import SluiceProviders
import XCTest

/// The one-pass scan the OpenAI stream translator runs on every chunk.
final class ChunkSurveyTests: XCTestCase {
    private func survey(_ text: String) -> ChunkSurvey {
        ChunkSurvey(of: ArraySlice(text.utf8))
    }

    func testTextValuesAreMeasuredAsWritten() {
        XCTAssertEqual(survey(#"{"choices":[{"delta":{"content":"Hello \"wor\u00e9ld\""}}]}"#).textBytes, 21)
        XCTAssertEqual(survey(#"{"choices":[{"delta":{"content" : "abc"}},{"text":"de"}]}"#).textBytes, 5)
        XCTAssertEqual(survey(#"{"choices":[{"delta":{"content":null,"role":"assistant"}}]}"#).textBytes, 0)
        XCTAssertEqual(survey(#"{"content":"ends \\"}"#).textBytes, 7, "an escaped backslash before the closing quote")
    }

    func testUsageAndEmptyChoicesInAnySpacing() {
        XCTAssertEqual(survey(#"{"choices":[],"usage":{"prompt_tokens":9}}"#), ChunkSurvey(hasUsage: true, noChoices: true))
        XCTAssertEqual(survey("{\"choices\": [ ],\n \"usage\":\t{\"prompt_tokens\": 2}}"),
                       ChunkSurvey(hasUsage: true, noChoices: true))
        XCTAssertEqual(survey(#"{"choices":[{"index":0}],"usage":null}"#), ChunkSurvey())
    }

    func testMembersInsideStringValuesDoNotCount() {
        // Text that spells a member is inside a string: skipped whole.
        let chunk = #"{"choices":[{"delta":{"content":"\"usage\":{ and \"choices\":[]"}}],"id":"usage"}"#
        XCTAssertEqual(survey(chunk), ChunkSurvey(textBytes: 30))
        XCTAssertEqual(survey(#"{"id":"text","model":"content"}"#), ChunkSurvey())
    }

    func testTruncatedChunksEndTheScan() {
        XCTAssertEqual(survey(#"{"choices":[{"delta":{"content":"unfinished"#).textBytes, 10)
        XCTAssertEqual(survey(#"{"usage":"#), ChunkSurvey())
        XCTAssertEqual(survey(#"{"cont"#), ChunkSurvey())
        XCTAssertEqual(survey(""), ChunkSurvey())
    }
}
