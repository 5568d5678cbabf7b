import Foundation
import SluiceCore
import SluiceProviders
import XCTest

/// The `/v1/messages` surface against golden fixtures in `Fixtures/anthropic_surface/<case>/`:
/// `client_request.json` (Anthropic) → `canonical_request.json` (OpenAI),
/// `upstream_response.json` (OpenAI) → `client_response.json` (Anthropic),
/// `upstream_stream.sse` (OpenAI chunks) → `client_stream.sse` (Anthropic events).
final class AnthropicSurfaceTests: XCTestCase {
    // MARK: Requests

    func testRequestsMatchGoldenFixtures() throws {
        for name in ["text", "tools", "image", "stream_text"] {
            let canonical = try AnthropicSurface.chatRequest(fromMessages: fixture("anthropic_surface/\(name)/client_request.json"))
            try assertJSON(canonical, equalsFixture: "anthropic_surface/\(name)/canonical_request.json")
            let request = try APIRequest(operation: .chatCompletions, body: canonical)
            XCTAssertEqual(request.model, "chat-fast", name)
            XCTAssertEqual(request.stream, name.hasPrefix("stream"), name)
            XCTAssertEqual(request.includeUsage, name.hasPrefix("stream"), "a streamed answer must carry its usage")
        }
    }

    func testCanonicalRequestRoundTripsThroughTheAnthropicProvider() throws {
        // Anthropic client → canonical → Anthropic upstream keeps the conversation.
        let canonical = try AnthropicSurface.chatRequest(fromMessages: fixture("anthropic_surface/tools/client_request.json"))
        let request = try APIRequest(operation: .chatCompletions, body: canonical)
        let provider = ProviderConfig(name: "anthropic", kind: .anthropic, baseURL: "https://api.anthropic.com/v1", apiKey: nil)
        let upstream = try AnthropicTranslator(now: { 0 }).upstreamRequest(
            for: request, endpoint: EndpointConfig(name: "e", provider: "anthropic", model: "claude-sonnet-4-20250514"),
            provider: provider, limits: TransferLimits(connect: .seconds(1), firstByte: .seconds(1), idle: .seconds(1), total: .seconds(1)))
        try assertJSON(upstream.body, equals: """
            {"model":"claude-sonnet-4-20250514","max_tokens":1024,
             "messages":[
               {"role":"user","content":"What's the weather like in San Francisco?"},
               {"role":"assistant","content":[{"type":"text","text":"I'll check."},
                 {"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"location":"San Francisco, CA"}}]},
               {"role":"user","content":[
                 {"type":"tool_result","tool_use_id":"toolu_01A09q90qw90lq917835lq9","content":"15 degrees"},
                 {"type":"tool_result","tool_use_id":"toolu_01B","content":"sunny"},
                 {"type":"text","text":"And tomorrow?"}]}],
             "tools":[{"name":"get_weather","description":"Get the current weather in a given location",
               "input_schema":{"type":"object","properties":{"location":{"type":"string","description":"The city and state, e.g. San Francisco, CA"}},"required":["location"]}}],
             "tool_choice":{"type":"tool","name":"get_weather","disable_parallel_tool_use":true}}
            """)
    }

    func testToolChoiceVariants() throws {
        let tools = #""tools":[{"name":"f","input_schema":{"type":"object"}}]"#
        let cases: [(String, String)] = [
            (#"{"type":"auto"}"#, #""tool_choice":"auto""#),
            (#"{"type":"any","disable_parallel_tool_use":true}"#, #""tool_choice":"required","parallel_tool_calls":false"#),
            (#"{"type":"none"}"#, #""tool_choice":"none""#),
        ]
        for (choice, expected) in cases {
            let body = #"{"model":"m","max_tokens":1,"messages":[],\#(tools),"tool_choice":\#(choice)}"#
            let canonical = String(decoding: try AnthropicSurface.chatRequest(fromMessages: Array(body.utf8)), as: UTF8.self)
            XCTAssertTrue(canonical.contains(expected), canonical)
        }
    }

    func testInvalidRequestsAre400LikeAnthropicSays() {
        let cases: [(String, String?)] = [
            ("not json", nil),
            (#"{"model":"m","messages":[]}"#, "max_tokens"),
            (#"{"model":"m","max_tokens":10}"#, "messages"),
            (#"{"max_tokens":10,"messages":[]}"#, "model"),
            (#"{"model":"m","max_tokens":0,"messages":[]}"#, "max_tokens"),
            (#"{"model":"m","max_tokens":"10","messages":[]}"#, "max_tokens"),
            (#"{"model":"m","max_tokens":10,"messages":{}}"#, "messages"),
            (#"{"model":"m","max_tokens":10,"messages":[{"role":"system","content":"x"}]}"#, "messages.0.role"),
            (#"{"model":"m","max_tokens":10,"messages":[{"role":"user"}]}"#, "messages.0.content"),
            (#"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}"#,
             "messages.0.content.0.type"),
            (#"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}"#,
             "messages.0.content.0.source"),
            (#"{"model":"m","max_tokens":10,"messages":[],"tools":[{"type":"web_search_20250305","name":"web_search"}]}"#,
             "tools.0.type"),
            (#"{"model":"m","max_tokens":10,"messages":[],"tools":[{"name":"f"}]}"#, "tools.0.input_schema"),
            (#"{"model":"m","max_tokens":10,"messages":[],"stop_sequences":"x"}"#, "stop_sequences"),
        ]
        for (body, param) in cases {
            XCTAssertThrowsError(try AnthropicSurface.chatRequest(fromMessages: Array(body.utf8)), body) { error in
                guard let error = error as? GatewayError else { return XCTFail(body) }
                XCTAssertEqual(error.httpStatus, 400, body)
                XCTAssertEqual(error.param, param, body)
                let json = String(decoding: AnthropicSurface.errorBody(for: error), as: UTF8.self)
                XCTAssertTrue(json.hasPrefix(#"{"type":"error","error":{"type":"invalid_request_error","message":"#), json)
            }
        }
    }

    // MARK: Responses

    func testResponsesMatchGoldenFixtures() throws {
        for name in ["text", "tools", "usage_cache"] {
            let body = try AnthropicSurface.messageResponse(
                fromChatCompletion: fixture("anthropic_surface/\(name)/upstream_response.json"), model: "chat-fast")
            try assertJSON(body, equalsFixture: "anthropic_surface/\(name)/client_response.json")
        }
    }

    func testProviderResponseChainsIntoTheSurface() throws {
        // Anthropic upstream → OpenAI chat.completion (provider) → Anthropic message (surface).
        let request = try APIRequest(operation: .chatCompletions, body: Array(#"{"model":"chat-fast","messages":[]}"#.utf8))
        let completion = try XCTUnwrap(AnthropicTranslator(now: { 0 }).clientBody(
            for: request, status: 200, body: fixture("anthropic/tool_use_response/upstream_response.json")))
        let message = try AnthropicSurface.messageResponse(fromChatCompletion: completion, model: "chat-fast")
        try assertJSON(message, equals: """
            {"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant","model":"chat-fast",
             "content":[{"type":"text","text":"I'll check the current weather in San Francisco for you."},
               {"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"location":"San Francisco, CA","unit":"celsius"}},
               {"type":"tool_use","id":"toolu_01B2","name":"get_time","input":{}}],
             "stop_reason":"tool_use","stop_sequence":null,
             "usage":{"input_tokens":384,"cache_read_input_tokens":0,"output_tokens":92}}
            """)
    }

    func testRefusalAndBadAnswers() throws {
        let refusal = #"{"id":"c1","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]}"#
        try assertJSON(try AnthropicSurface.messageResponse(fromChatCompletion: Array(refusal.utf8), model: "m"), equals: """
            {"id":"msg_c1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"I can't help with that."}],
             "stop_reason":"refusal","stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}
            """)
        let badArguments = #"{"id":"c2","choices":[{"index":0,"message":{"role":"assistant","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{oops"}}]},"finish_reason":"tool_calls"}]}"#
        for body in [badArguments, "{}", "<html>", #"{"choices":[]}"#] {
            XCTAssertThrowsError(try AnthropicSurface.messageResponse(fromChatCompletion: Array(body.utf8), model: "m")) { error in
                XCTAssertEqual((error as? GatewayError)?.httpStatus, 502, body)
            }
        }
    }

    // MARK: Streams

    func testStreamsMatchGoldenFixtures() throws {
        let cases: [(String, TokenUsage)] = [("stream_text", TokenUsage(prompt: 9, completion: 3)),
                                             ("stream_tool_calls", TokenUsage(prompt: 80, completion: 40))]
        for (name, usage) in cases {
            var stream = AnthropicSurface.streamTranslator(model: "chat-fast")
            let translated = try translateStream("anthropic_surface/\(name)/upstream_stream.sse", with: &stream)
            try assertStream(translated, equalsFixture: "anthropic_surface/\(name)/client_stream.sse")
            XCTAssertTrue(translated.last?.isTerminal ?? false, name)
            XCTAssertEqual(stream.usage, usage, name)
        }
    }

    func testMessageStopWaitsForTheUsageChunk() throws {
        var stream = AnthropicSurface.streamTranslator(model: "chat-fast")
        let events = try fixtureEvents("anthropic_surface/stream_text/upstream_stream.sse")
        let beforeUsage = events[0..<5].map { stream.translate(event: $0[...]) }
        let text = String(decoding: beforeUsage.flatMap { $0.output ?? [] }, as: UTF8.self)
        XCTAssertTrue(text.contains("content_block_stop"), "the finish_reason closes the block")
        XCTAssertFalse(text.contains("message_delta"), "but the message waits for the usage")
        XCTAssertFalse(beforeUsage.contains { $0.isTerminal })
        let usageChunk = stream.translate(event: events[5][...])
        XCTAssertTrue(String(decoding: usageChunk.output ?? [], as: UTF8.self).contains("event: message_stop"))
        let done = stream.translate(event: events[6][...])
        XCTAssertEqual(done.output, [], "message_stop is sent once")
        XCTAssertTrue(done.isTerminal)
    }

    func testStreamWithoutUsageEndsAtDone() {
        var stream = AnthropicSurface.streamTranslator(model: "m")
        let chunks = [
            #"data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}"#,
            #"data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#,
            "data: [DONE]",
        ]
        let out = chunks.map { stream.translate(event: bytes($0 + "\n\n")) }
        XCTAssertEqual(out.map(\.isTerminal), [false, false, true])
        let events = transcript(out.flatMap { $0.output ?? [] })
        XCTAssertEqual(events.map(\.name), ["message_start", "content_block_start", "content_block_delta", "content_block_stop",
                                            "message_delta", "message_stop"])
        XCTAssertEqual(events[4].data, try canonicalJSON(Array(
            #"{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"input_tokens":0,"output_tokens":0}}"#.utf8)))
        XCTAssertEqual(stream.generatedBytes, 2)

        var empty = AnthropicSurface.streamTranslator(model: "m")
        let only = empty.translate(event: bytes("data: [DONE]\n\n"))
        XCTAssertEqual(transcript(only.output ?? []).map(\.name), ["message_start", "message_delta", "message_stop"])
    }

    func testChainOverTheAnthropicProvider() throws {
        let provider = AnthropicStreamTranslator(model: "chat-fast", created: 0, clientWantsUsage: true)
        var chain = ChainedStreamTranslator(provider, AnthropicSurface.streamTranslator(model: "chat-fast"))
        let translated = try translateStream("anthropic/stream_tool_calls/upstream_stream.sse", with: &chain)
        try assertStream(translated, equalsFixture: "anthropic_surface/chained_anthropic/client_stream.sse")
        XCTAssertEqual(translated.map(\.isTerminal).filter { $0 }.count, 1)
        XCTAssertTrue(translated.last?.isTerminal ?? false)
        XCTAssertEqual(chain.usage, TokenUsage(prompt: 472, completion: 89))
        XCTAssertGreaterThan(chain.generatedBytes, 0)
    }

    func testChainOverAnOpenAIProviderPassThrough() throws {
        // The OpenAI translator passes events through unchanged (`output == nil`).
        var chain = ChainedStreamTranslator(OpenAIStreamTranslator(clientWantsUsage: true),
                                            AnthropicSurface.streamTranslator(model: "chat-fast"))
        let translated = try translateStream("openai/chat/upstream_stream.sse", with: &chain)
        try assertStream(translated, equalsFixture: "anthropic_surface/stream_text/client_stream.sse")
        XCTAssertEqual(chain.usage, TokenUsage(prompt: 9, completion: 3))
    }

    func testChainEndsWithTheProvidersError() throws {
        let provider = AnthropicStreamTranslator(model: "chat-fast", created: 0, clientWantsUsage: true)
        var chain = ChainedStreamTranslator(provider, AnthropicSurface.streamTranslator(model: "chat-fast"))
        let translated = try translateStream("anthropic/stream_error/upstream_stream.sse", with: &chain)
        let error = try XCTUnwrap(translated.last?.error)
        XCTAssertFalse(translated.contains { $0.isTerminal })
        let event = String(decoding: AnthropicSurface.streamErrorEvent(for: error), as: UTF8.self)
        XCTAssertEqual(event, #"event: error"# + "\n" +
                       #"data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"# + "\n\n")
    }

    func testRefusalDeltasBecomeTextWithStopReasonRefusal() {
        var stream = AnthropicSurface.streamTranslator(model: "m")
        let chunks = [
            #"data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":null,"refusal":""},"finish_reason":null}]}"#,
            #"data: {"id":"c","choices":[{"index":0,"delta":{"refusal":"I can't help."},"finish_reason":null}]}"#,
            #"data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            "data: [DONE]",
        ]
        let events = transcript(chunks.flatMap { stream.translate(event: bytes($0 + "\n\n")).output ?? [] })
        XCTAssertEqual(events.map(\.name), ["message_start", "content_block_start", "content_block_delta", "content_block_stop",
                                            "message_delta", "message_stop"])
        XCTAssertTrue(events[2].data.contains("I can't help."))
        XCTAssertTrue(events[4].data.contains(#""stop_reason":"refusal""#), events[4].data)
    }

    func testOpenAIErrorChunkEndsTheSurfaceStream() {
        var stream = AnthropicSurface.streamTranslator(model: "m")
        let out = stream.translate(event: bytes(#"data: {"error":{"message":"boom","type":"server_error"}}"# + "\n\n"))
        XCTAssertEqual(out.error?.message, "boom")
    }

    // MARK: Errors

    func testErrorsKeepTheirStatusWithAnthropicTypes() {
        let cases: [(GatewayError, Int, String)] = [
            (GatewayError(.invalidJSON, "bad"), 400, "invalid_request_error"),
            (GatewayError(.missingCredential, "no key"), 401, "authentication_error"),
            (GatewayError(.routeNotAllowed, "no"), 403, "permission_error"),
            (GatewayError(.routeNotFound, "no such route"), 404, "not_found_error"),
            (GatewayError(.methodNotAllowed, "GET"), 405, "invalid_request_error"),
            (GatewayError(.requestTooLarge, "big"), 413, "request_too_large"),
            (GatewayError(upstreamStatus: 429, message: "slow", type: "requests", code: "rate_limit_exceeded", param: nil,
                          retryAfter: 3), 429, "rate_limit_error"),
            (GatewayError(.internalError, "oops"), 500, "api_error"),
            (GatewayError(.upstreamError, "bad upstream"), 502, "api_error"),
            (GatewayError(.backendUnavailable, "restarting"), 503, "overloaded_error"),
            (GatewayError(.upstreamTimeout, "slow upstream"), 504, "timeout_error"),
            (GatewayError(upstreamStatus: 529, message: "Overloaded", type: "server_error", code: "overloaded_error",
                          param: nil, retryAfter: nil), 529, "overloaded_error"),
            (GatewayError(upstreamStatus: 400, message: "x", type: "invalid_request_error", code: "not_found_error",
                          param: nil, retryAfter: nil), 400, "not_found_error"),
        ]
        for (error, status, type) in cases {
            XCTAssertEqual(error.httpStatus, status, error.description)
            let body = AnthropicSurface.errorBody(for: error)
            let parsed = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
            XCTAssertEqual(parsed?["type"] as? String, "error")
            let inner = parsed?["error"] as? [String: Any]
            XCTAssertEqual(inner?["type"] as? String, type, error.description)
            XCTAssertEqual(inner?["message"] as? String, error.message)
        }
    }
}

private func bytes(_ text: String) -> ArraySlice<UInt8> { Array(text.utf8)[...] }
