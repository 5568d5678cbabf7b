import Foundation
import SluiceCore
import XCTest

final class AuditRecordTests: XCTestCase {
    func testSpoolLinesRoundTripAndRejectTornOrAlteredLines() throws {
        let keys = ["sluice:audit", "sluice:audit:head", "sluice:audit:writers", "sluice:usage:2026-11-26:tag:team"]
        let arguments = ["1000000", "host:1:2:3", "17", "rid-1", "call", #"{"a":"quote \" and \\ and é\n"}"#, "12", "40", "0", "86400", "support|x"]
        let line = SpoolLine.encode(keys: keys, arguments: arguments)
        XCTAssertTrue(line.hasSuffix("\n"))
        XCTAssertEqual(line.filter { $0 == "\n" }.count, 1, "one record per line, whatever the record holds")
        let decoded = try XCTUnwrap(SpoolLine.decode(line.dropLast()[...]))
        XCTAssertEqual(decoded.keys, keys)
        XCTAssertEqual(decoded.arguments, arguments)

        let body = line.dropLast()
        XCTAssertNil(SpoolLine.decode(body.dropLast(7)[...]), "a torn last line is skipped")
        var altered = String(body)
        altered = altered.replacingOccurrences(of: "rid-1", with: "rid-2")
        XCTAssertNil(SpoolLine.decode(altered[...]), "a changed line fails its checksum")
        XCTAssertNil(SpoolLine.decode("garbage"[...]))
        XCTAssertNil(SpoolLine.decode(""[...]))
    }

    func testRecordJSONIsValidAndNamesNoSecrets() throws {
        let record = AuditRecord(requestId: "r1", timeMs: 1_764_158_400_123, principal: nil, keyId: "key_abc",
                                 clientAddress: "10.0.0.7", path: "/v1/chat/completions", route: "chat",
                                 endpoint: "primary", provider: "openai", providerModel: "gpt-4o",
                                 tags: ["team": "sup\"port"], status: 200,
                                 attempts: [.init(endpoint: "primary", provider: "openai", status: 200, error: "ok",
                                                  latencyMs: 5, probe: false)],
                                 latencyMs: 7, ttfbMs: 3, upstreamMs: 5, promptTokens: 12, completionTokens: 40,
                                 usageSource: .provider, stream: true, streamCompleted: true, writer: "w", seq: 3)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(record.json.utf8)) as? [String: Any])
        XCTAssertEqual(object["time"] as? String, "2025-11-26T12:00:00.123Z")
        XCTAssertEqual(object["total_tokens"] as? Int, 52)
        XCTAssertEqual((object["tags"] as? [String: String])?["team"], "sup\"port")
        XCTAssertTrue(object["principal"] is NSNull)
        XCTAssertTrue(object["cost"] is NSNull)
        XCTAssertEqual(object["stream_completed"] as? Bool, true)
        XCTAssertEqual((object["attempts"] as? [[String: Any]])?.first?["latency_ms"] as? Int, 5)
    }

    func testRecordJSONKeepsItsExactShape() {
        // Consumers (drain, tail, verify) read these bytes: keys, order and spelling are fixed.
        var record = AuditRecord(requestId: "r1", timeMs: 1_764_158_400_123, principal: nil, keyId: "key_abc",
                                 clientAddress: nil, path: "/v1/chat/completions", route: "chat", endpoint: "primary",
                                 provider: "openai", providerModel: "gpt-4o", tags: ["team": "a\\b", "app": "x\ny"],
                                 status: 429, errorClass: "429",
                                 attempts: [.init(endpoint: "primary", provider: "openai", status: 429, error: "429",
                                                  latencyMs: 5, probe: true),
                                            .init(endpoint: "backup", provider: "openai", status: 0, error: "connect",
                                                  latencyMs: 1, probe: false)],
                                 latencyMs: 7, ttfbMs: nil, upstreamMs: 6, promptTokens: nil, completionTokens: nil,
                                 usageSource: .none, cost: 0.5, stream: false, streamCompleted: nil, writer: "h:1:2", seq: 9)
        record.requestBody = "{\"q\":1}"
        XCTAssertEqual(record.json, #"{"kind":"call","request_id":"r1","time":"2025-11-26T12:00:00.123Z","ts_ms":1764158400123,"#
            + #""principal":null,"key_id":"key_abc","client_addr":null,"path":"/v1/chat/completions","route":"chat","#
            + #""endpoint":"primary","provider":"openai","provider_model":"gpt-4o","tags":{"app":"x\ny","team":"a\\b"},"#
            + #""status":429,"error_class":"429","attempts":[{"endpoint":"primary","provider":"openai","status":429,"#
            + #""error":"429","latency_ms":5,"probe":true},{"endpoint":"backup","provider":"openai","status":0,"#
            + #""error":"connect","latency_ms":1,"probe":false}],"latency_ms":7,"ttfb_ms":null,"upstream_ms":6,"#
            + #""prompt_tokens":null,"completion_tokens":null,"total_tokens":null,"cache_read_tokens":null,"#
            + #""cache_write_tokens":null,"cache_write_1h_tokens":null,"reasoning_tokens":null,"usage_source":"none","cost":0.5,"#
            + #""stream":false,"stream_completed":null,"writer":"h:1:2","seq":9,"request_body":"{\"q\":1}","#
            + #""response_body":null}"#)
    }

    func testISO8601DatesAcrossLeapYearsAndTheEpoch() {
        XCTAssertEqual(AuditRecord.iso8601(0), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(AuditRecord.iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z")
        XCTAssertEqual(AuditRecord.iso8601(4_107_542_399_999), "2100-02-28T23:59:59.999Z")
        XCTAssertEqual(AuditRecord.iso8601(-1), "1969-12-31T23:59:59.999Z")
        XCTAssertEqual(AuditRecord.day(4_107_542_399_999), "2100-02-28")
        XCTAssertEqual(AuditRecord.day(-1), "1969-12-31")
    }

    func testRecordBytesEscapeStringsAsJSONTextDoes() {
        // The record is written as bytes; every other document with JSONText. Both escape alike.
        let samples = ["", "plain", "quote\"s", "back\\slash", "tab\tline\nfeed\r", "\u{0}\u{1}\u{1f}\u{7f}",
                       "ünïcödé 漢字 🙂", "\u{2028}\u{2029}", "mixed \"\u{8}ü\\\u{c}"]
        for sample in samples {
            var bytes = JSONBytes(capacity: 16)
            bytes.string(sample)
            XCTAssertEqual(bytes.text, JSONText.quoted(sample), sample)
        }
        // Pinned, as both now share one escaper.
        XCTAssertEqual(JSONText.quoted("a\"b\\c\nd\re\tf\u{1}\u{1f}ü"), #""a\"b\\c\nd\re\tf\u0001\u001fü""#)
        var numbers = JSONBytes(capacity: 16)
        for value in [0, 7, 10, 1_795_030_400_000, -42, Int.min + 1, Int.min] {
            numbers.int(value)
            numbers.raw(",")
        }
        XCTAssertEqual(numbers.text, "0,7,10,1795030400000,-42,\(Int.min + 1),\(Int.min),")
    }

    func testUsageFromOpenAIBodies() {
        XCTAssertEqual(TokenUsage.openAI(in: Array(#"{"id":"x","usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}"#.utf8)),
                       TokenUsage(prompt: 3, completion: 5))
        XCTAssertNil(TokenUsage.openAI(in: Array(#"{"id":"x","usage":null}"#.utf8)))
        XCTAssertNil(TokenUsage.openAI(in: Array("not json".utf8)))
        XCTAssertEqual(TokenUsage.estimate(bytes: 0), 0)
        XCTAssertEqual(TokenUsage.estimate(bytes: 9), 3)
    }
}
