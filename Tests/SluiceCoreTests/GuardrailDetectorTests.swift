import SluiceCore
import XCTest

/// The built-in guardrail detectors, the text a guardrail reads in a JSON body, and linear
/// time on hostile input.
final class GuardrailDetectorTests: XCTestCase {
    private func found(_ detector: Detector, _ text: String) -> [String] {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { raw in detector.matches(in: raw).map { String(decoding: bytes[$0], as: UTF8.self) } }
    }

    func testEachDetectorFindsItsShapeAndSkipsLookAlikes() {
        XCTAssertEqual(found(.email, "write to alice.b+x@mail.example.co.uk, or bob@x.io."), ["alice.b+x@mail.example.co.uk", "bob@x.io"])
        XCTAssertEqual(found(.email, "not@an, @handle, a@b.c"), [])
        XCTAssertEqual(found(.phone, "call +1 (415) 555-0132 or 030 1234 5678"), ["+1 (415) 555-0132", "030 1234 5678"])
        XCTAssertEqual(found(.phone, "build 12345, year 2026"), [])
        XCTAssertEqual(found(.creditCard, "card 4111 1111 1111 1111 and 4111-1111-1111-1112"), ["4111 1111 1111 1111"], "Luhn")
        XCTAssertEqual(found(.iban, "IBAN GB82 WEST 1234 5698 7654 32, not GB82 WEST 1234 5698 7654 33"), ["GB82 WEST 1234 5698 7654 32"])
        XCTAssertEqual(found(.iban, "DE89370400440532013000"), ["DE89370400440532013000"])
        XCTAssertEqual(found(.usSSN, "ssn 123-45-6789, 000-12-3456, 666-12-3456, 123-00-4567"), ["123-45-6789"])
        XCTAssertEqual(found(.ipAddress, "from 10.0.0.7 and 2001:db8::8a2e:370:7334, not 999.1.1.1 or 1.2.3"),
                       ["10.0.0.7", "2001:db8::8a2e:370:7334"])
        XCTAssertEqual(found(.ipAddress, "at 12:30 on v1.2.3.4.5"), [])
        XCTAssertEqual(found(.ipAddress, "mapped ::ffff:192.0.2.1 and 64:ff9b::10.0.0.1, not ::ffff:999.0.2.1x"),
                       ["::ffff:192.0.2.1", "64:ff9b::10.0.0.1"])
        XCTAssertEqual(found(.iban, "lower gb82 west 1234 5698 7654 32"), ["gb82 west 1234 5698 7654 32"])
        XCTAssertEqual(found(.usSSN, "spaced 123 45 6789, mixed 123-45 6789"), ["123 45 6789"])
        XCTAssertEqual(found(.awsKey, "key AKIAIOSFODNN7EXAMPLE here"), ["AKIAIOSFODNN7EXAMPLE"])
        XCTAssertEqual(found(.openAIKey, "sk-proj-abcdefghijklmnopqrstuvwxyz123456 sk-ant-api03-xyz sk-short"),
                       ["sk-proj-abcdefghijklmnopqrstuvwxyz123456"])
        XCTAssertEqual(found(.anthropicKey, "use sk-ant-api03-abcdefghijklmnopqrstuvwxyz"), ["sk-ant-api03-abcdefghijklmnopqrstuvwxyz"])
        XCTAssertEqual(found(.githubToken, "ghp_" + String(repeating: "a1", count: 18) + " ghp_short"), ["ghp_" + String(repeating: "a1", count: 18)])
        XCTAssertEqual(found(.slackToken, "xoxb-1234567890-abcdef"), ["xoxb-1234567890-abcdef"])
        let pem = "-----BEGIN RSA PRIVATE KEY-----\\nMIIEow\\n-----END RSA PRIVATE KEY-----"
        XCTAssertEqual(found(.privateKey, "here: " + pem + " done"), [pem])
        XCTAssertEqual(found(.privateKey, "-----BEGIN PUBLIC KEY-----"), [])
    }

    func testTheTextOfAJSONBodyIsItsContentStrings() {
        let body = Array(#"{"model":"alice@example.com","messages":[{"role":"user","content":"hi bob@example.com"},{"role":"user","content":[{"type":"text","text":"x@y.io"},{"type":"image_url","image_url":{"url":"data:a@b.cd"}}]}],"input":["one","two"],"user":"u@v.io"}"#.utf8)
        let texts = body.withUnsafeBytes { raw in GuardrailText.ranges(in: raw).map { String(decoding: body[$0], as: UTF8.self) } }
        XCTAssertEqual(texts, ["hi bob@example.com", "x@y.io", "one", "two"])
        // A tool call's input object: every string value in it, whatever its member names.
        let tool = Array(#"{"content":[{"type":"tool_use","id":"t1","name":"send","input":{"to":"a@b.io","cc":["c@d.io"],"n":3}},{"type":"text","text":"ok"}]}"#.utf8)
        let toolTexts = tool.withUnsafeBytes { raw in GuardrailText.ranges(in: raw).map { String(decoding: tool[$0], as: UTF8.self) } }
        XCTAssertEqual(toolTexts, ["a@b.io", "c@d.io", "ok"])
    }

    func testWordsMatchWholeWordsIgnoringCase() {
        let text = Array("The Acme Corp deal; acmecorp; ACME CORP!".utf8)
        let matches = text.withUnsafeBytes { GuardrailText.wordMatches(Array("acme corp".utf8), in: $0) }
        XCTAssertEqual(matches.count, 2)
    }

    func testHostileTextIsScannedInLinearTime() {
        // Inputs that make backtracking matchers blow up; twice the input must take about
        // twice the time, not four times or more.
        let units = ["a@", "1 ", "-----BEGIN ", "1.", "ab:", "4111 ", "+1 (", "AKIA", "sk-a"]
        func scan(_ text: [UInt8]) -> Duration {
            let start = ContinuousClock.now
            for detector in Detector.allCases { _ = text.withUnsafeBytes { detector.matches(in: $0) } }
            return ContinuousClock.now - start
        }
        for unit in units {
            let small = Array(String(repeating: unit, count: 60_000 / unit.count).utf8)
            let large = small + small
            _ = scan(small)
            let once = scan(small), twice = scan(large)
            XCTAssertLessThan(twice, once * 3 + .milliseconds(30), "\(unit): \(once) for 60 kB, \(twice) for 120 kB")
        }
    }
}
