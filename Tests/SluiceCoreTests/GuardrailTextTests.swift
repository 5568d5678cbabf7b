import SluiceCore
import XCTest

/// What guardrails read: the decoded text of a JSON body's content strings, mapped back
/// to whole escapes; operator patterns matched in linear time; 1 MB hostile bodies.
final class GuardrailTextTests: XCTestCase {
    /// Each content string's decoded text, and the raw bytes a detector's matches map to.
    private func scan(_ json: String, _ detector: Detector) -> (texts: [String], raw: [String]) {
        let body = Array(json.utf8)
        return body.withUnsafeBytes { raw in
            let pieces = GuardrailText.pieces(in: raw)
            let texts = pieces.map { piece in piece.withText(in: raw) { String(decoding: $0, as: UTF8.self) } }
            let matches = pieces.flatMap { piece in
                piece.withText(in: raw) { detector.matches(in: $0) }.map { String(decoding: body[piece.rawRange($0)], as: UTF8.self) }
            }
            return (texts, matches)
        }
    }

    func testEscapesAreDecodedAndMatchesMapBackToWholeEscapes() {
        let key = scan(#"{"content":"key \u0041KIAIOSFODNN7EXAMPLE, ok"}"#, .awsKey)
        XCTAssertEqual(key.texts, ["key AKIAIOSFODNN7EXAMPLE, ok"])
        XCTAssertEqual(key.raw, [#"\u0041KIAIOSFODNN7EXAMPLE"#])
        let pem = #"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAbCd\n-----END RSA PRIVATE KEY-----"#
        XCTAssertEqual(scan(#"{"content":"x \#(pem) y"}"#, .privateKey).raw, [pem], "the whole block, not its first line")
        // A surrogate pair and a two-byte escape decode to UTF-8; a match next to them keeps them whole.
        let mixed = scan(#"{"text":"\ud83d\ude00 caf\u00e9 bob@example.com\t"}"#, .email)
        XCTAssertEqual(mixed.texts, ["😀 café bob@example.com\t"])
        XCTAssertEqual(mixed.raw, ["bob@example.com"])
        // Escaped quotes and backslashes are text, not ends.
        XCTAssertEqual(scan(#"{"content":"say \"hi\" \\ to a@b.io"}"#, .email).texts, [#"say "hi" \ to a@b.io"#])
    }

    func testPatternsAreCaseInsensitivePOSIXAndRefuseBackReferences() throws {
        let pattern = try XCTUnwrap(LinearPattern("inc-[0-9]{6}"))
        let text = Array("INC-123456 and inc-654321, not inc-12".utf8)
        let found = text.withUnsafeBytes { pattern.matches(in: $0) }.map { String(decoding: text[$0], as: UTF8.self) }
        XCTAssertEqual(found, ["INC-123456", "inc-654321"])
        XCTAssertNotNil(LinearPattern.problem(#"(a)\1"#))
        XCTAssertNotNil(LinearPattern.problem("a(b"))
        XCTAssertNil(LinearPattern.problem("^[[:alpha:]]+$"))
        // An empty match moves on instead of looping; the config refuses such patterns.
        let any = try XCTUnwrap(LinearPattern("x*"))
        XCTAssertEqual(Array("axxb".utf8).withUnsafeBytes { any.matches(in: $0) }, [1..<3])
        XCTAssertNotNil(LinearPattern.problem("x*"))
        // GNU extensions glibc accepted still work; ^ and $ are the text's ends.
        XCTAssertNil(LinearPattern.problem(#"\bproject \w+\b"#))
        let word = try XCTUnwrap(LinearPattern(#"\bcode\s\w+"#))
        let coded = Array("decode x, code red\ncode blue".utf8)
        XCTAssertEqual(coded.withUnsafeBytes { word.matches(in: $0) }.map { String(decoding: coded[$0], as: UTF8.self) },
                       ["code red", "code blue"])
        let anchored = try XCTUnwrap(LinearPattern("^code"))
        XCTAssertEqual(coded.withUnsafeBytes { anchored.matches(in: $0) }.count, 0, "^ is the start of the text, not of a line")
    }

    /// 1 MB of input shaped to defeat each matcher: glibc's regexec took 3.4 s on 40 kB
    /// against [a-z]+@[a-z]+ (it restarts at every position); RE2 and the detectors make
    /// one pass. Four times the input takes about four times the time (a quadratic scan
    /// would take sixteen); the best of two runs of the small one, against a busy machine.
    func testOneMegabyteOfHostileTextIsScannedInLinearTime() throws {
        let patterns = try ["[a-z]+@[a-z]+", "(a+)+b", "x.*y", "([a-z]+ )+[0-9]"].map { try XCTUnwrap(LinearPattern($0)) }
        func scan(_ text: [UInt8]) -> Duration {
            let start = ContinuousClock.now
            text.withUnsafeBytes { raw in
                for pattern in patterns { _ = pattern.matches(in: raw) }
                for detector in Detector.allCases { _ = detector.matches(in: raw) }
            }
            return ContinuousClock.now - start
        }
        for unit in ["a@", "1 ", "-----BEGIN "] {
            let quarter = Array(String(repeating: unit, count: 250_000 / unit.count).utf8)
            let whole = quarter + quarter + quarter + quarter
            let small = min(scan(quarter), scan(quarter)), large = scan(whole)
            XCTAssertLessThan(large, small * 8 + .milliseconds(50), "\(unit): \(small) for 0.25 MB, \(large) for 1 MB")
            // Every detector and four patterns, in a debug build (a release build is ~10x faster).
            XCTAssertLessThan(large, .seconds(10), "\(unit): 1 MB took \(large)")
        }
    }
}
