import Foundation
import XCTest

/// Guardrails through nginx: a secret blocks the request (in the client API's error
/// shape, naming the guardrail, never the text); PII is masked before the provider sees
/// it and restored in the answer; an answer-side word blocks a JSON answer (422) and ends
/// a stream with an error event; a webhook classifier decides; decisions are audited.
final class GuardrailTests: XCTestCase {
    private var stack: GatewayStack!
    private var hook: WebhookReceiver!
    private var key = ""

    override func setUpWithError() throws {
        hook = try WebhookReceiver()
        let hookPort = hook.port
        stack = try GatewayStack(config: { stack in
            GatewayStack.mockConfig(stack, workers: 1, threads: 4, """
            routes:
              guarded:
                type: chat
                guardrails:
                  - { name: secrets, detect: [secrets], action: block }
                  - { name: pii, detect: [email, credit_card], action: mask, restore: true, apply_to: request }
                  - { name: tickets, patterns: ['INC-[0-9]{6}'], action: log }
                  - { name: no-weather, topics: { weather: [forecast, rainfall] }, action: block, apply_to: request }
                  - { name: answers, words: [forbidden], action: block, apply_to: response }
                endpoints: [ { provider: mock, model: guard-model } ]
              mixed:
                type: chat
                cache: { ttl: 1m }
                guardrails:
                  - { name: secrets, detect: [secrets], action: mask }
                  - { name: pii, detect: [pii], action: mask, restore: true, apply_to: request }
                endpoints: [ { provider: mock, model: mixed-model } ]
              claude-guarded:
                type: chat
                guardrails: [ { name: secrets, detect: [secrets], action: block } ]
                endpoints: [ { provider: mock-anthropic, model: claude-guard } ]
              classified:
                type: chat
                guardrails: [ { name: classifier, kind: webhook, url: "http://127.0.0.1:\(hookPort)/classify", timeout: 1s, fail: closed } ]
                endpoints: [ { provider: mock, model: classified-model } ]
              answer-classified:
                type: chat
                guardrails: [ { name: reviewer, kind: webhook, url: "http://127.0.0.1:\(hookPort)/review", timeout: 1s, apply_to: response } ]
                endpoints: [ { provider: mock, model: reviewed-model } ]
              split-words:
                type: chat
                guardrails: [ { name: codename, words: ["acme corp"], action: block, apply_to: response } ]
                endpoints: [ { provider: mock, model: split-model } ]
              guarded-text:
                type: completions
                guardrails: [ { name: secrets, detect: [secrets], action: block }, { name: pii, detect: [email], action: mask } ]
                endpoints: [ { provider: mock, model: guard-instruct } ]
              guarded-embed:
                type: embeddings
                guardrails: [ { name: secrets, detect: [secrets], action: block }, { name: pii, detect: [email], action: mask } ]
                endpoints: [ { provider: mock, model: guard-embed } ]
              captured:
                type: chat
                capture: { sample: 1 }
                guardrails: [ { name: pii, detect: [email, us_ssn], action: mask, restore: true, apply_to: request } ]
                endpoints: [ { provider: mock, model: captured-model } ]
            principals:
              "*": {}
            """)
        })
        key = try stack.createKey(name: "guardrails")
    }

    override func tearDown() {
        stack?.stop()
        hook?.stop()
        super.tearDown()
    }

    private func chat(_ route: String, _ text: String, stream: Bool = false) -> TestResponse {
        stack.client.post("/v1/chat/completions", key: key,
                          #"{"model":"\#(route)","stream":\#(stream),"messages":[{"role":"user","content":"\#(text)"}]}"#)
    }

    func testSecretsBlockAndPIIIsMaskedThenRestored() throws {
        let before = stack.mockCount(model: "guard-model")
        let blocked = chat("guarded", "my key is AKIAIOSFODNN7EXAMPLE please")
        XCTAssertEqual(blocked.status, 400)
        XCTAssertEqual(blocked.errorCode, "content_blocked")
        XCTAssertTrue(blocked.text.contains("'secrets'") && blocked.text.contains("aws_key"), blocked.text)
        XCTAssertFalse(blocked.text.contains("AKIAIOSFODNN7EXAMPLE"), "the matched text is never echoed")
        XCTAssertEqual(stack.mockCount(model: "guard-model"), before, "a blocked request reaches no provider")
        let blockedRecord = try stack.auditRecord(of: blocked)
        let decisions = try XCTUnwrap(blockedRecord["guardrails"] as? [[String: Any]])
        XCTAssertEqual(decisions.first?["name"] as? String, "secrets")
        XCTAssertEqual(decisions.first?["action"] as? String, "block")
        XCTAssertEqual((decisions.first?["found"] as? [String: Int])?["aws_key"], 1)
        XCTAssertFalse("\(blockedRecord)".contains("AKIAIOSFODNN7EXAMPLE"))

        // The provider sees placeholders; the client gets its values back (the mock echoes).
        let masked = chat("guarded", "mail alice@example.com, card 4111 1111 1111 1111, again alice@example.com, INC-123456")
        XCTAssertEqual(masked.status, 200, masked.text)
        let sent = try XCTUnwrap((stack.mockStats()["last_request"] as? [String: Any])?["body"] as? String)
        XCTAssertTrue(sent.contains("mail <EMAIL_1>, card <CREDIT_CARD_1>, again <EMAIL_1>, INC-123456"), sent)
        XCTAssertFalse(sent.contains("alice@example.com") || sent.contains("4111"), sent)
        let content = ((masked.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
        XCTAssertEqual(content, "Echo: mail alice@example.com, card 4111 1111 1111 1111, again alice@example.com, INC-123456")
        let record = try stack.auditRecord(of: masked)
        let found = (record["guardrails"] as? [[String: Any]] ?? []).reduce(into: [String: String]()) {
            $0[$1["name"] as? String ?? ""] = $1["action"] as? String
        }
        XCTAssertEqual(found, ["pii": "mask", "tickets": "log"])

        // A topic keyword blocks; Anthropic's API gets Anthropic's error shape.
        XCTAssertEqual(chat("guarded", "what is the rainfall forecast").errorCode, "content_blocked")
        let anthropic = stack.client.post("/v1/messages", key: key,
                                          #"{"model":"claude-guarded","max_tokens":50,"messages":[{"role":"user","content":"token ghp_\#(String(repeating: "x1", count: 18))"}]}"#,
                                          extraHeaders: [("anthropic-version", "2023-06-01")])
        XCTAssertEqual(anthropic.status, 400)
        XCTAssertEqual(anthropic.json["type"] as? String, "error")
        XCTAssertEqual((anthropic.json["error"] as? [String: Any])?["type"] as? String, "invalid_request_error")
        XCTAssertTrue(anthropic.text.contains("github_token"), anthropic.text)
        try waitUntil("decisions are counted in /metrics", timeout: .seconds(5)) {
            stack.client.send(.get, "/metrics").text.contains(#"sluice_guardrail_total{route="guarded",guardrail="pii",direction="request",action="mask"}"#)
        }
    }

    func testAnswerSideGuardrailsBlockJSONAndEndStreams() throws {
        // The mock echoes the prompt, so the answer carries the word.
        let json = chat("guarded", "say the forbidden word")
        XCTAssertEqual(json.status, 422)
        XCTAssertEqual(json.errorCode, "answer_blocked")
        XCTAssertFalse(json.text.contains("forbidden word"), json.text)

        let stream = chat("guarded", "now say the forbidden word slowly", stream: true)
        XCTAssertEqual(stream.status, 200)
        XCTAssertTrue(stream.text.contains("answer_blocked"), stream.text)
        XCTAssertFalse(stream.text.contains("[DONE]"), "a blocked stream is not complete")
        XCTAssertFalse(stream.text.contains("forbidden"), "the event with the word never reaches the client")
        let record = try stack.auditRecord(of: stream)
        XCTAssertEqual(record["stream_completed"] as? Bool, false)
        XCTAssertTrue("\(record["guardrails"] ?? "")".contains("answers"))
        // A clean stream passes whole.
        XCTAssertTrue(chat("guarded", "a harmless line", stream: true).text.contains("[DONE]"))
    }

    func testMasksRespectEscapesRestoreOnlyTheirOwnAndNeverShareACachedAnswer() throws {
        // An escape before the value: the placeholder replaces the value only (valid JSON).
        let first = chat("mixed", #"line one\nalice@example.com, key AKIAIOSFODNN7EXAMPLE"#)
        XCTAssertEqual(first.status, 200, first.text)
        let sent = try XCTUnwrap((stack.mockStats()["last_request"] as? [String: Any])?["body"] as? String)
        XCTAssertTrue(sent.contains(#"line one\n<EMAIL_1>, key <SECRET_1>"#), sent)
        let content = { (response: TestResponse) in
            ((response.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
        }
        // The guardrail that restores gets its value back; the one that does not, does not.
        XCTAssertEqual(content(first), "Echo: line one alice@example.com, key <SECRET_1>")  // the mock echoes words
        // Masked alike, not alike: another address is a miss with its own answer.
        usleep(200_000)
        let second = chat("mixed", #"line one\nbob@example.org, key AKIAIOSFODNN7EXAMPLE"#)
        XCTAssertEqual(second.header("x-sluice-cache"), "miss")
        XCTAssertEqual(content(second), "Echo: line one bob@example.org, key <SECRET_1>")
        // A date and time is not a phone number.
        XCTAssertEqual(content(chat("mixed", "meet 2024-01-15 12:30")), "Echo: meet 2024-01-15 12:30")
    }

    func testAKeyPolicyCanTurnAGuardrailOff() throws {
        let created = try stack.sluice(["keys", "create", "--config", stack.configPath, "--name", "ops", "--quiet",
                                        "--guardrails-off", "secrets"])
        let opsKey = created.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let response = stack.client.post("/v1/chat/completions", key: opsKey,
                                          #"{"model":"guarded","messages":[{"role":"user","content":"rotate AKIAIOSFODNN7EXAMPLE now"}]}"#)
        XCTAssertEqual(response.status, 200, response.text)
        let decisions = try XCTUnwrap(try stack.auditRecord(of: response)["guardrails"] as? [[String: Any]])
        XCTAssertEqual(decisions.first?["name"] as? String, "secrets")
        XCTAssertEqual(decisions.first?["action"] as? String, "off", "the record says whose calls skip the guardrail")
        // Other keys are still held to it.
        XCTAssertEqual(chat("guarded", "rotate AKIAIOSFODNN7EXAMPLE now").errorCode, "content_blocked")
    }

    func testAWebhookClassifierDecidesAndFailsClosed() throws {
        hook.respond(status: 200, body: #"{"action":"block","reason":"off-policy"}"#)
        let blocked = chat("classified", "tell me something")
        XCTAssertEqual(blocked.errorCode, "content_blocked")
        let received = try XCTUnwrap(hook.waitForRequests(1, timeout: .seconds(5))?.last)
        XCTAssertTrue(received.contains(#""text":"tell me something""#), received)
        XCTAssertTrue(received.contains(#""direction":"request""#), received)
        hook.respond(status: 200, body: #"{"action":"allow"}"#)
        XCTAssertEqual(chat("classified", "tell me something").status, 200)
        hook.respond(status: 500, body: "down")
        XCTAssertEqual(chat("classified", "tell me something").errorCode, "content_blocked", "fail: closed")
    }

    private var lastSentBody: String {
        ((stack.mockStats()["last_request"] as? [String: Any])?["body"] as? String) ?? ""
    }

    func testAJSONEscapeHidesNothingAndAPrivateKeyIsMaskedWhole() throws {
        // \u0041 is 'A': the provider would read AKIA…, so the guardrail does too.
        let escaped = chat("guarded", #"rotate \u0041KIAIOSFODNN7EXAMPLE now"#)
        XCTAssertEqual(escaped.errorCode, "content_blocked", escaped.text)
        XCTAssertEqual(chat("guarded", #"the forecast says rain\u0066all"#).errorCode, "content_blocked", "a topic word behind an escape")
        // A PEM block inside JSON is split by \n escapes; all of it is masked, not its first line.
        let pem = #"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretbody\nQWERTYsecondline\n-----END RSA PRIVATE KEY-----"#
        let masked = chat("mixed", "store " + pem + " safely")
        XCTAssertEqual(masked.status, 200, masked.text)
        let sent = lastSentBody
        XCTAssertTrue(sent.contains("store <SECRET_1> safely"), sent)
        XCTAssertFalse(sent.contains("MIIEow") || sent.contains("QWERTY") || sent.contains("END RSA"), sent)
    }

    func testCompletionsAndEmbeddingsAreGuardedToo() throws {
        let before = stack.mockCount(model: "guard-instruct") + stack.mockCount(model: "guard-embed")
        let text = stack.client.post("/v1/completions", key: key, #"{"model":"guarded-text","prompt":"key AKIAIOSFODNN7EXAMPLE"}"#)
        XCTAssertEqual(text.status, 400, text.text)
        XCTAssertEqual(text.errorCode, "content_blocked")
        let embed = stack.client.post("/v1/embeddings", key: key, #"{"model":"guarded-embed","input":["fine","key AKIAIOSFODNN7EXAMPLE"]}"#)
        XCTAssertEqual(embed.status, 400, embed.text)
        XCTAssertFalse(embed.text.contains("AKIA"))
        XCTAssertEqual(stack.mockCount(model: "guard-instruct") + stack.mockCount(model: "guard-embed"), before,
                       "blocked requests reach no provider")

        XCTAssertEqual(stack.client.post("/v1/completions", key: key,
                                         #"{"model":"guarded-text","prompt":"write to carol@example.com"}"#).status, 200)
        XCTAssertTrue(lastSentBody.contains("write to <EMAIL_1>"), lastSentBody)
        XCTAssertEqual(stack.client.post("/v1/embeddings", key: key,
                                         #"{"model":"guarded-embed","input":"dave@example.com"}"#).status, 200)
        XCTAssertTrue(lastSentBody.contains("<EMAIL_1>") && !lastSentBody.contains("dave@"), lastSentBody)
    }

    func testAStreamHoldsTextBackSoAValueSplitAcrossEventsNeverLeaks() throws {
        // The mock streams a word per event: "acme" leaves the provider before " corp".
        let blocked = chat("split-words", "we signed with acme corp today", stream: true)
        XCTAssertEqual(blocked.status, 200)
        XCTAssertTrue(blocked.text.contains("answer_blocked"), blocked.text)
        XCTAssertFalse(blocked.text.lowercased().contains("acme"), "no part of the phrase reaches the client: \(blocked.text)")
        // A clean stream arrives whole and in order.
        let clean = chat("split-words", "we signed with acme today and corp later", stream: true)
        XCTAssertTrue(clean.text.contains("[DONE]"), clean.text)
        let deltas = clean.text.split(separator: "\n").filter { $0.hasPrefix("data: {") }.compactMap { line in
            ((try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8))) as? [String: Any]).flatMap {
                (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String
            }
        }
        XCTAssertEqual(deltas.joined(), "Echo: we signed with acme today and corp later")
    }

    func testAWebhookCanReadAnswersJSONAndStreamed() throws {
        hook.respond(status: 200, body: #"{"flagged":true}"#)
        let json = chat("answer-classified", "tell me a secret")
        XCTAssertEqual(json.status, 422, json.text)
        XCTAssertEqual(json.errorCode, "answer_blocked")
        let received = try XCTUnwrap(hook.waitForRequests(1, timeout: .seconds(5))?.last)
        XCTAssertTrue(received.contains(#""direction":"response""#) && received.contains("Echo: tell me a secret"), received)
        let stream = chat("answer-classified", "tell me a story", stream: true)
        XCTAssertTrue(stream.text.contains("answer_blocked"), stream.text)
        XCTAssertFalse(stream.text.contains("story"), "a stream a webhook reads is held until the webhook passed it")
        hook.respond(status: 200, body: #"{"action":"allow"}"#)
        XCTAssertEqual(chat("answer-classified", "tell me a story").status, 200)
        let passed = chat("answer-classified", "tell me a story", stream: true)
        XCTAssertTrue(passed.text.contains("story") && passed.text.contains("[DONE]"), passed.text)
    }

    func testCapturedPayloadsKeepNothingAGuardrailMatched() throws {
        let response = chat("captured", "my mail is erin@example.com and ssn 123-45-6789")
        XCTAssertEqual(response.status, 200, response.text)
        let record = try stack.auditRecord(of: response)
        let captured = "\(record["request_body"] ?? "")" + "\(record["response_body"] ?? "")"
        XCTAssertTrue(captured.contains("<EMAIL_1>"), captured)
        XCTAssertFalse(captured.contains("erin@example.com") || captured.contains("123-45-6789"), captured)
    }
}
