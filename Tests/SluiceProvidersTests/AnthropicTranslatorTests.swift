import Foundation
import SluiceCore
import SluiceProviders
import XCTest

/// The Anthropic translator against golden fixtures in `Fixtures/anthropic/<case>/`:
/// `client_request.json` → `upstream_request.json`, `upstream_response.json` →
/// `client_response.json`, `upstream_stream.sse` → `client_stream.sse` (compared as JSON).
final class AnthropicTranslatorTests: XCTestCase {
    private let translator = AnthropicTranslator(now: { 1_750_000_000 })
    private let limits = TransferLimits(connect: .seconds(1), firstByte: .seconds(2), idle: .seconds(3), total: .seconds(4))
    private let providerKey = "sk-ant-api03-SECRET0123456789"

    private var anthropic: ProviderConfig {
        ProviderConfig(name: "anthropic", kind: .anthropic, baseURL: "https://api.anthropic.com/v1",
                       apiKey: Secret(providerKey, origin: "env:ANTHROPIC_API_KEY"), authHeader: "x-api-key", authPrefix: "")
    }

    private func upstream(_ body: String, endpoint: EndpointConfig = endpoint()) throws -> UpstreamRequest {
        try translator.upstreamRequest(for: APIRequest(operation: .chatCompletions, body: Array(body.utf8)),
                                       endpoint: endpoint, provider: anthropic, limits: limits)
    }

    // MARK: Upstream requests

    func testRequestsMatchGoldenFixtures() throws {
        let cases = ["chat_system", "multi_turn", "stop_sequences", "image", "tools_request", "tool_result_turn",
                     "stream_text", "stream_tool_calls"]
        for name in cases {
            let request = try APIRequest(operation: .chatCompletions, body: fixture("anthropic/\(name)/client_request.json"))
            let upstream = try translator.upstreamRequest(for: request, endpoint: endpoint(), provider: anthropic, limits: limits)
            XCTAssertEqual(upstream.method, .post, name)
            XCTAssertEqual(upstream.url, "https://api.anthropic.com/v1/messages", name)
            XCTAssertEqual(upstream.limits, limits)
            try assertJSON(upstream.body, equalsFixture: "anthropic/\(name)/upstream_request.json")
        }
    }

    func testHeadersCarryTheKeyVersionAndExtras() throws {
        var provider = anthropic
        provider.anthropicVersion = "2024-01-01"
        provider.headers = [(name: "anthropic-beta", value: Secret("prompt-caching-2024-07-31", origin: "literal"))]
        let endpoint = EndpointConfig(name: "e", provider: "anthropic", model: "claude-3-5-haiku-latest",
                                      headers: [(name: "X-Trace", value: Secret("t1", origin: "literal"))])
        let request = try APIRequest(operation: .chatCompletions,
                                     body: Array(#"{"model":"r","messages":[],"stream":true}"#.utf8))
        let upstream = try translator.upstreamRequest(for: request, endpoint: endpoint, provider: provider, limits: limits)
        XCTAssertEqual(upstream.headers.map { "\($0.name): \($0.value)" }, [
            "content-type: application/json",
            "x-api-key: \(providerKey)",
            "anthropic-version: 2024-01-01",
            "accept: text/event-stream",
            "anthropic-beta: prompt-caching-2024-07-31",
            "X-Trace: t1",
        ])
        XCTAssertFalse(upstream.headers.contains { $0.name.lowercased() == "authorization" })
        XCTAssertFalse(String(decoding: upstream.body, as: UTF8.self).contains(providerKey))
    }

    func testDefaultVersionAndNoKey() throws {
        let provider = ProviderConfig(name: "proxy", kind: .anthropic, baseURL: "http://127.0.0.1:9000/v1", apiKey: nil)
        XCTAssertEqual(provider.anthropicVersion, "2023-06-01")
        let request = try APIRequest(operation: .chatCompletions, body: Array(#"{"model":"r","messages":[]}"#.utf8))
        let upstream = try translator.upstreamRequest(for: request, endpoint: endpoint(), provider: provider, limits: limits)
        XCTAssertEqual(upstream.url, "http://127.0.0.1:9000/v1/messages")
        XCTAssertEqual(upstream.headers.map(\.name), ["content-type", "anthropic-version"])
    }

    func testMaxTokensDefaultsAndEndpointParamsOverride() throws {
        let plain = try upstream(#"{"model":"r","messages":[{"role":"user","content":"hi"}]}"#)
        try assertJSON(plain.body, equals: #"{"model":"claude-sonnet-4-20250514","messages":[{"role":"user","content":"hi"}],"max_tokens":4096}"#)

        let withParams = EndpointConfig(name: "e", provider: "anthropic", model: "claude-opus-4-20250514",
                                        params: [("max_tokens", "2048"), ("top_k", "5"),
                                                 ("thinking", #"{"type":"enabled","budget_tokens":1024}"#)])
        let overridden = try upstream(#"{"model":"r","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}"#,
                                      endpoint: withParams)
        try assertJSON(overridden.body, equals: """
            {"model":"claude-opus-4-20250514","messages":[{"role":"user","content":"hi"}],"max_tokens":2048,"top_k":5,
             "thinking":{"type":"enabled","budget_tokens":1024}}
            """)
    }

    func testStopStringNullsAndToolChoiceVariants() throws {
        let body = try upstream("""
            {"model":"r","messages":[{"role":"user","content":"hi"}],"stop":"END","temperature":null,"top_p":null,
             "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"required"}
            """)
        try assertJSON(body.body, equals: """
            {"model":"claude-sonnet-4-20250514","messages":[{"role":"user","content":"hi"}],"max_tokens":4096,
             "stop_sequences":["END"],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"}}
            """)
        let tools = #""tools":[{"type":"function","function":{"name":"f"}}]"#
        let cases: [(String, String?)] = [
            (#""tool_choice":"none""#, #"{"type":"none"}"#),
            (#""tool_choice":"auto""#, #"{"type":"auto"}"#),
            (#""parallel_tool_calls":false"#, #"{"type":"auto","disable_parallel_tool_use":true}"#),
            (#""parallel_tool_calls":true"#, nil),
        ]
        for (field, expected) in cases {
            let request = try upstream(#"{"model":"r","messages":[],\#(tools),\#(field)}"#)
            let parsed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
            if let expected {
                let choice = try JSONSerialization.data(withJSONObject: parsed["tool_choice"] as Any)
                try assertJSON(Array(choice), equals: expected)
            } else {
                XCTAssertNil(parsed["tool_choice"], field)
            }
        }
        // A tool_choice without tools is dropped (Anthropic refuses it).
        let noTools = try upstream(#"{"model":"r","messages":[],"tool_choice":"auto"}"#)
        XCTAssertFalse(String(decoding: noTools.body, as: UTF8.self).contains("tool_choice"))
    }

    func testNumbersKeepTheirText() throws {
        let request = try upstream(#"{"model":"r","messages":[],"temperature":0.70,"top_p":1e-1}"#)
        let text = String(decoding: request.body, as: UTF8.self)
        XCTAssertTrue(text.contains(#""temperature":0.70"#), text)
        XCTAssertTrue(text.contains(#""top_p":1e-1"#), text)
    }

    func testInvalidRequestsAre400WithTheParam() throws {
        let cases: [(String, String)] = [
            (#"{"model":"r","messages":[{"role":"assistant","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{not json"}}]}]}"#,
             "messages[0].tool_calls[0].function.arguments"),
            (#"{"model":"r","messages":[{"role":"assistant","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"[1,2]"}}]}]}"#,
             "messages[0].tool_calls[0].function.arguments"),
            (#"{"model":"r","messages":[],"n":3}"#, "n"),
            (#"{"model":"r","messages":[],"functions":[{"name":"f"}]}"#, "functions"),
            (#"{"model":"r","messages":[{"role":"function","content":"x"}]}"#, "messages[0].role"),
            (#"{"model":"r","messages":[{"role":"tool","content":"x"}]}"#, "messages[0].tool_call_id"),
            (#"{"model":"r","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}"#,
             "messages[0].content[0].type"),
            (#"{"model":"r","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}"#,
             "messages[0].content[0].image_url.url"),
            (#"{"model":"r","messages":[],"max_tokens":0}"#, "max_tokens"),
            (#"{"model":"r","messages":[],"tools":[{"type":"web_search"}]}"#, "tools[0].type"),
            (#"{"model":"r","messages":[],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}"#,
             "tool_choice"),
        ]
        for (body, param) in cases {
            XCTAssertThrowsError(try upstream(body), body) { error in
                let error = error as? GatewayError
                XCTAssertEqual(error?.httpStatus, 400, body)
                XCTAssertEqual(error?.param, param, body)
                XCTAssertEqual(error?.errorType, "invalid_request_error", body)
            }
        }
    }

    func testEmptyArgumentsAreAnEmptyInput() throws {
        let request = try upstream("""
            {"model":"r","messages":[{"role":"assistant","content":"","tool_calls":[{"id":"t1","type":"function","function":{"name":"now","arguments":""}}]}]}
            """)
        try assertJSON(request.body, equals: """
            {"model":"claude-sonnet-4-20250514","max_tokens":4096,
             "messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"now","input":{}}]}]}
            """)
    }

    func testOnlyChatCompletionsAreServed() throws {
        let request = try APIRequest(operation: .embeddings, body: Array(#"{"model":"e","input":"x"}"#.utf8))
        XCTAssertThrowsError(try translator.upstreamRequest(for: request, endpoint: endpoint(), provider: anthropic,
                                                            limits: limits)) { error in
            XCTAssertEqual((error as? GatewayError)?.code, .routeWrongType)
        }
    }

    // MARK: Responses

    func testResponsesMatchGoldenFixtures() throws {
        for name in ["chat_system", "stop_sequences", "tool_use_response", "usage_cache"] {
            let request = try APIRequest(operation: .chatCompletions,
                                         body: Array(#"{"model":"claude-chat","messages":[]}"#.utf8))
            let body = try XCTUnwrap(translator.clientBody(for: request, status: 200,
                                                           body: fixture("anthropic/\(name)/upstream_response.json")))
            try assertJSON(body, equalsFixture: "anthropic/\(name)/client_response.json")
            XCTAssertNotNil(TokenUsage.openAI(in: body), "the gateway reads the usage from the translated body")
        }
    }

    func testCacheTokensCountAsPrompt() throws {
        let request = try APIRequest(operation: .chatCompletions, body: Array(#"{"model":"claude-chat","messages":[]}"#.utf8))
        let body = try XCTUnwrap(translator.clientBody(for: request, status: 200,
                                                       body: fixture("anthropic/usage_cache/upstream_response.json")))
        XCTAssertEqual(TokenUsage.openAI(in: body), TokenUsage(prompt: 21 + 188_086 + 1000, completion: 393, cached: 1000,
                                                                  cacheWrite: 188_086))
    }

    func testRefusalAndOddResponses() throws {
        let request = try APIRequest(operation: .chatCompletions, body: Array(#"{"model":"m","messages":[]}"#.utf8))
        let refusal = #"{"id":"msg_r","type":"message","role":"assistant","content":[],"stop_reason":"refusal","usage":{"input_tokens":3,"output_tokens":0}}"#
        let body = try XCTUnwrap(translator.clientBody(for: request, status: 200, body: Array(refusal.utf8)))
        try assertJSON(body, equals: """
            {"id":"msg_r","object":"chat.completion","created":1750000000,"model":"m","choices":[{"index":0,
             "message":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":"content_filter"}],
             "usage":{"prompt_tokens":3,"completion_tokens":0,"total_tokens":3}}
            """)
        for bad in ["", "<html>", #"{"type":"error"}"#, "[]"] {
            XCTAssertThrowsError(try translator.clientBody(for: request, status: 200, body: Array(bad.utf8)), bad) { error in
                XCTAssertEqual((error as? GatewayError)?.httpStatus, 502)
            }
        }
    }

    // MARK: Streams

    func testStreamsMatchGoldenFixtures() throws {
        let cases: [(name: String, includeUsage: Bool, usage: TokenUsage)] = [
            ("stream_text", true, TokenUsage(prompt: 25, completion: 15)),
            ("stream_tool_calls", false, TokenUsage(prompt: 472, completion: 89)),
            ("stream_thinking", true, TokenUsage(prompt: 40, completion: 120)),
        ]
        for (name, includeUsage, usage) in cases {
            var stream = AnthropicStreamTranslator(model: "claude-chat", created: 1_750_000_000, clientWantsUsage: includeUsage)
            let translated = try translateStream("anthropic/\(name)/upstream_stream.sse", with: &stream)
            try assertStream(translated, equalsFixture: "anthropic/\(name)/client_stream.sse")
            XCTAssertEqual(translated.map(\.isTerminal).filter { $0 }.count, 1, name)
            XCTAssertTrue(translated.last?.isTerminal ?? false, name)
            XCTAssertTrue(translated.allSatisfy { $0.error == nil }, name)
            XCTAssertEqual(stream.usage, usage, name)
        }
    }

    func testTranslatorMadeFromTheRequestFollowsIncludeUsage() throws {
        let request = try APIRequest(operation: .chatCompletions, body: fixture("anthropic/stream_text/client_request.json"))
        var stream = translator.streamTranslator(for: request)
        let translated = try fixtureEvents("anthropic/stream_text/upstream_stream.sse").map { stream.translate(event: $0[...]) }
        try assertStream(translated, equalsFixture: "anthropic/stream_text/client_stream.sse")
    }

    func testUsageHoldsTheTotalsAtEveryStep() throws {
        var stream = AnthropicStreamTranslator(model: "m", created: 0, clientWantsUsage: false)
        XCTAssertNil(stream.usage)
        let events = try fixtureEvents("anthropic/stream_text/upstream_stream.sse")
        _ = stream.translate(event: events[0][...])
        XCTAssertEqual(stream.usage, TokenUsage(prompt: 25, completion: 1))
        for event in events[1...6] { _ = stream.translate(event: event[...]) }
        XCTAssertEqual(stream.usage, TokenUsage(prompt: 25, completion: 15))
        XCTAssertEqual(stream.generatedBytes, "Hello!".utf8.count)
        let last = stream.translate(event: events[7][...])
        XCTAssertEqual(String(decoding: last.output ?? [], as: UTF8.self), "data: [DONE]\n\n",
                       "no usage chunk for a client that did not ask")
    }

    func testGeneratedBytesCountTextThinkingAndArguments() throws {
        var stream = AnthropicStreamTranslator(model: "m", created: 0, clientWantsUsage: false)
        _ = try translateStream("anthropic/stream_tool_calls/upstream_stream.sse", with: &stream)
        let arguments = #"{"location": "Paris, France"}"#.utf8.count + #"{"location": "London, UK"}"#.utf8.count
        XCTAssertEqual(stream.generatedBytes, "I'll check both cities.".utf8.count + arguments)
    }

    func testErrorEventEndsTheStream() throws {
        var stream = AnthropicStreamTranslator(model: "claude-chat", created: 1_750_000_000, clientWantsUsage: true)
        let translated = try translateStream("anthropic/stream_error/upstream_stream.sse", with: &stream)
        let error = try XCTUnwrap(translated.last?.error)
        XCTAssertEqual(error.httpStatus, 529)
        XCTAssertEqual(error.errorCode, "overloaded_error")
        XCTAssertEqual(error.message, "Overloaded")
        XCTAssertFalse(translated.contains { $0.isTerminal }, "a failed stream never looks complete")
        try assertStream(Array(translated.dropLast()), equalsFixture: "anthropic/stream_error/client_stream.sse")
        XCTAssertEqual(stream.usage, TokenUsage(prompt: 12, completion: 1))

        var other = AnthropicStreamTranslator(model: "m", created: 0, clientWantsUsage: false)
        let apiError = other.translate(event: bytes(
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Internal server error\"}}\n\n"))
        XCTAssertEqual(apiError.error?.httpStatus, 500)
        let unreadable = other.translate(event: bytes("event: error\ndata: {\"type\":\"error\"}\n\n"))
        XCTAssertEqual(unreadable.error?.message, "The provider reported an error mid-stream.")
    }

    func testCommentsUnknownEventsAndCRLFAreHandled() {
        var stream = AnthropicStreamTranslator(model: "m", created: 0, clientWantsUsage: false)
        XCTAssertEqual(stream.translate(event: bytes(": keep-alive\n\n")).output, [])
        XCTAssertEqual(stream.translate(event: bytes("event: future_event\ndata: {\"type\":\"future_event\"}\n\n")).output, [])
        let delta = stream.translate(event: bytes(
            "event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}\r\n\r\n"))
        XCTAssertTrue(String(decoding: delta.output ?? [], as: UTF8.self).contains(#""content":"a""#))
        let stop = stream.translate(event: bytes("event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n"))
        XCTAssertTrue(stop.isTerminal)
    }

    // MARK: Client errors

    func testErrorFixturesKeepStatusTypeAndMessage() throws {
        let cases: [(status: Int, openAIType: String, message: String)] = [
            (400, "invalid_request_error",
             #"messages: roles must alternate between "user" and "assistant", but found multiple "user" roles in a row"#),
            (404, "invalid_request_error", "model: claude-9-opus"),
            (413, "invalid_request_error", "Request exceeds the maximum allowed number of bytes."),
            (429, "rate_limit_error", "This request would exceed the rate limit for your organization of 50 requests per minute."),
            (500, "server_error", "Internal server error"),
            (529, "server_error", "Overloaded"),
        ]
        let anthropicTypes = [400: "invalid_request_error", 404: "not_found_error", 413: "request_too_large",
                              429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"]
        for (status, type, message) in cases {
            let error = translator.clientError(status: status, headers: [("Retry-After", "7")],
                                               body: try fixture("anthropic/errors/\(status).json"), provider: anthropic)
            XCTAssertEqual(error.code, .upstreamStatus, "\(status)")
            XCTAssertEqual(error.httpStatus, status)
            XCTAssertEqual(error.errorType, type, "\(status)")
            XCTAssertEqual(error.errorCode, anthropicTypes[status], "\(status)")
            XCTAssertEqual(error.message, message)
            XCTAssertEqual(error.retryAfter, 7)
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(error.jsonBody.utf8)))
        }
    }

    func testRefusedCredentialsBecome502() throws {
        for status in [401, 403] {
            let error = translator.clientError(status: status, headers: [], body: try fixture("anthropic/errors/401.json"),
                                               provider: anthropic)
            XCTAssertEqual(error.httpStatus, 502)
            XCTAssertEqual(error.code, .upstreamError)
            XCTAssertTrue(error.message.contains("anthropic"))
            XCTAssertFalse(error.jsonBody.contains("x-api-key"), "the caller's key was fine; do not say otherwise")
        }
    }

    func testEchoedKeyIsRedactedAndOddBodiesGetAGenericMessage() {
        let echoed = #"{"type":"error","error":{"type":"invalid_request_error","message":"bad header \#(providerKey)"}}"#
        let error = translator.clientError(status: 400, headers: [], body: Array(echoed.utf8), provider: anthropic)
        XCTAssertEqual(error.message, "bad header [redacted]")
        XCTAssertFalse(error.jsonBody.contains("SECRET0123"))
        for (status, body) in [(502, "<html>Bad Gateway</html>"), (500, ""), (429, #"{"error":null}"#)] {
            let error = translator.clientError(status: status, headers: [], body: Array(body.utf8), provider: anthropic)
            XCTAssertEqual(error.httpStatus, status, body)
            XCTAssertEqual(error.message, "The provider answered HTTP \(status).")
        }
        XCTAssertEqual(translator.clientError(status: 200, headers: [], body: [], provider: anthropic).httpStatus, 502)
    }

    func testRegistryServesAnthropic() {
        XCTAssertTrue(ProviderRegistry.translator(for: .anthropic) is AnthropicTranslator)
    }
}

private func endpoint() -> EndpointConfig {
    EndpointConfig(name: "anthropic/claude-sonnet-4-20250514", provider: "anthropic", model: "claude-sonnet-4-20250514")
}

private func bytes(_ text: String) -> ArraySlice<UInt8> { Array(text.utf8)[...] }
