import Foundation
import SluiceCore
import XCTest

/// `JSONScanner` validates without building a tree and reports where each top-level
/// value lies; `JSONText` writes the small bodies the gateway makes itself.
final class JSONScannerTests: XCTestCase {
    // MARK: Valid documents

    func testTopLevelMembersKeysKindsAndRangesInOrder() throws {
        let text = #"{ "s" : "x\"y" , "n":-12.5e+3,"t":true,"f":false,"z":null,"a":[1,{"b":[]}],"o":{"k":"v"} }"#
        let bytes = Array(text.utf8)
        let members = try JSONScanner.topLevelMembers(of: bytes)
        XCTAssertEqual(members.map(\.key), ["s", "n", "t", "f", "z", "a", "o"])
        XCTAssertEqual(members.map(\.kind), [.string, .number, .bool, .bool, .null, .array, .object])
        XCTAssertEqual(members.map { slice(bytes, $0.range) },
                       [#""x\"y""#, "-12.5e+3", "true", "false", "null", #"[1,{"b":[]}]"#, #"{"k":"v"}"#])
    }

    func testEmptyObjectAndSurroundingWhitespace() throws {
        XCTAssertEqual(try JSONScanner.topLevelMembers(of: Array("{}".utf8)).count, 0)
        XCTAssertEqual(try JSONScanner.topLevelMembers(of: Array(" \t\r\n{ \n }\r\n\t ".utf8)).count, 0)
    }

    func testNumbersAccepted() throws {
        for number in ["0", "-0", "7", "-7", "10", "123456789", "0.5", "-0.5", "1.25", "1e5", "1E5", "1e+5", "1e-5",
                       "-1.5E-10", "0e0", "1234.5678e+90"] {
            let bytes = Array(#"{"n":\#(number)}"#.utf8)
            let members = try JSONScanner.topLevelMembers(of: bytes)
            XCTAssertEqual(members.first?.kind, .number, number)
            XCTAssertEqual(members.first.map { slice(bytes, $0.range) }, number)
        }
    }

    func testDeeplyNestedWithinTheLimitAndDepthCounting() throws {
        // The top-level object is depth 1.
        XCTAssertNoThrow(try JSONScanner.topLevelMembers(of: Array(#"{"a":{"b":{}}}"#.utf8), maxDepth: 3))
        XCTAssertNoThrow(try JSONScanner.topLevelMembers(of: Array(#"{"a":[[]]}"#.utf8), maxDepth: 3))
        XCTAssertThrowsError(try JSONScanner.topLevelMembers(of: Array(#"{"a":{"b":{"c":{}}}}"#.utf8), maxDepth: 3))
        XCTAssertThrowsError(try JSONScanner.topLevelMembers(of: Array(#"{"a":[[[]]]}"#.utf8), maxDepth: 3))
        XCTAssertThrowsError(try JSONScanner.topLevelMembers(of: Array(#"{"a":[{"b":[]}]}"#.utf8), maxDepth: 3))

        let atLimit = String(repeating: #"{"a":"#, count: 63) + "{}" + String(repeating: "}", count: 63)
        XCTAssertNoThrow(try JSONScanner.topLevelMembers(of: Array(atLimit.utf8)), "64 levels with the default limit")
        let overLimit = String(repeating: #"{"a":"#, count: 64) + "{}" + String(repeating: "}", count: 64)
        let error = try XCTUnwrap(syntaxError(overLimit))
        XCTAssertTrue(error.reason.contains("nesting"), error.description)

        let arrays = "{\"a\":" + String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000) + "}"
        XCTAssertNotNil(syntaxError(arrays), "1000 nested arrays are refused, not a stack overflow")
    }

    func testUnicodeAndEscapesDecode() throws {
        let text = #"{"plain":"abc","uni":"héllo wörld ✓ 😀","esc":"q\" b\\ s\/ \b\f\n\r\t","u":"\u0041\u00e9\u2713","pair":"\ud83d\ude00!","\u006bey":1}"#
        let bytes = Array(text.utf8)
        let members = try JSONScanner.topLevelMembers(of: bytes)
        let values = Dictionary(uniqueKeysWithValues: members.filter { $0.kind == .string }.map {
            ($0.key, JSONScanner.decodeString(at: $0.range, in: bytes))
        })
        XCTAssertEqual(values["plain"], "abc")
        XCTAssertEqual(values["uni"], "héllo wörld ✓ 😀")
        XCTAssertEqual(values["esc"], "q\" b\\ s/ \u{08}\u{0C}\n\r\t")
        XCTAssertEqual(values["u"], "Aé✓")
        XCTAssertEqual(values["pair"], "😀!")
        XCTAssertEqual(members.last?.key, "key", "member names are decoded too")
    }

    func testLoneSurrogatesDecodeToReplacementCharacter() throws {
        for (escaped, expected) in [(#"\ud83d"#, "\u{FFFD}"), (#"\ude00x"#, "\u{FFFD}x"), (#"\ud83d\ud83d\ude00"#, "\u{FFFD}😀"),
                                    (#"\ud83dA"#, "\u{FFFD}A"), (#"\ud83d\n"#, "\u{FFFD}\n")] {
            let bytes = Array(#"{"s":"\#(escaped)"}"#.utf8)
            let member = try XCTUnwrap(JSONScanner.topLevelMembers(of: bytes).first, escaped)
            XCTAssertEqual(JSONScanner.decodeString(at: member.range, in: bytes), expected, escaped)
        }
    }

    func testDecodeStringAgreesWithJSONSerialization() throws {
        let text = #"{"s":"a\u0000b\u001f \"\\\/ \ud834\udd1e é \u20AC\t"}"#
        let bytes = Array(text.utf8)
        let member = try XCTUnwrap(JSONScanner.topLevelMembers(of: bytes).first)
        let reference = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        XCTAssertEqual(JSONScanner.decodeString(at: member.range, in: bytes), reference["s"] as? String)
    }

    func testMembersOfNestedObject() throws {
        let text = #"{"model":"m","stream_options": { "include_usage" : true, "x":{"y":1}, "n":[1, 2] },"z":0}"#
        let bytes = Array(text.utf8)
        let outer = try JSONScanner.topLevelMembers(of: bytes)
        let options = try XCTUnwrap(outer.first { $0.key == "stream_options" })
        let inner = JSONScanner.members(of: options.range, in: bytes)
        XCTAssertEqual(inner.map(\.key), ["include_usage", "x", "n"])
        XCTAssertEqual(inner.map(\.kind), [.bool, .object, .array])
        XCTAssertEqual(inner.map { slice(bytes, $0.range) }, ["true", #"{"y":1}"#, "[1, 2]"])
        XCTAssertEqual(JSONScanner.members(of: inner[1].range, in: bytes).map(\.key), ["y"], "one level deeper")
    }

    func testDuplicateKeysAreAllReported() throws {
        let members = try JSONScanner.topLevelMembers(of: Array(#"{"a":1,"a":2}"#.utf8))
        XCTAssertEqual(members.map(\.key), ["a", "a"])
    }

    // MARK: Invalid documents

    func testInvalidDocumentsAreRejected() {
        let cases: [(String, String)] = [
            ("", "empty"),
            ("   ", "whitespace only"),
            ("[]", "array at top level"),
            (#""s""#, "string at top level"),
            ("1", "number at top level"),
            ("null", "null at top level"),
            (#"{"a":1,}"#, "trailing comma in object"),
            (#"{"a":[1,2,]}"#, "trailing comma in array"),
            (#"{,}"#, "lone comma"),
            (#"{"a":[,1]}"#, "leading comma in array"),
            (#"{"a":01}"#, "leading zero"),
            (#"{"a":-01}"#, "negative leading zero"),
            (#"{"a":00}"#, "double zero"),
            (#"{"a":-}"#, "bare minus"),
            (#"{"a":1.}"#, "no fraction digits"),
            (#"{"a":.5}"#, "no integer digits"),
            (#"{"a":+1}"#, "plus sign"),
            (#"{"a":1e}"#, "no exponent digits"),
            (#"{"a":1e+}"#, "no exponent digits after sign"),
            (#"{"a":0x10}"#, "hex"),
            (#"{"a":NaN}"#, "NaN"),
            (#"{"a":Infinity}"#, "Infinity"),
            (#"{"a":"abc}"#, "unterminated string"),
            (#"{"a":"abc"#, "unterminated string at end"),
            (#"{"a":"abc\"}"#, "escaped quote does not close"),
            (#"{"a":"abc\"#, "backslash at end"),
            ("{\"a\":\"tab\there\"}", "raw tab in string"),
            ("{\"a\":\"line\nbreak\"}", "raw newline in string"),
            ("{\"a\":\"nul\u{0}\"}", "raw NUL in string"),
            ("{\"a\u{1F}\":1}", "control character in a key"),
            (#"{"a":"\x41"}"#, "bad escape \\x"),
            (#"{"a":"\a"}"#, "bad escape \\a"),
            (#"{"a":"\U0041"}"#, "upper-case U escape"),
            (#"{"a":"\u12"}"#, "short unicode escape"),
            (#"{"a":"\u12G4"}"#, "non-hex unicode escape"),
            (#"{"a":"\u"}"#, "empty unicode escape"),
            (#"{"a":1}x"#, "trailing garbage"),
            (#"{"a":1}{}"#, "second object"),
            (#"{"a":1}}"#, "extra brace"),
            (#"{"a" 1}"#, "missing colon"),
            (#"{"a":1 "b":2}"#, "missing comma"),
            (#"{a:1}"#, "unquoted key"),
            (#"{'a':1}"#, "single quotes"),
            (#"{"a":tru}"#, "truncated literal"),
            (#"{"a":truex}"#, "literal with trailing letters"),
            (#"{"a":True}"#, "capitalised literal"),
            (#"{"a":nul}"#, "truncated null"),
            (#"{"a":}"#, "missing value"),
            (#"{"a":[1}"#, "unclosed array"),
            (#"{"a":{"b":1}"#, "unclosed object"),
            ("{\"a\":1\u{0B}}", "vertical tab is not JSON whitespace"),
            ("\u{FEFF}{}", "byte-order mark"),
        ]
        for (text, why) in cases {
            XCTAssertNotNil(syntaxError(text), "\(why): \(text.debugDescription) should be refused")
            XCTAssertThrowsError(try JSONScanner.validateObject(Array(text.utf8)), "\(why): validation alone")
        }
    }

    func testSyntaxErrorNamesTheOffset() throws {
        let error = try XCTUnwrap(syntaxError(#"{"a":1,}"#))
        XCTAssertEqual(error.offset, 7)
        XCTAssertTrue(error.description.hasSuffix("at byte 7"), error.description)

        let garbage = try XCTUnwrap(syntaxError(#"{"a":1} x"#))
        XCTAssertEqual(garbage.offset, 8)
    }

    /// Every invalid document we refuse, JSONSerialization refuses too; every valid one
    /// it accepts, we accept (a cross-check over many small variations).
    func testAgreesWithJSONSerializationOnMutations() throws {
        let base = #"{"a":[1,-2.5e3,"x\u00e9\n",true,null,{"b":false}],"c":"d"}"#
        let bytes = Array(base.utf8)
        let replacements: [UInt8] = Array(#"{}[],:"\-+.0123456789eEtrufalsn x"#.utf8) + [0x00, 0x09, 0x0A]
        var checked = 0
        for index in bytes.indices {
            for replacement in replacements where replacement != bytes[index] {
                var mutated = bytes
                mutated[index] = replacement
                let ours = (try? JSONScanner.topLevelMembers(of: mutated)) != nil
                // Validation alone (nothing kept) refuses exactly what the member scan refuses.
                XCTAssertEqual((try? JSONScanner.validateObject(mutated)) != nil, ours,
                               String(decoding: mutated, as: UTF8.self).debugDescription)
                let reference = (try? JSONSerialization.jsonObject(with: Data(mutated))) as? [String: Any] != nil
                XCTAssertEqual(ours, reference, String(decoding: mutated, as: UTF8.self).debugDescription)
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 1000)
    }

    // MARK: JSONText

    func testAppendStringEscapes() {
        XCTAssertEqual(JSONText.quoted(#"say "hi" \ bye"#), #""say \"hi\" \\ bye""#)
        XCTAssertEqual(JSONText.quoted("a\nb\rc\td"), #""a\nb\rc\td""#)
        XCTAssertEqual(JSONText.quoted("\u{0}\u{1}\u{8}\u{C}\u{1F}"), #""\u0000\u0001\u0008\u000c\u001f""#)
        XCTAssertEqual(JSONText.quoted("é ✓ 😀 /"), "\"é ✓ 😀 /\"", "non-ASCII and / pass through")
        XCTAssertEqual(JSONText.quoted(""), "\"\"")

        var out = "prefix:"
        JSONText.appendString("x", to: &out)
        XCTAssertEqual(out, #"prefix:"x""#, "appends, does not replace")
    }

    func testAppendStringRoundTripsThroughJSONSerialization() throws {
        var samples = ["", "plain", #"quote " backslash \ slash /"#, "é ✓ 😀 \u{2028}\u{2029}", "\u{7F}\u{80}\u{FFFF}"]
        samples.append(String(String.UnicodeScalarView((0..<0x20).compactMap(Unicode.Scalar.init))))
        samples.append((0..<200).map { String(UnicodeScalar(UInt8(32 + $0 % 95))) }.joined())
        for sample in samples {
            let json = "{\"v\":" + JSONText.quoted(sample) + "}"
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], json)
            XCTAssertEqual(object["v"] as? String, sample)
            // And through our own scanner.
            let bytes = Array(json.utf8)
            let member = try XCTUnwrap(JSONScanner.topLevelMembers(of: bytes).first)
            XCTAssertEqual(JSONScanner.decodeString(at: member.range, in: bytes), sample)
        }
    }
}

private func slice(_ bytes: [UInt8], _ range: Range<Int>) -> String {
    String(decoding: bytes[range], as: UTF8.self)
}

/// The error `text` is refused with, or `nil` if it is accepted.
private func syntaxError(_ text: String) -> JSONScanner.SyntaxError? {
    do {
        _ = try JSONScanner.topLevelMembers(of: Array(text.utf8))
        return nil
    } catch {
        return error
    }
}

extension JSONScannerTests {
    /// RFC 8259 §8.1 requires UTF-8; the scanner checks it only in strings it decodes
    /// (member names, escaped values), so a request value with broken UTF-8 is accepted
    /// and forwarded upstream unchanged.
    func testInvalidUTF8InStringValuesIsRejected() {
        for bytes: [UInt8] in [
            Array(#"{"a":""#.utf8) + [0xFF] + Array(#""}"#.utf8),             // never valid in UTF-8
            Array(#"{"a":""#.utf8) + [0xC3] + Array(#""}"#.utf8),             // truncated sequence
            Array("{\"a\":[\"x\",\"".utf8) + [0xED, 0xA0, 0x80] + Array(#""]}"#.utf8),  // encoded surrogate
        ] {
            XCTAssertNil((try? JSONScanner.topLevelMembers(of: bytes)).map { _ in () },
                         "invalid UTF-8 in a string value must be refused: \(bytes)")
            XCTAssertThrowsError(try JSONScanner.validateObject(bytes))
        }
        // The same bytes in a member name are refused today, by validation alone too.
        let name = Array(#"{""#.utf8) + [0xFF] + Array(#"":1}"#.utf8)
        XCTAssertNil((try? JSONScanner.topLevelMembers(of: name)).map { _ in () })
        XCTAssertThrowsError(try JSONScanner.validateObject(name))
    }
}
