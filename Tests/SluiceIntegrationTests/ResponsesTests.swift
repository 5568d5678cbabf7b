import Foundation
import XCTest

/// OpenAI's Responses API through real nginx, Redis and the pool: native on OpenAI-family
/// endpoints (pinned to the account that holds each response), translated on Anthropic,
/// Bedrock and Databricks (with the conversation kept by the gateway, per key).
final class ResponsesTests: SharedStackTestCase {
    nonisolated(unsafe) private static var cachedKey: String?

    override class var stackConfig: ((GatewayStack) -> String)? {
        { stack in
            let mock = "http://127.0.0.1:\(stack.mockPort)"
            return """
            server: { listen: "unix:\(stack.socketPath)", workers: 1, threads: 4, drain_timeout: 5s }
            redis: { url: "redis://127.0.0.1:\(stack.redisPort)/0", timeout: 500ms }
            audit: { spool_dir: "\(stack.directory.path)/spool" }
            responses: { store_ttl: 1h, max_bytes: 256k }
            providers:
            \(stack.mockProviders)
              project-a: { kind: openai, base_url: "\(mock)/v1", api_key: "${env:SLUICE_TEST_MOCK_KEY}", headers: { OpenAI-Project: proj_a } }
              project-b: { kind: openai, base_url: "\(mock)/v1", api_key: "${env:SLUICE_TEST_MOCK_KEY}", headers: { OpenAI-Project: proj_b } }
            routes:
              resp-openai: { type: chat, endpoints: [ { provider: openai, model: gpt-4o } ] }
              resp-azure: { type: chat, endpoints: [ { provider: azure, model: gpt4o-deployment } ] }
              resp-anthropic: { type: chat, endpoints: [ { provider: anthropic, model: claude-sonnet-4-5-20250929 } ] }
              resp-bedrock: { type: chat, endpoints: [ { provider: bedrock, model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0" } ] }
              resp-databricks: { type: chat, endpoints: [ { provider: databricks, model: dbx-chat } ] }
              two-accounts:
                type: chat
                endpoints:
                  - { name: a, provider: project-a, model: gpt-4o, weight: 50 }
                  - { name: b, provider: project-b, model: gpt-4o, weight: 50 }
              cooling:
                type: chat
                endpoints:
                  - { name: main, provider: project-a, model: gpt-main }
                  - { name: spare, provider: project-b, model: gpt-spare, fallback_only: true }
            principals:
              "*": {}
            """
        }
    }

    static let routes = ["resp-openai", "resp-azure", "resp-anthropic", "resp-bedrock", "resp-databricks"]
    static let weather = #"[{"type":"function","name":"get_weather","description":"Weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]"#

    private var key: String {
        get throws {
            if let key = Self.cachedKey { return key }
            let key = try gateway().createKey(name: "responses")
            Self.cachedKey = key
            return key
        }
    }

    private func create(_ body: String, key: String? = nil) throws -> TestResponse {
        try gateway().client.post("/v1/responses", key: key ?? self.key, body)
    }

    private func outputText(_ response: [String: Any]) -> String {
        (response["output"] as? [[String: Any]] ?? []).filter { $0["type"] as? String == "message" }
            .flatMap { $0["content"] as? [[String: Any]] ?? [] }.compactMap { $0["text"] as? String }.joined()
    }

    func testPlainAnswerOnEveryKind() throws {
        for route in Self.routes {
            let response = try create(#"{"model":"\#(route)","input":"hello there"}"#)
            XCTAssertEqual(response.status, 200, "\(route): \(response.text)")
            let json = response.json
            XCTAssertEqual(json["object"] as? String, "response", route)
            XCTAssertEqual(json["status"] as? String, "completed", route)
            XCTAssertTrue((json["id"] as? String ?? "").hasPrefix("resp"), route)
            XCTAssertEqual(outputText(json), "Echo: hello there", route)
            let usage = try XCTUnwrap(json["usage"] as? [String: Any], route)
            XCTAssertGreaterThan(usage["input_tokens"] as? Int ?? 0, 0, route)
            XCTAssertGreaterThan(usage["output_tokens"] as? Int ?? 0, 0, route)
            // Audited as any call: the path, the route, the provider's usage.
            let record = try gateway().auditRecord(of: response)
            XCTAssertEqual(record["path"] as? String, "/v1/responses", route)
            XCTAssertEqual(record["route"] as? String, route)
            XCTAssertEqual(record["usage_source"] as? String, "provider", route)
            XCTAssertEqual(record["prompt_tokens"] as? Int, usage["input_tokens"] as? Int, route)
            XCTAssertEqual(record["completion_tokens"] as? Int, usage["output_tokens"] as? Int, route)
        }
    }

    func testStreamsAreTheDocumentedEventSequence() throws {
        for route in Self.routes {
            let response = try create(#"{"model":"\#(route)","input":"stream these words","stream":true}"#)
            XCTAssertEqual(response.status, 200, "\(route): \(response.text)")
            let events = response.namedEvents
            let types = events.map(\.name)
            XCTAssertEqual(types.first, "response.created", route)
            XCTAssertEqual(types.last, "response.completed", route)
            XCTAssertTrue(types.contains("response.output_text.delta"), "\(route): \(types)")
            let numbers = events.compactMap { $0.data["sequence_number"] as? Int }
            XCTAssertEqual(numbers, Array(numbers.indices).map { numbers.first! + $0 }, "\(route): sequence numbers in order")
            let done = try XCTUnwrap(events.last?.data["response"] as? [String: Any], route)
            XCTAssertEqual(outputText(done), "Echo: stream these words", route)
            XCTAssertGreaterThan((done["usage"] as? [String: Any])?["output_tokens"] as? Int ?? 0, 0, route)
        }
    }

    func testFunctionToolRoundTripAndFollowUpOnEveryKind() throws {
        for route in Self.routes {
            let first = try create(#"{"model":"\#(route)","input":"What is the weather in Paris?","tools":\#(Self.weather)}"#)
            XCTAssertEqual(first.status, 200, "\(route): \(first.text)")
            let json = first.json
            let call = try XCTUnwrap((json["output"] as? [[String: Any]])?.first { $0["type"] as? String == "function_call" },
                                     "\(route): \(first.text)")
            XCTAssertEqual(call["name"] as? String, "get_weather", route)
            let callID = try XCTUnwrap(call["call_id"] as? String)
            let id = try XCTUnwrap(json["id"] as? String)
            let follow = try create(#"{"model":"\#(route)","previous_response_id":"\#(id)","tools":\#(Self.weather),"#
                                    + #""input":[{"type":"function_call_output","call_id":"\#(callID)","output":"18C and sunny"}]}"#)
            XCTAssertEqual(follow.status, 200, "\(route): \(follow.text)")
            XCTAssertFalse(outputText(follow.json).isEmpty, "\(route): an answer after the tool's output")
            XCTAssertEqual(follow.json["previous_response_id"] as? String, id, route)
            // The stored response can be read back, and its input items listed.
            let stored = try gateway().client.send(.get, "/v1/responses/\(id)", headers: [("Authorization", "Bearer \(try key)")])
            XCTAssertEqual(stored.status, 200, "\(route): \(stored.text)")
            XCTAssertEqual(stored.json["id"] as? String, id, route)
            let items = try gateway().client.send(.get, "/v1/responses/\(id)/input_items",
                                                  headers: [("Authorization", "Bearer \(try key)")])
            XCTAssertEqual(items.status, 200, "\(route): \(items.text)")
            XCTAssertEqual(items.json["object"] as? String, "list", route)
        }
    }

    func testAnotherKeyCannotReadOrContinueTheResponse() throws {
        let stack = try gateway()
        let other = try stack.createKey(name: "someone-else")
        for route in ["resp-anthropic", "resp-openai"] {
            let created = try create(#"{"model":"\#(route)","input":"secret plans"}"#)
            let id = try XCTUnwrap(created.json["id"] as? String, created.text)
            let read = stack.client.send(.get, "/v1/responses/\(id)", headers: [("Authorization", "Bearer \(other)")])
            XCTAssertEqual(read.status, 404, "\(route): \(read.text)")
            let follow = try create(#"{"model":"\#(route)","previous_response_id":"\#(id)","input":"and?"}"#, key: other)
            XCTAssertEqual(follow.status, 404, "\(route): \(follow.text)")
        }
    }

    func testFollowUpsReachTheAccountThatHoldsTheResponse() throws {
        for _ in 0..<6 {
            let created = try create(#"{"model":"two-accounts","input":"remember this"}"#)
            XCTAssertEqual(created.status, 200, created.text)
            let id = try XCTUnwrap(created.json["id"] as? String)
            let endpoint = try XCTUnwrap(created.header("x-sluice-endpoint"))
            for _ in 0..<3 {
                let follow = try create(#"{"model":"two-accounts","previous_response_id":"\#(id)","input":"and again"}"#)
                XCTAssertEqual(follow.status, 200, follow.text)
                XCTAssertEqual(follow.header("x-sluice-endpoint"), endpoint, "the pinned account answers every follow-up")
            }
            let read = try gateway().client.send(.get, "/v1/responses/\(id)", headers: [("Authorization", "Bearer \(try key)")])
            XCTAssertEqual(read.status, 200, read.text)
            let deleted = try gateway().client.send(.delete, "/v1/responses/\(id)", headers: [("Authorization", "Bearer \(try key)")])
            XCTAssertEqual(deleted.status, 200, deleted.text)
            XCTAssertEqual(deleted.json["deleted"] as? Bool, true)
        }
    }

    func testTranslatedRoutesRefuseWhatTheyCannotServe() throws {
        let builtIn = try create(#"{"model":"resp-anthropic","input":"hi","tools":[{"type":"web_search"}]}"#)
        XCTAssertEqual(builtIn.status, 400, builtIn.text)
        XCTAssertEqual((builtIn.json["error"] as? [String: Any])?["param"] as? String, "tools[0].type")
        let missing = try create(#"{"model":"resp-bedrock","previous_response_id":"resp_nope","input":"hi"}"#)
        XCTAssertEqual(missing.status, 404, missing.text)
        XCTAssertEqual((missing.json["error"] as? [String: Any])?["param"] as? String, "previous_response_id")
    }

    func testAFollowUpWhoseAccountIsCoolingDownGetsA503NamingIt() throws {
        let stack = try gateway()
        let created = try create(#"{"model":"cooling","input":"remember this"}"#)
        XCTAssertEqual(created.status, 200, created.text)
        XCTAssertEqual(created.header("x-sluice-endpoint"), "main")
        let id = try XCTUnwrap(created.json["id"] as? String)
        stack.setMockFault(model: "gpt-main", "status=429,retry_after=30")
        defer { stack.setMockFault(model: "gpt-main", "") }
        // A plain call trips the main endpoint (429 with Retry-After) and the spare answers.
        let plain = try gateway().client.post("/v1/chat/completions", key: key,
                                              #"{"model":"cooling","messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(plain.status, 200, plain.text)
        XCTAssertEqual(plain.header("x-sluice-endpoint"), "spare")
        let follow = try create(#"{"model":"cooling","previous_response_id":"\#(id)","input":"and again"}"#)
        XCTAssertEqual(follow.status, 503, "never the spare account, which would answer not found: \(follow.text)")
        let message = (follow.json["error"] as? [String: Any])?["message"] as? String ?? ""
        XCTAssertTrue(message.contains("'main'") && message.contains("cooling down"), message)
        XCTAssertNotNil(follow.header("retry-after"))
    }
}
