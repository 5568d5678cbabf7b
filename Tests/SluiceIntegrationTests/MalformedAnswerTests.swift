import Foundation
import XCTest

/// Provider answers that are not what they claim — an HTML page with status 200, JSON that
/// does not parse, a truncated body, an event stream without events or with events that
/// are not JSON — through real nginx and Redis: before the first byte each is a failed
/// attempt (the next endpoint answers, health counts it, the audit record names it), and
/// with nowhere else to go the client gets a 502 in its own API's error shape.
final class MalformedAnswerTests: SharedStackTestCase {
    nonisolated(unsafe) private static var cachedKey: String?
    private static let garbles = ["html", "invalid_json", "truncated_json", "no_events", "bad_events"]

    override class var stackConfig: ((GatewayStack) -> String)? {
        { stack in
            let fallbackRoutes = garbles.map { garble in
                """
                  fb-\(garble):
                    type: chat
                    endpoints:
                      - { name: primary, provider: openai, model: "m-\(garble)@garble=\(garble)" }
                      - { name: backup, provider: openai, model: backup-\(garble), fallback_only: true }
                  only-\(garble): { type: chat, endpoints: [ { name: only, provider: openai, model: "o-\(garble)@garble=\(garble)" } ] }
                  claude-\(garble):
                    type: chat
                    endpoints:
                      - { name: primary, provider: anthropic, model: "claude-\(garble)@garble=\(garble)" }
                      - { name: backup, provider: anthropic, model: claude-backup, fallback_only: true }
                """
            }.joined(separator: "\n")
            return """
            server: { listen: "unix:\(stack.socketPath)", workers: 2, threads: 4, drain_timeout: 5s }
            redis: { url: "redis://127.0.0.1:\(stack.redisPort)/0", timeout: 500ms }
            audit: { spool_dir: "\(stack.directory.path)/spool" }
            health: { window: 30s, min_calls: 3, failure_ratio: 0.5, cooldown: 20s, max_cooldown: 20s }
            providers:
            \(stack.mockProviders)
            routes:
            \(fallbackRoutes)
              bedrock-html:
                type: chat
                endpoints:
                  - { name: primary, provider: bedrock, model: "anthropic.claude-3-haiku@garble=html" }
                  - { name: backup, provider: openai, model: bedrock-backup, fallback_only: true }
              no-retry:
                type: chat
                retry: { on: [5xx] }
                endpoints:
                  - { name: primary, provider: openai, model: "nr@garble=html" }
                  - { name: backup, provider: openai, model: nr-backup, fallback_only: true }
              health:
                type: chat
                endpoints:
                  - { name: primary, provider: openai, model: "health@garble=invalid_json" }
                  - { name: backup, provider: openai, model: health-backup, fallback_only: true }
            principals:
              "*": {}
            """
        }
    }

    private var key: String {
        get throws {
            if let key = Self.cachedKey { return key }
            let key = try gateway().createKey(name: "malformed-tests")
            Self.cachedKey = key
            return key
        }
    }

    private func chat(_ route: String, stream: Bool) throws -> TestResponse {
        let body = #"{"model":"\#(route)","stream":\#(stream),"messages":[{"role":"user","content":"hello there"}]}"#
        return try gateway().client.post("/v1/chat/completions", key: key, body)
    }

    private func messages(_ route: String, stream: Bool) throws -> TestResponse {
        let body = #"{"model":"\#(route)","max_tokens":64,"stream":\#(stream),"messages":[{"role":"user","content":"hello there"}]}"#
        return try gateway().client.post("/v1/messages", key: key, body)
    }

    /// Every kind of non-conforming answer, asked for as JSON and as a stream, moves on to
    /// the backup; the failed attempt is `malformed` in the audit record.
    func testEveryMalformedAnswerFallsBackBeforeTheFirstByte() throws {
        let stack = try gateway()
        for garble in Self.garbles {
            for stream in [false, true] {
                let what = "\(garble), stream \(stream)"
                let response = try chat("fb-\(garble)", stream: stream)
                XCTAssertEqual(response.status, 200, "\(what): \(response.text)")
                XCTAssertEqual(response.header("x-sluice-endpoint"), "backup", what)
                XCTAssertEqual(response.header("x-sluice-attempts"), "2", what)
                if stream {
                    XCTAssertEqual(response.events.last, "[DONE]", what)
                    XCTAssertFalse(response.text.contains("<html"), what)
                } else {
                    XCTAssertNotNil(response.json["choices"], "\(what): \(response.text)")
                }
                let record = try stack.auditRecord(of: response)
                XCTAssertEqual(record["status"] as? Int, 200, what)
                let attempts = try XCTUnwrap(record["attempts"] as? [[String: Any]], what)
                XCTAssertEqual(attempts.map { $0["endpoint"] as? String }, ["primary", "backup"], what)
                let firstError = attempts.first?["error"] as? String
                XCTAssertTrue(firstError == "malformed" || firstError == "dropped", "\(what): \(attempts)")
            }
        }
    }

    /// With no other endpoint: a 502 in OpenAI's error shape, never the provider's page.
    func testMalformedAnswerWithNoFallbackIsA502InTheClientsShape() throws {
        let stack = try gateway()
        for garble in Self.garbles {
            for stream in [false, true] {
                let what = "\(garble), stream \(stream)"
                let response = try chat("only-\(garble)", stream: stream)
                XCTAssertEqual(response.status, 502, "\(what): \(response.text)")
                XCTAssertNotNil(response.json["error"] as? [String: Any], "\(what): \(response.text)")
                XCTAssertFalse(response.text.contains("<html"), what)
                XCTAssertEqual(response.header("x-sluice-attempts"), "1", what)
                let record = try stack.auditRecord(of: response)
                XCTAssertEqual(record["status"] as? Int, 502, what)
                XCTAssertEqual(record["error_class"] as? String, "upstream_error", what)
            }
        }
    }

    /// A route that does not retry on dropped/malformed answers sends the 502 at once.
    func testRouteThatDoesNotRetryMalformedAnswersSendsThe502() throws {
        let stack = try gateway()
        let response = try chat("no-retry", stream: false)
        XCTAssertEqual(response.status, 502, response.text)
        XCTAssertEqual(stack.mockCount(model: "nr-backup"), 0)
    }

    /// Native Anthropic: the backup answers; with nowhere to go, Anthropic's error shape.
    func testMessagesClientsFallBackAndGetAnthropicErrors() throws {
        for garble in Self.garbles {
            for stream in [false, true] {
                let what = "\(garble), stream \(stream)"
                let response = try messages("claude-\(garble)", stream: stream)
                XCTAssertEqual(response.status, 200, "\(what): \(response.text)")
                XCTAssertEqual(response.header("x-sluice-endpoint"), "backup", what)
                if stream {
                    XCTAssertEqual(response.namedEvents.last?.name, "message_stop", "\(what): \(response.text)")
                } else {
                    XCTAssertEqual(response.json["type"] as? String, "message", "\(what): \(response.text)")
                }
            }
        }
        let bedrock = try chat("bedrock-html", stream: false)
        XCTAssertEqual(bedrock.status, 200, bedrock.text)
        XCTAssertEqual(bedrock.header("x-sluice-endpoint"), "backup")
        let refused = try messages("only-html", stream: false)
        XCTAssertEqual(refused.status, 502, refused.text)
        XCTAssertEqual(refused.json["type"] as? String, "error", refused.text)
        XCTAssertNotNil((refused.json["error"] as? [String: Any])?["type"], refused.text)
    }

    /// Malformed answers count against the endpoint's shared health: after `min_calls`
    /// of them it cools down and the next request goes straight to the backup.
    func testMalformedAnswersTripTheEndpoint() throws {
        let stack = try gateway()
        for _ in 0..<3 {
            let response = try chat("health", stream: false)
            XCTAssertEqual(response.header("x-sluice-attempts"), "2", response.text)
        }
        let calledBefore = stack.mockCount(model: "health@garble=invalid_json")
        let response = try chat("health", stream: false)
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertEqual(response.header("x-sluice-endpoint"), "backup")
        XCTAssertEqual(response.header("x-sluice-attempts"), "1", "a cooled endpoint gets no traffic")
        XCTAssertEqual(stack.mockCount(model: "health@garble=invalid_json"), calledBefore)
    }
}
