import Foundation
import SluiceCore
import SluiceProviders
import XCTest

/// JSON text with sorted keys and no whitespace, so that two documents compare by meaning.
func canonicalJSON(_ bytes: [UInt8]) throws -> String {
    let object = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed])
    return String(decoding: data, as: UTF8.self)
}

/// Fails unless `actual` is the same JSON as `Fixtures/<path>` (member order and spacing aside).
func assertJSON(_ actual: [UInt8], equalsFixture path: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let expected = try canonicalJSON(fixture(path, file: file, line: line))
    let got = try canonicalJSON(actual)
    XCTAssertEqual(got, expected, "body differs from \(path)", file: file, line: line)
}

/// Fails unless `actual` and `expected` are the same JSON.
func assertJSON(_ actual: [UInt8], equals expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
    XCTAssertEqual(try canonicalJSON(actual), try canonicalJSON(Array(expected.utf8)), file: file, line: line)
}

/// One event of a stream transcript: its name and its data (canonical JSON when it is JSON).
struct TranscriptEvent: Equatable, CustomStringConvertible {
    var name: String?
    var data: String

    var description: String { (name.map { "event: \($0)\n" } ?? "") + "data: \(data)" }
}

/// The events of an SSE byte stream, framed by `SSEFramer`.
func transcript(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> [TranscriptEvent] {
    var framer = SSEFramer()
    var events: [TranscriptEvent] = []
    _ = bytes.withUnsafeBytes {
        framer.feed($0) { event in
            var name: String?
            var data = ""
            for line in String(decoding: event, as: UTF8.self).split(separator: "\n") {
                if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
            }
            events.append(TranscriptEvent(name: name, data: (try? canonicalJSON(Array(data.utf8))) ?? data))
            return true
        }
    }
    XCTAssertEqual(framer.unfinished, [], "the stream ends with a complete event", file: file, line: line)
    return events
}

/// Runs every event of `Fixtures/<input>` through `translator` one at a time and returns
/// what each one became.
func translateStream(_ input: String, with translator: inout some StreamTranslator,
                     file: StaticString = #filePath, line: UInt = #line) throws -> [TranslatedEvent] {
    try fixtureEvents(input, file: file, line: line).map { translator.translate(event: $0[...]) }
}

/// Fails unless the translated events, concatenated, are the stream in `Fixtures/<path>`.
func assertStream(_ translated: [TranslatedEvent], equalsFixture path: String,
                  file: StaticString = #filePath, line: UInt = #line) throws {
    XCTAssertTrue(translated.allSatisfy { $0.output != nil || $0.error != nil },
                  "a re-shaped stream never passes an upstream event through", file: file, line: line)
    let actual = transcript(translated.flatMap { $0.output ?? [] }, file: file, line: line)
    let expected = transcript(try fixture(path, file: file, line: line), file: file, line: line)
    XCTAssertEqual(actual.count, expected.count, "event count of \(path)", file: file, line: line)
    for (index, (got, want)) in zip(actual, expected).enumerated() {
        XCTAssertEqual(got, want, "event \(index) of \(path)", file: file, line: line)
    }
}
