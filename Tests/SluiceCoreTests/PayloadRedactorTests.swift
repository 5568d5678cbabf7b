import SluiceCore
import XCTest

/// `PayloadRedactor` turns a captured body into text safe to keep in the audit log:
/// JSON members by name, credentials by shape, known secrets verbatim, then a size cap.
final class PayloadRedactorTests: XCTestCase {
    // MARK: JSON members

    func testNestedMembersInObjectsAndArraysAreRedactedAndTheRestIsKept() throws {
        let body = #"{"model":"gpt-4o","meta":{"auth":[{"password":"hunter2"},{"deep":{"token":{"v":[1,2]}}}]},"n":3}"#
        XCTAssertEqual(try redact(body),
                       #"{"model":"gpt-4o","meta":{"auth":[{"password":"[redacted]"},{"deep":{"token":"[redacted]"}}]},"n":3}"#)
    }

    func testWhitespaceAndMemberOrderAreKeptByteForByte() throws {
        let body = "{ \"a\" : 1 ,\n  \"Password\"\t:  \"x\" , \"b\" : [ true , null ] }"
        XCTAssertEqual(try redact(body), "{ \"a\" : 1 ,\n  \"Password\"\t:  \"[redacted]\" , \"b\" : [ true , null ] }")
    }

    func testConfiguredFieldsMatchCaseInsensitivelyAtAnyDepth() throws {
        let config = PayloadCaptureConfig(enabled: true, redactFields: ["Email", "ssn"])
        let body = #"{"email":"a@b.c","user":{"EMAIL":"d@e.f","SSN":"x","name":"Ann"},"list":[{"eMail":null}]}"#
        XCTAssertEqual(try redact(body, config),
                       #"{"email":"[redacted]","user":{"EMAIL":"[redacted]","SSN":"[redacted]","name":"Ann"},"list":[{"eMail":"[redacted]"}]}"#)
    }

    func testBuiltInFieldsAreRedactedWithoutConfiguration() throws {
        XCTAssertEqual(Set(PayloadRedactor.builtInFields),
                       ["api_key", "apikey", "authorization", "password", "secret", "token", "access_token",
                        "refresh_token", "client_secret", "x-api-key"])
        for name in PayloadRedactor.builtInFields {
            for spelling in [name, name.uppercased()] {
                XCTAssertEqual(try redact(#"{"\#(spelling)":"v","other":"v"}"#),
                               #"{"\#(spelling)":"[redacted]","other":"v"}"#, spelling)
            }
        }
    }

    func testNamesMatchWholeNamesOnly() throws {
        let body = #"{"max_tokens":5,"tokens":[1],"password_hint":"dog","my_secret_plan":"x"}"#
        XCTAssertEqual(try redact(body), body)
    }

    func testValuesOfEveryKindAreReplaced() throws {
        let body = #"{"secret":{"a":"b"},"token":[1,"2"],"apikey":42,"password":false,"api_key":null,"x":0}"#
        XCTAssertEqual(try redact(body),
                       #"{"secret":"[redacted]","token":"[redacted]","apikey":"[redacted]","password":"[redacted]","api_key":"[redacted]","x":0}"#)
    }

    func testTopLevelArrayBody() throws {
        XCTAssertEqual(try redact(#" [{"token":"t"},[{"secret":1}],"free"] "#),
                       #" [{"token":"[redacted]"},[{"secret":"[redacted]"}],"free"] "#)
    }

    func testEscapedStringsInValuesAndNames() throws {
        // The password value holds escaped quotes and backslashes; the second name is
        // spelled with a \u escape and still matches.
        let body = #"{"note":"say \"hi\" \\ caf\u00e9 \/","password":"p\"w\\d\u0000","pass\u0077ord":"x","n":"\"token\":\"t\""}"#
        let stored = try redact(body)
        XCTAssertEqual(stored,
                       #"{"note":"say \"hi\" \\ caf\u00e9 \/","password":"[redacted]","pass\u0077ord":"[redacted]","n":"\"token\":\"t\""}"#)
        assertValidJSON(stored)
    }

    func testJSONStaysValidAfterFieldRedaction() throws {
        let body = #"{"messages":[{"role":"user","content":"hi"}],"authorization":{"scheme":"basic"},"tools":[{"client_secret":[1,{"x":2}]}]}"#
        let stored = try redact(body)
        let bytes = Array(stored.utf8)
        let members = try JSONScanner.topLevelMembers(of: bytes)
        XCTAssertEqual(members.map(\.key), ["messages", "authorization", "tools"])
        XCTAssertEqual(members[1].kind, .string)
        XCTAssertEqual(JSONScanner.decodeString(at: members[1].range, in: bytes), "[redacted]")
        let tool = JSONScanner.elements(of: members[2].range, in: bytes)[0]
        let secret = JSONScanner.members(of: tool.range, in: bytes)[0]
        XCTAssertEqual(JSONScanner.decodeString(at: secret.range, in: bytes), "[redacted]")
    }

    // MARK: Credential patterns

    func testOpenAIStyleKeys() throws {
        for key in ["sk-abcdefghij0123456789", "sk-proj-Ab_cD-efGHijkl0123456789", "sk-ant-api03-AAAAAAAAAAAAAAAAAAAA",
                    "sk-sluice-k1_0123456789abcdef"] {
            XCTAssertEqual(try redact("key=\(key) end"), "key=[redacted] end", key)
        }
        // Fewer than 16 characters after `sk-` is not a key.
        XCTAssertEqual(try redact("sk-abcdefghij012345 and sk-short"), "[redacted] and sk-short")
        XCTAssertEqual(try redact("sk-abcdefghij01234"), "sk-abcdefghij01234")
    }

    func testAWSAccessKeyId() throws {
        XCTAssertEqual(try redact("id AKIAIOSFODNN7EXAMPLE."), "id [redacted].")
        XCTAssertEqual(try redact("AKIAIOSFODNN7EXAMPL"), "AKIAIOSFODNN7EXAMPL")
        XCTAssertEqual(try redact("AKIAiosfodnn7example"), "AKIAiosfodnn7example")
    }

    func testBearerToken() throws {
        XCTAssertEqual(try redact("Authorization: Bearer abc.DEF_ghi~jkl+mno/pq=\r\nHost: x"),
                       "Authorization: [redacted]\r\nHost: x")
        XCTAssertEqual(try redact("Bearer short-token"), "Bearer short-token")
    }

    func testJWT() throws {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
        XCTAssertEqual(try redact(#"{"content":"use \#(jwt) here"}"#), #"{"content":"use [redacted] here"}"#)
        XCTAssertEqual(try redact("eyJhbGciOi.eyJzdWIi.abc"), "eyJhbGciOi.eyJzdWIi.abc")
    }

    func testSlackToken() throws {
        for token in ["xoxb-1234567890-abcdefghij", "xoxa-2-ABCDEFGHIJ", "xoxp-0123456789", "xoxr-aaaaaaaaaaaa"] {
            XCTAssertEqual(try redact("t: \(token)"), "t: [redacted]", token)
        }
        XCTAssertEqual(try redact("xoxc-1234567890-abcdefghij"), "xoxc-1234567890-abcdefghij")
    }

    func testGitHubToken() throws {
        XCTAssertEqual(try redact("ghp_" + String(repeating: "aB3", count: 12) + "!"), "[redacted]!")
        XCTAssertEqual(try redact("ghp_" + String(repeating: "a", count: 29)), "ghp_" + String(repeating: "a", count: 29))
    }

    func testPrivateKeyThroughItsEndLine() throws {
        let text = "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nabc+/=\n-----END RSA PRIVATE KEY-----\nafter"
        XCTAssertEqual(try redact(text), "before\n[redacted]\nafter")
        let plain = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY----- tail"
        XCTAssertEqual(try redact(plain), "[redacted] tail")
    }

    func testPrivateKeyInJSONStringKeepsTheDocumentValid() throws {
        let body = #"{"content":"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n","n":1}"#
        let stored = try redact(body)
        XCTAssertEqual(stored, #"{"content":"[redacted]\n","n":1}"#)
        assertValidJSON(stored)
    }

    func testPrivateKeyWithoutEndLineIsRedactedToTheEnd() throws {
        XCTAssertEqual(try redact("k: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END RSA PRIVATE KEY-----"),
                       "k: [redacted]")
    }

    func testPatternsApplyToNonJSONText() throws {
        let config = PayloadCaptureConfig(enabled: true, redactPatterns: [#"\b\d{3}-\d{2}-\d{4}\b"#])
        let sse = "data: {\"delta\":\"my key is sk-abcdefghij0123456789 and SSN 123-45-6789\"}\n\ndata: [DONE]\n\n"
        XCTAssertEqual(try redact(sse, config),
                       "data: {\"delta\":\"my key is [redacted] and SSN [redacted]\"}\n\ndata: [DONE]\n\n")
        // Invalid JSON is treated as text.
        XCTAssertEqual(try redact(#"{"a": "AKIAIOSFODNN7EXAMPLE""#), #"{"a": "[redacted]""#)
    }

    // MARK: Configured patterns and secrets

    func testConfiguredPatternWithWordBoundaries() throws {
        let config = PayloadCaptureConfig(enabled: true, redactPatterns: [#"\b\d{3}-\d{2}-\d{4}\b"#, "(?i)acct-[0-9]+"])
        XCTAssertEqual(try redact(#"{"note":"SSN 123-45-6789, not 1234-45-6789, ACCT-991"}"#, config),
                       #"{"note":"SSN [redacted], not 1234-45-6789, [redacted]"}"#)
    }

    func testPatternThatCanMatchNothingOnlyReplacesRealText() throws {
        let config = PayloadCaptureConfig(enabled: true, redactPatterns: [#"\d*"#])
        XCTAssertEqual(try redact("ab12cd3", config), "ab[redacted]cd[redacted]")
    }

    func testKnownSecretsAreReplacedEverywhere() throws {
        let secrets = ["prov-key-0001", "abc", "另一个密钥"]
        let body = #"{"content":"prov-key-0001 x prov-key-0001","y":"abc 另一个密钥"}"#
        XCTAssertEqual(try redact(body, secrets: secrets), #"{"content":"[redacted] x [redacted]","y":"abc [redacted]"}"#)
    }

    func testOverlappingMatchesAreReplacedAsOneSpan() throws {
        // The sk- pattern matches the tail of the secret; no part of the secret may remain.
        let secret = "vendor-sk-AAAAAAAAAAAAAAAAAAAA"
        XCTAssertEqual(try redact("x \(secret) y", secrets: [secret]), "x [redacted] y")
        // Spans that touch become one.
        XCTAssertEqual(try redact("x vendor-sk-AAAAAAAAAAAAAAAAAAAA y", secrets: ["x vendor-"]), "[redacted] y")
    }

    func testInvalidPatternIsReportedWithItsPosition() {
        let config = PayloadCaptureConfig(enabled: true, redactPatterns: [#"\d+"#, "(unclosed", "[z-a]"])
        XCTAssertThrowsError(try PayloadRedactor(config)) { error in
            guard let error = error as? PayloadRedactor.PatternError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.index, 1)
            XCTAssertEqual(error.pattern, "(unclosed")
            XCTAssertFalse(error.reason.isEmpty)
            XCTAssertTrue(error.description.hasPrefix(#"redact pattern 1 "(unclosed" is invalid: "#), error.description)
        }
        XCTAssertThrowsError(try PayloadRedactor(PayloadCaptureConfig(redactPatterns: ["(?<=a)b"])))
    }

    // MARK: Size and encoding

    func testTruncationNeverSplitsACharacter() throws {
        // "é" is 2 bytes: a 2-byte cap after "a" cannot keep half of it.
        XCTAssertEqual(try redact("aé", PayloadCaptureConfig(enabled: true, maxBytes: 2)), "a…[truncated 2 bytes]")
        // "🙂" is 4 bytes.
        XCTAssertEqual(try redact("ab🙂c", PayloadCaptureConfig(enabled: true, maxBytes: 5)), "ab…[truncated 5 bytes]")
        XCTAssertEqual(try redact("ab🙂c", PayloadCaptureConfig(enabled: true, maxBytes: 6)), "ab🙂…[truncated 1 bytes]")
        // "e" + U+0301 is one character of 3 bytes; a flag is one character of 8.
        XCTAssertEqual(try redact("xe\u{301}y", PayloadCaptureConfig(enabled: true, maxBytes: 3)), "x…[truncated 4 bytes]")
        XCTAssertEqual(try redact("🇺🇸🇫🇷", PayloadCaptureConfig(enabled: true, maxBytes: 12)), "🇺🇸…[truncated 8 bytes]")
    }

    func testTruncationAppliesAfterRedactionAndOnlyWhenOver() throws {
        let config = PayloadCaptureConfig(enabled: true, maxBytes: 22)
        // 31 bytes before redaction, 22 after: nothing is cut.
        XCTAssertEqual(try redact(#"{"token":"0123456789012345678"}"#, config), #"{"token":"[redacted]"}"#)
        XCTAssertEqual(try redact("abc", PayloadCaptureConfig(enabled: true, maxBytes: 3)), "abc")
        XCTAssertEqual(try redact("abcd", PayloadCaptureConfig(enabled: true, maxBytes: 0)), "…[truncated 4 bytes]")
        let big = String(repeating: "x", count: PayloadCaptureConfig.defaultMaxBytes + 10)
        XCTAssertEqual(try redact(big), String(repeating: "x", count: 16384) + "…[truncated 10 bytes]")
    }

    func testNonUTF8BodyIsStoredAsItsSize() throws {
        let redactor = try PayloadRedactor(PayloadCaptureConfig(enabled: true))
        XCTAssertEqual(redactor.redact([0x7B, 0xFF, 0xFE, 0x7D], secrets: []), "[binary 4 bytes]")
        XCTAssertEqual(redactor.redact([0xC3], secrets: []), "[binary 1 bytes]")
        XCTAssertEqual(redactor.redact([], secrets: []), "")
    }

    // MARK: Sampling

    func testDefaults() {
        let config = PayloadCaptureConfig()
        XCTAssertFalse(config.enabled)
        XCTAssertEqual(config.sampleRate, 1.0)
        XCTAssertEqual(config.maxBytes, 16 * 1024)
        XCTAssertEqual(config.redactFields, [])
        XCTAssertEqual(config.redactPatterns, [])
    }

    func testSamplingEdges() {
        XCTAssertFalse(PayloadCaptureConfig(enabled: false, sampleRate: 1).shouldSample(draw: 0))
        XCTAssertFalse(PayloadCaptureConfig(enabled: true, sampleRate: 0).shouldSample(draw: 0))
        XCTAssertTrue(PayloadCaptureConfig(enabled: true, sampleRate: 1).shouldSample(draw: 0))
        XCTAssertTrue(PayloadCaptureConfig(enabled: true, sampleRate: 1).shouldSample(draw: 1.0.nextDown))
        XCTAssertTrue(PayloadCaptureConfig(enabled: true, sampleRate: 0.25).shouldSample(draw: 0.2499))
        XCTAssertFalse(PayloadCaptureConfig(enabled: true, sampleRate: 0.25).shouldSample(draw: 0.25))
    }

    // MARK: Helpers

    private func redact(_ text: String, _ config: PayloadCaptureConfig = PayloadCaptureConfig(enabled: true),
                        secrets: [String] = []) throws -> String {
        try PayloadRedactor(config).redact(Array(text.utf8), secrets: secrets)
    }

    private func assertValidJSON(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNoThrow(try JSONScanner.topLevelMembers(of: Array(text.utf8)), text, file: file, line: line)
    }
}
