import SluiceCore
import XCTest

final class DurationTextTests: XCTestCase {
    func testDurationsParse() {
        XCTAssertEqual(DurationText.parse("500ms"), .milliseconds(500))
        XCTAssertEqual(DurationText.parse("5s"), .seconds(5))
        XCTAssertEqual(DurationText.parse("1m"), .seconds(60))
        XCTAssertEqual(DurationText.parse("2h"), .seconds(7200))
        XCTAssertEqual(DurationText.parse("1d"), .seconds(86_400))
        XCTAssertEqual(DurationText.parse("30"), .seconds(30))
        XCTAssertEqual(DurationText.parse("0"), .zero)
        XCTAssertEqual(DurationText.parse("0ms"), .zero)
    }

    func testDurationsReject() {
        for text in ["", "-1s", "-5", "1.5s", "5 s", " 5s", "5sec", "s", "ms", "5S", "5x", "1m30s", "+5s", "0x10",
                     "99999999999999999999", "9999999999999999d"] {
            XCTAssertNil(DurationText.parse(text), text)
        }
    }

    func testByteSizesParse() {
        XCTAssertEqual(ByteSizeText.parse("8m"), 8 << 20)
        XCTAssertEqual(ByteSizeText.parse("8M"), 8 << 20)
        XCTAssertEqual(ByteSizeText.parse("512k"), 512 << 10)
        XCTAssertEqual(ByteSizeText.parse("1g"), 1 << 30)
        XCTAssertEqual(ByteSizeText.parse("1048576"), 1_048_576)
        XCTAssertEqual(ByteSizeText.parse("0"), 0)
    }

    func testByteSizesReject() {
        for text in ["", "-1", "-1m", "1.5m", "8mb", "8 m", "m", "8t", "abc", "9999999999999999999g"] {
            XCTAssertNil(ByteSizeText.parse(text), text)
        }
    }
}
