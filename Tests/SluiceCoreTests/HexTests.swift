import SluiceCore
import XCTest

/// `Hex.lower` over arrays, other sequences and raw bytes gives the same text; the audit
/// chain's hash and a digest's hex match `sha1sum` / `sha256sum`.
final class HexTests: XCTestCase {
    func testEveryPathGivesTheSameText() {
        let bytes: [UInt8] = [0x00, 0x0f, 0x10, 0xa5, 0xff, 0x7e]
        XCTAssertEqual(Hex.lower(bytes), "000f10a5ff7e")
        XCTAssertEqual(Hex.lower(bytes.lazy.map { $0 }), "000f10a5ff7e", "a sequence without contiguous storage")
        XCTAssertEqual(bytes.withUnsafeBytes(Hex.lower), "000f10a5ff7e")
        XCTAssertEqual(Hex.lower([UInt8]()), "")
        XCTAssertEqual(Hex.lower(Array(repeating: UInt8(0xab), count: 100)), String(repeating: "ab", count: 100))
    }

    func testDigestsMatchTheCommandLineTools() {
        // printf 'prev\nrecord' | sha1sum
        XCTAssertEqual(AuditBatch.chainHash(prev: "prev", record: "record"), "af06bc406b7a81a157b239f645873f4bdf2f9b07")
        // printf 'abc' | sha256sum
        XCTAssertEqual(Digest.sha256Hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
