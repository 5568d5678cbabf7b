import Foundation
import SluiceCore
@testable import SluiceGateway
import XCTest

/// `RequestPipeline` on in-memory ports only (no Redis, nginx or sockets): a client request
/// goes in, the response bytes, the provider calls, the health reports and the audit
/// records come out.
final class RequestPipelineTests: XCTestCase {
    /// `retry`: the route's `retry:` map, if any.
    private static func config(limits: String = "", retry: String = "") -> String {
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
            \(retry.isEmpty ? "" : "retry: \(retry)")
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

    /// Serves the question with the gateway key `key`; returns the response.
    private func keyCall(_ gateway: FakePipeline, _ key: String) -> (status: Int, headers: [String: String], body: String) {
        let client = FakeClientConnection(path: "/v1/chat/completions", body: Self.question,
                                          params: ["SLUICE_CREDENTIAL": key])
        gateway.serve(client)
        return client.response
    }

    private static let overloaded = FakeUpstream.json(#"{"error":{"message":"overloaded","type":"server_error"}}"#,
                                                      status: 503)

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
        gateway.upstream.answer("http://a.test/v1", Self.overloaded)
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

    // MARK: Time, on the fake clock: it moves only as the fake provider (or a wait) moves it.

    func testTheAuditRecordsTimesAreTheClocksAndAStreamsLatencyIsItsTimeToFirstEvent() throws {
        let gateway = try FakePipeline(yaml: Self.config())
        let startMs = gateway.clock.unixMs
        gateway.upstream.chunkInterval = .milliseconds(50)
        gateway.upstream.answer("http://a.test/v1", .after(.milliseconds(300), FakeUpstream.events(Self.streamEvents)))
        let client = principalCall(#"{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
        gateway.serve(client)

        XCTAssertEqual(client.response.status, 200)
        let record = try XCTUnwrap(gateway.sink.records.first)
        XCTAssertEqual(record.timeMs, startMs, "the wall clock when the call started")
        XCTAssertEqual(record.ttfbMs, 350, "the head after 300 ms, the first event 50 ms later")
        XCTAssertEqual(record.upstreamMs, 550, "the whole transfer: the head and five events")
        XCTAssertEqual(record.latencyMs, 550)
        XCTAssertEqual(record.attempts.map(\.latencyMs), [350], "a relayed stream's attempt: its time to first event")
        XCTAssertEqual(gateway.sink.calls.first?.health?.attempts.map(\.latencyMs), [350])
    }

    func testARetryRoundWaitsItsBackoffOnTheClockWhichCountsInLatencyButNotUpstreamTime() throws {
        let gateway = try FakePipeline(yaml: Self.config(retry: "{ attempts: 3 }"))
        let answer = Self.completion("Hello", model: "m-a")
        gateway.upstream.answer("http://a.test/v1", .after(.milliseconds(100), Self.overloaded),
                                .after(.milliseconds(300), FakeUpstream.json(answer)))
        gateway.upstream.answer("http://b.test/v1", .after(.milliseconds(100), Self.overloaded))
        let headers = assertAnswered(gateway, with: answer, from: "first")

        XCTAssertEqual(headers["x-sluice-attempts"], "3")
        XCTAssertEqual(gateway.clock.sleeps, Array(repeating: .milliseconds(50), count: 4),
                       "the second round's 200 ms backoff, watching the client every 50 ms")
        let record = try XCTUnwrap(gateway.sink.records.first)
        XCTAssertEqual(record.attempts.map(\.latencyMs), [100, 100, 300])
        XCTAssertEqual(record.upstreamMs, 500, "the three calls")
        XCTAssertEqual(record.latencyMs, 700, "the calls and the backoff")
        XCTAssertEqual(record.ttfbMs, 700, "a JSON answer leaves once it is whole")
    }

    func testATransferAsksWhetherTheClientIsStillThereEvery200MillisecondsNotAtEachChunk() throws {
        let gateway = try FakePipeline(yaml: Self.config())
        let answer = Array(Self.completion("Hello", model: "m-a"))
        let chunks = (0..<10).map { String(answer[$0 * answer.count / 10 ..< ($0 + 1) * answer.count / 10]) }
        gateway.upstream.chunkInterval = .milliseconds(50)
        gateway.upstream.answer("http://a.test/v1", .response(status: 200, contentType: "application/json", chunks: chunks))
        let client = principalCall()
        gateway.serve(client)

        XCTAssertEqual(client.response.body, String(answer))
        XCTAssertEqual(client.peerChecks, 2, "ten chunks 50 ms apart: at 200 and 400 ms")
        XCTAssertEqual(gateway.sink.records.first?.upstreamMs, 500)
    }

    func testTheRoutesDeadlinePassingInTheFirstAttemptEndsTheCallWithoutAFallback() throws {
        let gateway = try FakePipeline(yaml: Self.config(retry: "{ deadline: 1s }"))
        // libcurl ends the transfer at the time limit the deadline set.
        gateway.upstream.answer("http://a.test/v1", .after(.seconds(1), .failure(.timeout(.total))))
        gateway.upstream.answer("http://b.test/v1", FakeUpstream.json(Self.completion("From b", model: "m-b")))
        let client = principalCall()
        gateway.serve(client)

        XCTAssertEqual(gateway.upstream.requests.map(\.url), ["http://a.test/v1/chat/completions"], "no fallback")
        XCTAssertEqual(gateway.upstream.requests.first?.limits.total, .seconds(1), "the attempt gets the whole deadline")
        XCTAssertEqual(client.response.status, 504)
        XCTAssertEqual(client.response.headers["x-sluice-attempts"], "1")
        let error = try errorMembers(client.response.body)
        XCTAssertEqual(error["code"] as? String, "upstream_timeout")
        XCTAssertEqual(error["message"] as? String, "The request's deadline for 'chat' passed.")
        let record = try XCTUnwrap(gateway.sink.records.first)
        XCTAssertEqual(record.status, 504)
        XCTAssertEqual(record.latencyMs, 1000)
    }

    func testAFallbackAttemptGetsOnlyTheTimeLeftOfTheRoutesDeadline() throws {
        let gateway = try FakePipeline(yaml: Self.config(retry: "{ deadline: 1s }"))
        gateway.upstream.answer("http://a.test/v1", .after(.milliseconds(400), Self.overloaded))
        let answer = Self.completion("From b", model: "m-b")
        gateway.upstream.answer("http://b.test/v1", FakeUpstream.json(answer))
        assertAnswered(gateway, with: answer, from: "second")

        let limits = gateway.upstream.requests.map(\.limits)
        XCTAssertEqual(limits.map(\.total), [.seconds(1), .milliseconds(600)])
        XCTAssertEqual(limits.map(\.firstByte), [.seconds(1), .milliseconds(600)])
    }

    func testAKeyStopsWorkingWhenItsExpiryPassesOnTheWallClock() throws {
        let gateway = try FakePipeline(yaml: Self.config())
        gateway.upstream.answer("http://a.test/v1", FakeUpstream.json(Self.completion("Hello", model: "m-a")))
        let key = gateway.keys.add(name: "team", expiresAtMs: gateway.clock.unixMs + 60_000)
        XCTAssertEqual(keyCall(gateway, key.key).status, 200)
        gateway.clock.advance(by: .milliseconds(59_999))
        XCTAssertEqual(keyCall(gateway, key.key).status, 200, "a millisecond before its expiry")
        gateway.clock.advance(by: .milliseconds(1))
        let expired = keyCall(gateway, key.key)
        XCTAssertEqual(expired.status, 401)
        XCTAssertEqual(try errorMembers(expired.body)["message"] as? String, "This API key has expired.")
    }

    func testARevokedKeyIsRefusedOnceTheKeyCachesTwoSecondsHavePassedOnTheClock() throws {
        let gateway = try FakePipeline(yaml: Self.config())
        gateway.upstream.answer("http://a.test/v1", FakeUpstream.json(Self.completion("Hello", model: "m-a")))
        let key = gateway.keys.add(name: "team")
        XCTAssertEqual(keyCall(gateway, key.key).status, 200)
        gateway.keys.revoke(key.key)
        gateway.clock.advance(by: .milliseconds(1_999))
        XCTAssertEqual(keyCall(gateway, key.key).status, 200, "still cached")
        XCTAssertEqual(gateway.keys.lookups, 1)
        gateway.clock.advance(by: .milliseconds(1))
        XCTAssertEqual(keyCall(gateway, key.key).status, 401, "looked up again, and revoked")
        XCTAssertEqual(gateway.keys.lookups, 2)
    }
}
