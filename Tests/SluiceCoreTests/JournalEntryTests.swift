import SluiceCore
import XCTest

final class JournalEntryTests: XCTestCase {
    func testEntriesRoundTripAndATornOrDamagedEntryIsSkipped() {
        let first = JournalEntry.encode(keys: ["s:audit", "s:head"], arguments: ["B", "1000", "host:1:0", "7", "1", "86400",
                                                                                  "req-7", "call", #"{"a":"b\n\"c\""}"#])
        let second = JournalEntry.encode(keys: ["k"], arguments: ["", "ünïcode", "line\nbreak"])
        let third = JournalEntry.encode(keys: [], arguments: ["x"])
        var damaged = second
        damaged[damaged.count - 3] ^= 0x01
        // first, a damaged copy of second, second, third torn in half.
        let bytes = first + damaged + second + Array(third.prefix(third.count / 2))
        let decoded = JournalEntry.decodeAll(bytes)
        XCTAssertEqual(decoded.calls.count, 2)
        XCTAssertEqual(decoded.calls[0].keys, ["s:audit", "s:head"])
        XCTAssertEqual(decoded.calls[0].arguments.last, #"{"a":"b\n\"c\""}"#)
        XCTAssertEqual(decoded.calls[1].keys, ["k"])
        XCTAssertEqual(decoded.calls[1].arguments, ["", "ünïcode", "line\nbreak"])
        XCTAssertEqual(decoded.skipped, 2, "the damaged entry and the torn one")
        XCTAssertEqual(JournalEntry.decodeAll(third).calls.map(\.arguments), [["x"]])
        // Absurd lengths in a damaged header or payload are skipped, not trusted.
        let huge = Array("SJ1 0123456789abcdef 9223372036854775807\n".utf8) + third
        XCTAssertEqual(JournalEntry.decodeAll(huge).calls.count, 1)
        var payload = Array("9223372036854775807\nx\n".utf8)
        let checksum = Hex.lower(withUnsafeBytes(of: JournalEntry.checksumForTests(payload).bigEndian) { Array($0) })
        payload = Array("SJ1 \(checksum) \(payload.count)\n".utf8) + payload
        XCTAssertEqual(JournalEntry.decodeAll(payload).calls.count, 0)
    }

    /// The format byte for byte (journals written before an upgrade are replayed after it):
    /// the header, then each field as `<byte count>\n<bytes>\n`, counts of ten and more
    /// included.
    func testTheEncodingIsTheDocumentedFormat() {
        let long = String(repeating: "x", count: 1234)
        let entry = JournalEntry.encode(keys: ["a"], arguments: ["bc", "", "ü", long] + Array(repeating: "k", count: 9))
        let payload = Array(("1\n1\n1\na\n2\nbc\n0\n\n2\nü\n1234\n\(long)\n" + String(repeating: "1\nk\n", count: 9)).utf8)
        let checksum = Hex.lower(withUnsafeBytes(of: JournalEntry.checksumForTests(payload).bigEndian) { Array($0) })
        XCTAssertEqual(entry, Array("SJ1 \(checksum) \(payload.count)\n".utf8) + payload)
        let many = (0..<12).map(String.init)
        XCTAssertEqual(JournalEntry.decodeAll(JournalEntry.encode(keys: many, arguments: [])).calls.first?.keys, many)
    }
}
