import SluiceProviders
import XCTest

/// `SSEFramer` cuts a byte stream into whole events, whatever the chunk boundaries.
final class SSEFramerTests: XCTestCase {
    func testSplitsOnEachBlankLineForm() {
        XCTAssertEqual(frame("data: a\n\ndata: b\n\n"), ["data: a\n\n", "data: b\n\n"])
        XCTAssertEqual(frame("data: a\r\n\r\ndata: b\r\n\r\n"), ["data: a\r\n\r\n", "data: b\r\n\r\n"])
        XCTAssertEqual(frame("data: a\r\rdata: b\r\r"), ["data: a\r\r", "data: b\r\r"])
        XCTAssertEqual(frame("event: x\ndata: 1\nid: 7\n\n: comment\n\n"), ["event: x\ndata: 1\nid: 7\n\n", ": comment\n\n"])
        XCTAssertEqual(frame("id: 1\r\ndata: 2\r\n\r\n"), ["id: 1\r\ndata: 2\r\n\r\n"], "single CRLFs inside an event")
    }

    func testMixedTerminatorsInOneStream() {
        XCTAssertEqual(frame("data: a\n\ndata: b\r\n\r\ndata: c\r\r"), ["data: a\n\n", "data: b\r\n\r\n", "data: c\r\r"])
    }

    func testMixedLineEndsWithinOneEvent() {
        XCTAssertEqual(frame("data: a\n\r\ndata: b\r\n\n"), ["data: a\n\r\n", "data: b\r\n\n"])
        XCTAssertEqual(frameBytes(Array("data: a\r\rdata: b\r\r".utf8), chunkSizes: [9, 1, 9]).map(text),
                       ["data: a\r\r", "data: b\r\r"], "a CR-only stream ends each event at its second CR")
    }

    func testNoEventWithoutABlankLine() {
        var framer = SSEFramer()
        var events: [String] = []
        XCTAssertTrue(feed(&framer, "data: a\ndata: b\n") { events.append($0); return true })
        XCTAssertEqual(events, [])
        XCTAssertEqual(framer.unfinished, Array("data: a\ndata: b\n".utf8))
    }

    func testUnfinishedHoldsOnlyTheIncompleteTail() {
        var framer = SSEFramer()
        var events: [String] = []
        _ = feed(&framer, "data: one\n\ndata: tw") { events.append($0); return true }
        XCTAssertEqual(events, ["data: one\n\n"])
        XCTAssertEqual(String(decoding: framer.unfinished, as: UTF8.self), "data: tw")
        _ = feed(&framer, "o\n") { events.append($0); return true }
        XCTAssertEqual(events.count, 1)
        _ = feed(&framer, "\n") { events.append($0); return true }
        XCTAssertEqual(events, ["data: one\n\n", "data: two\n\n"])
        XCTAssertEqual(framer.unfinished, [])
    }

    func testEarlyStopWhenTheCallbackReturnsFalse() {
        var framer = SSEFramer()
        var calls = 0
        let result = feed(&framer, "data: 1\n\ndata: 2\n\ndata: 3\n\n") { _ in calls += 1; return false }
        XCTAssertFalse(result)
        XCTAssertEqual(calls, 1, "no event after the callback said stop")

        var stopsAtSecond = SSEFramer()
        var seen: [String] = []
        XCTAssertFalse(feed(&stopsAtSecond, "data: 1\n\ndata: 2\n\ndata: 3\n\n") { seen.append($0); return seen.count < 2 })
        XCTAssertEqual(seen, ["data: 1\n\n", "data: 2\n\n"])
        XCTAssertEqual(String(decoding: stopsAtSecond.unfinished, as: UTF8.self), "data: 3\n\n",
                       "what was not delivered stays in the framer")
    }

    func testGoldenStreamWholeByteByByteAndInRandomChunks() throws {
        let stream = try fixture("openai/chat/upstream_stream.sse")
        let whole = frameBytes(stream, chunkSizes: [stream.count])
        XCTAssertEqual(whole.count, 7)
        XCTAssertEqual(whole.joined().count, stream.count, "every byte belongs to exactly one event")
        XCTAssertEqual(Array(whole.joined()), stream)
        XCTAssertEqual(String(decoding: whole.last ?? [], as: UTF8.self), "data: [DONE]\n\n")

        XCTAssertEqual(frameBytes(stream, chunkSizes: [1]), whole, "one byte at a time")
        var random = LCG(seed: 0xC0FFEE)
        for round in 0..<50 {
            let sizes = (0..<20).map { _ in 1 + Int(random.next() % 97) }
            XCTAssertEqual(frameBytes(stream, chunkSizes: sizes), whole, "round \(round), chunk sizes \(sizes)")
        }
    }

    func testGoldenStreamWithCRLFAndCRLineEndsByteByByte() throws {
        let stream = try fixture("openai/chat/upstream_stream.sse")
        let lf = frameBytes(stream, chunkSizes: [stream.count])
        for ending in [[UInt8(0x0D), 0x0A], [0x0D]] {
            let converted = stream.flatMap { $0 == 0x0A ? ending : [$0] }
            let expected = lf.map { event in event.flatMap { $0 == 0x0A ? ending : [$0] } }
            XCTAssertEqual(frameBytes(converted, chunkSizes: [converted.count]), expected)
            XCTAssertEqual(frameBytes(converted, chunkSizes: [1]), expected)
            var random = LCG(seed: 7)
            for _ in 0..<20 {
                let sizes = (0..<10).map { _ in 1 + Int(random.next() % 13) }
                XCTAssertEqual(frameBytes(converted, chunkSizes: sizes), expected, "chunk sizes \(sizes)")
            }
        }
    }

    func testTerminatorSplitAcrossChunks() {
        XCTAssertEqual(frameBytes(Array("data: a\r\n\r\n".utf8), chunkSizes: [8, 1, 1, 1]).map(text), ["data: a\r\n\r\n"])
        XCTAssertEqual(frameBytes(Array("data: a\r\n\r\n".utf8), chunkSizes: [10, 1]).map(text), ["data: a\r\n\r\n"])
        XCTAssertEqual(frameBytes(Array("data: a\n\n".utf8), chunkSizes: [8, 1]).map(text), ["data: a\n\n"])
        XCTAssertEqual(frameBytes(Array("data: a\r\r".utf8), chunkSizes: [8, 1]).map(text), ["data: a\r\r"])
    }

    // MARK: data(of:)

    func testDataOfAnEvent() {
        XCTAssertEqual(data("data: hello\n\n"), "hello")
        XCTAssertEqual(data("data:hello\n\n"), "hello")
        XCTAssertEqual(data("data:  two spaces\n\n"), " two spaces", "only one leading space is dropped")
        XCTAssertEqual(data("event: message\ndata: {\"a\":1}\nid: 3\n\n"), "{\"a\":1}")
        XCTAssertEqual(data("id: 1\r\ndata: crlf\r\n\r\n"), "crlf")
        XCTAssertEqual(data("data: cr\r\r"), "cr")
        XCTAssertEqual(data("data: first\ndata: second\n\n"), "first")
        XCTAssertEqual(data("data:\n\n"), "")
        XCTAssertEqual(data("data: no terminator"), "no terminator")
        XCTAssertNil(data(": comment\n\n"))
        XCTAssertNil(data("event: ping\n\n"))
        XCTAssertNil(data(" data: indented\n\n"), "a field name starts the line")
        XCTAssertNil(data("datum: x\n\n"))
        XCTAssertNil(data(""))
    }

    func testDataOfASliceInTheMiddleOfABuffer() {
        let buffer = Array("xxdata: inner\n\nyy".utf8)
        let event = buffer[2..<15]
        XCTAssertEqual(SSEFramer.data(of: event).map { String(decoding: $0, as: UTF8.self) }, "inner")
    }

    func testDataOfEventsTheFramerProduced() {
        // The framer hands out slices of its buffer (non-zero start indices after the first).
        var framer = SSEFramer()
        var values: [String] = []
        _ = Array("data: a\n\n: c\n\ndata: [DONE]\n\n".utf8).withUnsafeBytes { raw in
            framer.feed(raw) { event in
                values.append(SSEFramer.data(of: event).map { String(decoding: $0, as: UTF8.self) } ?? "<none>")
                return true
            }
        }
        XCTAssertEqual(values, ["a", "<none>", "[DONE]"])
    }
}

// MARK: - Helpers

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

private func data(_ event: String) -> String? {
    SSEFramer.data(of: Array(event.utf8)[...]).map { String(decoding: $0, as: UTF8.self) }
}

private func feed(_ framer: inout SSEFramer, _ text: String, _ onEvent: (String) -> Bool) -> Bool {
    Array(text.utf8).withUnsafeBytes { raw in
        framer.feed(raw) { onEvent(String(decoding: $0, as: UTF8.self)) }
    }
}

private func frame(_ stream: String) -> [String] {
    frameBytes(Array(stream.utf8), chunkSizes: [stream.utf8.count]).map(text)
}

/// The events of `stream` fed in chunks of the given sizes (cycled until the stream ends).
private func frameBytes(_ stream: [UInt8], chunkSizes: [Int]) -> [[UInt8]] {
    var framer = SSEFramer()
    var events: [[UInt8]] = []
    var offset = 0
    var sizeIndex = 0
    while offset < stream.count {
        let size = max(1, chunkSizes[sizeIndex % chunkSizes.count])
        sizeIndex += 1
        let end = min(stream.count, offset + size)
        _ = stream[offset..<end].withUnsafeBytes { framer.feed($0) { events.append(Array($0)); return true } }
        offset = end
    }
    return events
}

/// A tiny seeded generator for reproducible chunk sizes.
private struct LCG {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 33
    }
}
