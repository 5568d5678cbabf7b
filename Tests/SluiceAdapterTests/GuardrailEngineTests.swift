import SluiceCore
import SluiceHTTP
import XCTest

@testable import SluiceGateway

/// The guardrail engine without sockets: masks and placeholders, restore, what payload
/// capture keeps, and a stream's hold-back.
final class GuardrailEngineTests: XCTestCase {
    private func guardrail(_ name: String, _ configure: (inout GuardrailConfig) -> Void) -> GuardrailConfig {
        var config = GuardrailConfig(name: name)
        configure(&config)
        return config
    }

    private func calls(_ configs: [GuardrailConfig]) -> CallGuardrails {
        CallGuardrails(engine: GuardrailEngine(configs), route: "r", metrics: MetricsBuffer(), http: HTTPClient(),
                       clock: SystemClock(), skipping: [])
    }

    private func body(_ text: String) -> [UInt8] { Array(#"{"messages":[{"role":"user","content":"\#(text)"}]}"#.utf8) }

    func testOneValueOnePlaceholderAndRestoreFindsEach() throws {
        let pii = guardrail("pii") { $0.detectors = [.email]; $0.action = .mask; $0.restore = true; $0.applyTo = .request }
        let call = calls([pii])
        let masked = try XCTUnwrap(try call.checkRequest(body("a@x.io b@x.io a@x.io")))
        XCTAssertEqual(String(decoding: masked, as: UTF8.self), String(decoding: body("<EMAIL_1> <EMAIL_2> <EMAIL_1>"), as: UTF8.self))
        guard case .pass(let answer) = call.checkAnswer(Array(#"{"content":"<EMAIL_2>, <EMAIL_1>, <EMAIL_9>, <EMAIL_1"}"#.utf8)) else {
            return XCTFail("blocked")
        }
        XCTAssertEqual(String(decoding: answer, as: UTF8.self), #"{"content":"b@x.io, a@x.io, <EMAIL_9>, <EMAIL_1"}"#)
    }

    func testManyFindingsAreMaskedInLinearTime() throws {
        let engine = GuardrailEngine([guardrail("pii") { $0.detectors = [.email]; $0.action = .mask; $0.restore = true }])
        func mask(_ count: Int) throws -> Duration {
            let text = (0..<count).map { "u\($0)@example.com" }.joined(separator: " ")
            let start = ContinuousClock.now
            let outcome = engine.check(body(text), requests: true)
            XCTAssertEqual(outcome.placeholders.count, count)
            _ = GuardrailEngine.restore(try XCTUnwrap(outcome.masked), outcome.placeholders)
            return ContinuousClock.now - start
        }
        _ = try mask(5_000)
        let once = try mask(25_000), twice = try mask(50_000)  // ~1 MB of distinct addresses
        XCTAssertLessThan(twice, once * 3 + .milliseconds(50), "\(once) for 25k, \(twice) for 50k")
    }

    func testCaptureKeepsNothingAnyGuardrailMatches() {
        let engine = GuardrailEngine([
            guardrail("pii") { $0.detectors = [.email]; $0.action = .log },
            guardrail("words") { $0.words = ["project x"]; $0.action = .block },
        ])
        let redacted = String(decoding: engine.redact(body(#"to ann@example.com about Project\u0020X"#)), as: UTF8.self)
        XCTAssertFalse(redacted.contains("ann@") || redacted.contains("Project"), redacted)
        XCTAssertTrue(redacted.contains("to <EMAIL_1> about <REDACTED_1>"), redacted)
    }

    private func event(_ text: String) -> [UInt8] { Array(#"data: {"choices":[{"delta":{"content":"\#(text)"}}]}"#.utf8) }

    private func released(_ verdict: CallGuardrails.StreamVerdict) -> [String]? {
        guard case .release(let events) = verdict else { return nil }
        return events.map { String(decoding: $0, as: UTF8.self) }
    }

    func testAStreamHoldsTextUntilEnoughFollowsAndABlockSendsNoneOfTheValue() throws {
        let words = guardrail("codename") { $0.words = ["acme corp"]; $0.applyTo = .response }
        let call = calls([words])
        // An event without text (the role chunk) passes at once.
        XCTAssertEqual(released(call.checkEvent(Array(#"data: {"choices":[{"delta":{"role":"assistant"}}]}"#.utf8), final: false))?.count, 1)
        XCTAssertEqual(released(call.checkEvent(event("we met acme"), final: false)), [], "held: too little text follows")
        guard case .block(let error) = call.checkEvent(event(" corp"), final: false) else { return XCTFail("not blocked") }
        XCTAssertEqual(error.code, .answerBlocked)

        let clean = calls([words])
        XCTAssertEqual(released(clean.checkEvent(event("acme"), final: false)), [])
        let filler = String(repeating: "x", count: 70)
        XCTAssertEqual(released(clean.checkEvent(event(" " + filler), final: false)), [String(decoding: event("acme"), as: UTF8.self)])
        XCTAssertEqual(released(clean.checkEvent(Array("data: [DONE]".utf8), final: true)),
                       [String(decoding: event(" " + filler), as: UTF8.self), "data: [DONE]"], "the end releases the rest in order")
    }

    func testAStreamHeldWholeForAWebhookIsBoundedAndFindingsDropTheCapture() throws {
        let reviewer = guardrail("reviewer") {
            $0.webhook = GuardrailConfig.Webhook(url: "http://127.0.0.1:9/never", failOpen: false)
            $0.applyTo = .response
        }
        let call = calls([reviewer])
        let chunk = event(String(repeating: "y", count: 64 << 10))
        var verdict = call.checkEvent(chunk, final: false)
        var sent = 0
        while case .release(let events) = verdict, sent < 1_000 {
            XCTAssertTrue(events.allSatisfy { $0.starts(with: Array(": ".utf8)) }, "only keep-alive comments leave while held")
            sent += 1
            verdict = call.checkEvent(chunk, final: false)
        }
        guard case .block(let error) = verdict else { return XCTFail("never bounded") }
        XCTAssertEqual(error.code, .answerBlocked)
        XCTAssertGreaterThan(sent * (64 << 10), CallGuardrails.wholeStreamLimit - (128 << 10))

        let logged = calls([guardrail("pii") { $0.detectors = [.email]; $0.action = .log; $0.applyTo = .response }])
        _ = logged.checkEvent(event("mail ann@exa"), final: false)
        XCTAssertFalse(logged.streamHadFindings)
        _ = logged.checkEvent(event("mple.com"), final: false)
        XCTAssertTrue(logged.streamHadFindings, "the split address was found, so the captured answer is not kept")
    }
}
