import SluiceProviders
import XCTest

/// The AWS event stream encoding: CRC32, the framer, the decoder and the encoder. The
/// reference frames were built by hand in Python (struct + binascii.crc32) and read back
/// with botocore's `EventStreamBuffer`.
final class EventStreamFramerTests: XCTestCase {
    /// botocore parses it as `contentBlockDelta` with payload `{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abcd"}`.
    private let deltaFrame = hex("0000009f00000057c37babff0b3a6576656e742d74797065070011636f6e74656e74426c6f636b44656c74610d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b22636f6e74656e74426c6f636b496e646578223a302c2264656c7461223a7b2274657874223a224869227d2c2270223a2261626364227df2ace5ff")
    /// One header of each type 0–9, empty payload.
    private let allTypesFrame = hex("000000570000004707a91881017400016601016202fe017303fed401690400011170016c05fffffffed5fa0e0001790600030102030164080000018f34069e00017509000102030405060708090a0b0c0d0e0f898adaa1")

    func testCRC32CheckValue() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum([UInt8]()), 0)
    }

    func testEncoderMatchesTheReferenceFrame() {
        let encoded = EventStreamEncoder.event("contentBlockDelta", json: #"{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abcd"}"#)
        XCTAssertEqual(encoded, deltaFrame)
        let all = EventStreamEncoder.encode(headers: [
            ("t", .bool(true)), ("f", .bool(false)), ("b", .byte(-2)), ("s", .short(-300)), ("i", .integer(70000)),
            ("l", .long(-5_000_000_000)), ("y", .bytes([1, 2, 3])), ("d", .timestamp(1_714_564_800_000)),
            ("u", .uuid(Array(0..<16))),
        ], payload: [])
        XCTAssertEqual(all, allTypesFrame)
    }

    func testDecoderReadsEveryHeaderType() throws {
        let message = try EventStreamMessage.decode(allTypesFrame[...])
        XCTAssertEqual(message.headers.map(\.value), [
            .bool(true), .bool(false), .byte(-2), .short(-300), .integer(70000), .long(-5_000_000_000), .bytes([1, 2, 3]),
            .timestamp(1_714_564_800_000), .uuid(Array(0..<16)),
        ])
        XCTAssertEqual(message.stringHeaders, ["t": "true", "f": "false", "b": "-2", "s": "-300", "i": "70000",
                                               "l": "-5000000000", "y": "AQID", "d": "1714564800000",
                                               "u": "00010203-0405-0607-0809-0a0b0c0d0e0f"])
        XCTAssertTrue(message.payload.isEmpty)
        let delta = try EventStreamMessage.decode(deltaFrame[...])
        XCTAssertEqual(delta.header(":event-type"), "contentBlockDelta")
        XCTAssertEqual(delta.header(":message-type"), "event")
        XCTAssertEqual(String(decoding: delta.payload, as: UTF8.self), #"{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abcd"}"#)
    }

    func testFramerSplitsMessagesWhateverTheChunking() {
        let stream = deltaFrame + allTypesFrame + deltaFrame
        for chunkSize in [1, 3, 12, 16, 100, stream.count] {
            var framer = EventStreamFramer()
            var messages: [[UInt8]] = []
            var index = 0
            while index < stream.count {
                let chunk = Array(stream[index..<min(index + chunkSize, stream.count)])
                XCTAssertTrue(chunk.withUnsafeBytes { framer.feed($0) { messages.append(Array($0)); return true } })
                index += chunkSize
            }
            XCTAssertEqual(messages, [deltaFrame, allTypesFrame, deltaFrame], "chunks of \(chunkSize)")
            XCTAssertEqual(framer.unfinished, [])
            XCTAssertNil(framer.failure)
        }
    }

    func testFramerStopsWhenTheHandlerSaysSo() {
        var framer = EventStreamFramer()
        var count = 0
        let stream = deltaFrame + deltaFrame
        XCTAssertFalse(stream.withUnsafeBytes { framer.feed($0) { _ in count += 1; return false } })
        XCTAssertEqual(count, 1)
    }

    func testMessageCRCMismatchIsAnError() {
        var corrupt = deltaFrame
        corrupt[40] ^= 0x01  // a header byte: only the message CRC notices
        XCTAssertThrowsError(try EventStreamMessage.decode(corrupt[...])) {
            XCTAssertEqual(($0 as? EventStreamError)?.kind, .messageChecksum)
        }
        var framer = EventStreamFramer()
        var delivered: [[UInt8]] = []
        let stream = deltaFrame + corrupt + deltaFrame
        XCTAssertFalse(stream.withUnsafeBytes { framer.feed($0) { delivered.append(Array($0)); return true } })
        XCTAssertEqual(delivered, [deltaFrame, corrupt], "the corrupt frame is handed on, so that decoding it reports the error")
        XCTAssertEqual(framer.failure?.kind, .messageChecksum)
        XCTAssertFalse(deltaFrame.withUnsafeBytes { framer.feed($0) { _ in XCTFail("nothing after a corrupt frame"); return true } })
    }

    func testPreludeCRCMismatchIsAnError() {
        var corrupt = deltaFrame
        corrupt[2] = 0x7F  // total length: the prelude CRC no longer matches
        XCTAssertThrowsError(try EventStreamMessage.decode(corrupt[...])) {
            XCTAssertEqual(($0 as? EventStreamError)?.kind, .preludeChecksum)
        }
        var framer = EventStreamFramer()
        var delivered = 0
        XCTAssertFalse(corrupt.withUnsafeBytes { framer.feed($0) { _ in delivered += 1; return true } })
        XCTAssertEqual(delivered, 1)
        XCTAssertEqual(framer.failure?.kind, .preludeChecksum)
    }
}

private func hex(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        out.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return out
}
