import Foundation
import SluiceCore
@testable import SluiceGateway
import XCTest

/// `RequestPipeline` on in-memory ports only (no Redis, nginx or sockets): a client request
/// goes in, the response bytes, the provider calls, the health reports and the audit
/// records come out.
final class RequestPipelineTests: XCTestCase {
    private static func config(limits: String = "") -> String {
        """
        redis: { url: "redis://127.0.0.1:1/0" }
        providers:
          a: { kind: openai, base_url: "http://a.test/v1", api_key: "key-a" }
          b: { kind: openai, base_url: "http://b.test/v1", api_key: "key-b" }
        prices:
          m-a: { input: 2.0, output: 8.0 }
          m-b: { input: 1.0, output: 4.0 }
        routes:
          chat:
            type: chat
            endpoints:
              - { name: first, provider: a, model: m-a }
              - { name: second, provider: b, model: m-b, fallback_only: true }
        principals:
          "*": {}
        \(limits)
        """
    }

    private static let question = #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#

    private static func completion(_ text: String, model: String) -> String {
        #"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"\#(model)","choices":[{"index":0,"# +
            #""message":{"role":"assistant","content":"\#(text)"},"finish_reason":"stop"}],"# +
            #""usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}"#
    }

    /// A chunk of a chat completion stream, as one server-sent event.
    private static func chunk(_ choices: String, usage: String = "") -> String {
        #"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m-a","choices":[\#(choices)]\#(usage)}"#
            + "\n\n"
    }

    private static let streamEvents = [
        chunk(#"{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{"content":"lo"},"finish_reason":null}"#),
        chunk(#"{"index":0,"delta":{},"finish_reason":"stop"}"#),
        chunk("", usage: #","usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}"#),
        "data: [DONE]\n\n",
    ]

    private func principalCall(_ body: String = question) -> FakeClientConnection {
        FakeClientConnection(path: "/v1/chat/completions", body: body, params: ["SLUICE_PRINCIPAL": "alice"])
    }

    /// Serves the question as `alice` and checks that `answer` came back from `endpoint`.
    @discardableResult
    private func assertAnswered(_ gateway: FakePipeline, with answer: String, from endpoint: String,
                                line: UInt = #line) -> [String: String] {
        let client = principalCall()
        gateway.serve(client)
        let response = client.response
        XCTAssertEqual(response.status, 200, line: line)
        XCTAssertEqual(response.body, answer, "the provider's answer, byte for byte", line: line)
        XCTAssertEqual(response.headers["x-sluice-endpoint"], endpoint, line: line)
        return response.headers
    }

    private func errorMembers(_ body: String) throws -> [String: Any] {
        let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        return try XCTUnwrap(json?["error"] as? [String: Any], "an OpenAI error: \(body)")
    }

    func testAJSONCallIsAnsweredWithTheProvidersBodyAndAuditedOnceWithUsageAndCost() throws {
        let gateway = try FakePipeline(yaml: Self.config())
        let answer = Self.completion("Hello", model: "m-a")
        gateway.upstream.answer("http://a.test/v1", FakeUpstream.json(answer))
        assertAnswered(gateway, with: answer, from: "first")
        let sent = try XCTUnwrap(gateway.upstream.requests.first)
        XCTAssertEqual(gateway.upstream.requests.count, 1)
        XCTAssertEqual(sent.url, "http://a.test/v1/chat/completions")
        XCTAssertTrue(sent.headers.contains { $0.name == "Authorization" && $0.value == "Bearer key-a" })
        XCTAssertTrue(String(decoding: sent.body, as: UTF8.self).contains(#""model":"m-a""#), "the endpoint's model")

        XCTAssertEqual(gateway.sink.calls.count, 1)
        let record = try XCTUnwrap(gateway.sink.records.first)
        XCTAssertEqual(record.route, "chat")
        XCTAssertEqual(record.endpoint, "first")
        XCTAssertEqual(record.principal, "alice")
        XCTAssertEqual(record.status, 200)
        XCTAssertEqual(record.promptTokens, 10)
        XCTAssertEqual(record.completionTokens, 5)
        XCTAssertEqual(try XCTUnwrap(record.cost), (10 * 2.0 + 5 * 8.0) / 1e6, accuracy: 1e-12, "m-a's price")
        XCTAssertEqual(record.attempts.map(\.status), [200])
        XCTAssertEqual(gateway.sink.calls.first?.health?.attempts.map(\.outcome), [.ok], "a success travels with the record")
        XCTAssertTrue(gateway.health.reports.isEmpty, "no news to report before the response completes")
    }

    func testAnEndpointFailingBeforeTheFirstByteFallsBackAndBothAttemptsAreRecorded() throws {
        let gateway = try FakePipeline(yaml: Self.config())
        gateway.upstream.answer("http://a.test/v1", FakeUpstream.json(#"{"error":{"message":"overloaded","type":"server_error"}}"#,
                                                                      status: 503))
        let answer = Self.completion("From b", model: "m-b")
        gateway.upstream.answer("http://b.test/v1", FakeUpstream.json(answer))
        let headers = assertAnswered(gateway, with: answer, from: "second")
        XCTAssertEqual(headers["x-sluice-attempts"], "2")
        XCTAssertEqual(gateway.upstream.requests.map(\.url), ["http://a.test/v1/chat/completions",
                                                              "http://b.test/v1/chat/completions"])

        let record = try XCTUnwrap(gateway.sink.records.first)
        XCTAssertEqual(record.attempts.map(\.endpoint), ["first", "second"])
        XCTAssertEqual(record.attempts.map(\.status), [503, 200])
        XCTAssertEqual(record.attempts.map(\.failed), [true, false])
        XCTAssertEqual(record.endpoint, "second")
        XCTAssertEqual(try XCTUnwrap(record.cost), (10 * 1.0 + 5 * 4.0) / 1e6, accuracy: 1e-12, "the answering endpoint's price")
        // A failure is news: reported before the response completes, not left to the settler.
        XCTAssertEqual(gateway.health.reports.count, 1)
        XCTAssertEqual(gateway.health.reports.first?.map(\.endpoint), ["first", "second"])
        XCTAssertEqual(gateway.health.reports.first?.map(\.outcome), [.fail, .ok])
        XCTAssertNil(gateway.sink.calls.first?.health, "reported once")
    }

    func testAnUnknownKeyIs401InOpenAIsErrorShapeAndAudited() throws {
        let gateway = try FakePipeline(yaml: Self.config())
        gateway.upstream.answer("http://a.test/v1", FakeUpstream.json(Self.completion("Hello", model: "m-a")))
        let known = gateway.keys.add(name: "team")
        var generator = SystemRandomNumberGenerator()
        let unknown = GatewayKeyFormat.generate(using: &generator).key

        let refused = FakeClientConnection(path: "/v1/chat/completions", body: Self.question,
                                           params: ["SLUICE_CREDENTIAL": unknown])
        gateway.serve(refused)
        XCTAssertEqual(refused.response.status, 401)
        let error = try errorMembers(refused.response.body)
        XCTAssertEqual(error["code"] as? String, "invalid_api_key")
        XCTAssertEqual(error["type"] as? String, "authentication_error")
        XCTAssertNotNil(error["message"] as? String)
        XCTAssertTrue(gateway.upstream.requests.isEmpty, "no provider call")
        let record = try XCTUnwrap(gateway.sink.records.first)
        XCTAssertEqual(record.status, 401)
        XCTAssertEqual(record.errorClass, "invalid_api_key")
        XCTAssertNil(record.keyId)

        let admitted = FakeClientConnection(path: "/v1/chat/completions", body: Self.question,
                                            params: ["SLUICE_CREDENTIAL": known.key])
        gateway.serve(admitted)
        XCTAssertEqual(admitted.response.status, 200)
        XCTAssertEqual(gateway.sink.records.last?.keyId, known.id)
    }

    func testAKeyThatCannotBeCheckedIs503AndAKnownOneIsServedFromTheCache() throws {
        let gateway = try FakePipeline(yaml: Self.config())
        gateway.upstream.answer("http://a.test/v1", FakeUpstream.json(Self.completion("Hello", model: "m-a")))
        let known = gateway.keys.add(name: "team")
        let first = FakeClientConnection(path: "/v1/chat/completions", body: Self.question,
                                         params: ["SLUICE_CREDENTIAL": known.key])
        gateway.serve(first)
        XCTAssertEqual(first.response.status, 200)

        gateway.keys.down = true
        let again = FakeClientConnection(path: "/v1/chat/completions", body: Self.question,
                                         params: ["SLUICE_CREDENTIAL": known.key])
        gateway.serve(again)
        XCTAssertEqual(again.response.status, 200, "a key just looked up is not looked up again")
        XCTAssertEqual(gateway.keys.lookups, 1)

        var generator = SystemRandomNumberGenerator()
        let other = FakeClientConnection(path: "/v1/chat/completions", body: Self.question,
                                         params: ["SLUICE_CREDENTIAL": GatewayKeyFormat.generate(using: &generator).key])
        gateway.serve(other)
        XCTAssertEqual(other.response.status, 503)
        XCTAssertEqual(other.response.headers["retry-after"], "1")
        XCTAssertEqual(gateway.upstream.requests.count, 2)
    }

    func testARefusedAdmissionIs429WithoutAProviderCall() throws {
        let gateway = try FakePipeline(yaml: Self.config(limits: "limits: [ { per: route, requests: 1, window: 1m } ]"))
        gateway.upstream.answer("http://a.test/v1", FakeUpstream.json(Self.completion("Hello", model: "m-a")))
        let first = principalCall()
        gateway.serve(first)
        XCTAssertEqual(first.response.status, 200)
        XCTAssertEqual(first.response.headers["x-ratelimit-remaining-requests"], "0")
        let settlement = try XCTUnwrap(gateway.sink.calls.first?.settlement?.settlements.first,
                                       "the admitted call's reservation is settled with the record")
        XCTAssertEqual(settlement.usage?.completion, 5)

        let second = principalCall()
        gateway.serve(second)
        XCTAssertEqual(second.response.status, 429)
        XCTAssertEqual(second.response.headers["x-sluice-attempts"], "0")
        XCTAssertNotNil(second.response.headers["retry-after"])
        XCTAssertEqual(try errorMembers(second.response.body)["code"] as? String, "rate_limit_exceeded")
        XCTAssertEqual(gateway.upstream.requests.count, 1, "a refused call never reaches a provider")
        XCTAssertEqual(gateway.governance.admissions, 2)
        XCTAssertEqual(gateway.sink.records.map(\.status), [200, 429])
    }

    func testAStreamIsRelayedEventByEventAsItArrives() throws {
        let gateway = try FakePipeline(yaml: Self.config())
        gateway.upstream.answer("http://a.test/v1", FakeUpstream.events(Self.streamEvents))
        let client = principalCall(#"{"model":"chat","stream":true,"stream_options":{"include_usage":true},"#
                                   + #""messages":[{"role":"user","content":"hi"}]}"#)
        gateway.serve(client)

        XCTAssertEqual(client.response.status, 200)
        XCTAssertEqual(client.response.headers["content-type"], "text/event-stream")
        // One flush per event, each as the provider sent it: the first with the head.
        XCTAssertEqual(client.flushed.count, Self.streamEvents.count)
        for (flushed, event) in zip(client.flushed, Self.streamEvents) {
            XCTAssertTrue(String(decoding: flushed, as: UTF8.self).hasSuffix(event))
        }
        XCTAssertEqual(client.flushed.dropFirst().map { String(decoding: $0, as: UTF8.self) },
                       Array(Self.streamEvents.dropFirst()))
        let record = try XCTUnwrap(gateway.sink.records.first)
        XCTAssertEqual(record.streamCompleted, true)
        XCTAssertEqual(record.completionTokens, 2, "the stream's own usage")
        XCTAssertEqual(record.usageSource, .provider)
    }

    func testAClientGoingAwayMidStreamStopsTheProviderAndIsAuditedAsClientGone() throws {
        let gateway = try FakePipeline(yaml: Self.config())
        gateway.upstream.answer("http://a.test/v1", FakeUpstream.events(Self.streamEvents))
        let client = principalCall(#"{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
        client.flushesBeforeGone = 2
        gateway.serve(client)

        XCTAssertTrue(client.gone)
        XCTAssertEqual(gateway.upstream.chunksDelivered, 3, "the transfer stops at the flush that failed")
        XCTAssertFalse(client.response.body.contains("[DONE]"))
        XCTAssertEqual(gateway.upstream.requests.count, 1, "no other endpoint after the first byte")
        let record = try XCTUnwrap(gateway.sink.records.first)
        XCTAssertEqual(record.errorClass, "client_gone")
        XCTAssertEqual(record.streamCompleted, false)
        XCTAssertEqual(record.usageSource, .partial)
        let attempts = try XCTUnwrap(gateway.sink.calls.first?.health?.attempts)
        XCTAssertEqual(attempts.map(\.outcome), [.neutral], "the client leaving says nothing about the endpoint")
        XCTAssertTrue(gateway.health.reports.isEmpty)
    }

    func testACoolingEndpointIsSkippedWithoutACall() throws {
        let gateway = try FakePipeline(yaml: Self.config())
        let first = try XCTUnwrap(gateway.context.config.routes["chat"]?.endpoints.first)
        gateway.health.states[first.upstreamKey] = EndpointHealth(state: .cooling(until: Governor.nowMs() + 60_000))
        let answer = Self.completion("From b", model: "m-b")
        gateway.upstream.answer("http://b.test/v1", FakeUpstream.json(answer))
        assertAnswered(gateway, with: answer, from: "second")
        XCTAssertEqual(gateway.upstream.requests.map(\.url), ["http://b.test/v1/chat/completions"])
        XCTAssertEqual(gateway.sink.records.first?.attempts.map(\.endpoint), ["second"])
    }
}
