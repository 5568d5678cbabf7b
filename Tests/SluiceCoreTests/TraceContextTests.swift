import SluiceCore
import XCTest

final class TraceContextTests: XCTestCase {
    func testValidTraceparentsParseAndInvalidOnesDoNot() throws {
        let context = try XCTUnwrap(TraceContext(traceparent: " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
                                                 tracestate: "congo=t61rcWkgMzE"))
        XCTAssertEqual(context.traceIdText, "4bf92f3577b34da6a3ce929d0e0e4736")
        XCTAssertEqual(Hex.lower(context.spanId), "00f067aa0ba902b7")
        XCTAssertTrue(context.sampled)
        XCTAssertEqual(context.state, "congo=t61rcWkgMzE")
        XCTAssertEqual(context.traceparent(parent: [1, 2, 3, 4, 5, 6, 7, 8]),
                       "00-4bf92f3577b34da6a3ce929d0e0e4736-0102030405060708-01")
        // A later version may add fields; its first four still count.
        XCTAssertNotNil(TraceContext(traceparent: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra"))
        for invalid in ["", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", // too few fields
                        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace id
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero parent id
                        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // uppercase
                        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // version ff
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", // version 00 with extra
                        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",    // short trace id
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1g"] {
            XCTAssertNil(TraceContext(traceparent: invalid), invalid)
        }
    }

    func testRandomIdsAreNonZeroAndOfTheirSize() {
        var generator = SystemRandomNumberGenerator()
        XCTAssertEqual(TraceContext.randomId(bytes: 16, using: &generator).count, 16)
        XCTAssertEqual(TraceContext.randomId(bytes: 8, using: &generator).count, 8)
        XCTAssertNotEqual(TraceContext.randomId(bytes: 8, using: &generator), TraceContext.randomId(bytes: 8, using: &generator))
    }

    func testAnswerFactsFindFinishReasonsAndTheModelAsKeysOnly() {
        var facts = AnswerFacts()
        facts.scan(Array(#"{"id":"x","model":"gpt-4o-2024","choices":[{"message":{"content":"say \"finish_reason\":\"fake\""},"finish_reason":"stop"},{"finish_reason" : "length"}]}"#.utf8))
        XCTAssertEqual(facts.model, "gpt-4o-2024")
        XCTAssertEqual(facts.finishReasons, ["stop", "length"], "an escaped key inside a string is not a key")
        var anthropic = AnswerFacts()
        anthropic.scan(Array(#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null}}"#.utf8))
        anthropic.scan(Array(#"{"stopReason":"end_turn"}"#.utf8))
        anthropic.scan(Array(#"{"choices":[{"finish_reason":null}]}"#.utf8))
        XCTAssertEqual(anthropic.finishReasons, ["tool_use", "end_turn"])
        XCTAssertNil(anthropic.model)
    }

    func testTheEncoderWritesProtobufFieldsByTheirNumbers() {
        let span = SpanData(traceId: Array(repeating: 1, count: 16), spanId: Array(repeating: 2, count: 8), parentSpanId: nil,
                            flags: 1, name: "chat x", kind: .server, startUnixNanos: 1, endUnixNanos: 2,
                            attributes: [("k", .int(-1))])
        let bytes = OTLPTraces.exportRequest([span], resource: [("service.name", .string("s"))], scopeName: "sluice",
                                             scopeVersion: "1")
        // ExportTraceServiceRequest.resource_spans (1, length-delimited).
        XCTAssertEqual(bytes.first, 0x0A)
        // The span's trace id: field 1, 16 bytes of 0x01.
        let traceField: [UInt8] = [0x0A, 0x10] + Array(repeating: 1, count: 16)
        XCTAssertNotNil(bytes.indices.first { bytes[$0...].starts(with: traceField) })
        // -1 as an int64 varint is ten bytes.
        let minusOne: [UInt8] = [0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        XCTAssertNotNil(bytes.indices.first { bytes[$0...].starts(with: minusOne) })
    }
}
