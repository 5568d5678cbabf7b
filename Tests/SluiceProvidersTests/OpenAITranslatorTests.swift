import Foundation
import SluiceCore
import SluiceProviders
import XCTest

/// The OpenAI translator against golden fixtures in `Fixtures/openai/<operation>/`:
/// `client_request.json` → `upstream_request.json` (exact bytes), `upstream_response.json`,
/// `upstream_stream.sse`.
final class OpenAITranslatorTests: XCTestCase {
    private let translator = OpenAITranslator()
    private let limits = TransferLimits(connect: .seconds(1), firstByte: .seconds(2), idle: .seconds(3), total: .seconds(4))
    private let providerKey = "sk-proj-SECRET0123456789abcdef"

    private var openAI: ProviderConfig {
        ProviderConfig(name: "openai", kind: .openai, baseURL: "https://api.openai.com/v1",
                       apiKey: Secret(providerKey, origin: "env:OPENAI_API_KEY"))
    }

    // MARK: Upstream requests

    func testChatRequestMatchesGoldenFixture() throws {
        let request = try APIRequest(operation: .chatCompletions, body: fixture("openai/chat/client_request.json"))
        XCTAssertEqual(request.model, "chat-fast")
        XCTAssertFalse(request.stream)
        let upstream = try translator.upstreamRequest(for: request, endpoint: endpoint("gpt-4o-mini-2024-07-18"),
                                                      provider: openAI, limits: limits)
        XCTAssertEqual(upstream.method, .post)
        XCTAssertEqual(upstream.url, "https://api.openai.com/v1/chat/completions")
        XCTAssertEqual(headerPairs(upstream), [
            "Content-Type: application/json",
            "Authorization: Bearer \(providerKey)",
        ])
        try assertBytes(upstream.body, equalFixture: "openai/chat/upstream_request.json")
        XCTAssertEqual(upstream.limits, limits)
    }

    func testStreamingChatRequestMatchesGoldenFixtureAndAsksForEventStream() throws {
        let request = try APIRequest(operation: .chatCompletions, body: fixture("openai/chat/client_request_stream.json"))
        XCTAssertTrue(request.stream)
        XCTAssertTrue(request.includeUsage)
        let upstream = try translator.upstreamRequest(for: request, endpoint: endpoint("gpt-4o-mini-2024-07-18"),
                                                      provider: openAI, limits: limits)
        XCTAssertEqual(upstream.url, "https://api.openai.com/v1/chat/completions")
        XCTAssertEqual(headerPairs(upstream), [
            "Content-Type: application/json",
            "Authorization: Bearer \(providerKey)",
            "Accept: text/event-stream",
        ])
        try assertBytes(upstream.body, equalFixture: "openai/chat/upstream_request_stream.json")
    }

    func testEmbeddingsRequestMatchesGoldenFixture() throws {
        let request = try APIRequest(operation: .embeddings, body: fixture("openai/embeddings/client_request.json"))
        let upstream = try translator.upstreamRequest(for: request, endpoint: endpoint("text-embedding-3-small"),
                                                      provider: openAI, limits: limits)
        XCTAssertEqual(upstream.url, "https://api.openai.com/v1/embeddings")
        XCTAssertFalse(headerPairs(upstream).contains("Accept: text/event-stream"))
        try assertBytes(upstream.body, equalFixture: "openai/embeddings/upstream_request.json")
    }

    func testCompletionsURL() throws {
        let request = try APIRequest(operation: .completions, body: Array(#"{"model":"c","prompt":"x"}"#.utf8))
        let upstream = try translator.upstreamRequest(for: request, endpoint: endpoint("gpt-3.5-turbo-instruct"),
                                                      provider: openAI, limits: limits)
        XCTAssertEqual(upstream.url, "https://api.openai.com/v1/completions")
        XCTAssertEqual(String(decoding: upstream.body, as: UTF8.self), #"{"model":"gpt-3.5-turbo-instruct","prompt":"x"}"#)
    }

    func testCustomAuthHeaderWithoutPrefixAndExtraHeaders() throws {
        let provider = ProviderConfig(
            name: "azure", kind: .openaiCompatible, baseURL: "https://example.openai.azure.com/openai/v1",
            apiKey: Secret("azure-key-1", origin: "literal"), authHeader: "api-key", authPrefix: "",
            headers: [(name: "OpenAI-Organization", value: Secret("org-1", origin: "literal")),
                      (name: "X-Trace", value: Secret("t 2", origin: "env:TRACE"))])
        let request = try APIRequest(operation: .chatCompletions,
                                     body: Array(#"{"model":"r","messages":[],"stream":true}"#.utf8))
        let upstream = try translator.upstreamRequest(for: request, endpoint: endpoint("deployment-1"),
                                                      provider: provider, limits: limits)
        XCTAssertEqual(upstream.url, "https://example.openai.azure.com/openai/v1/chat/completions")
        XCTAssertEqual(headerPairs(upstream), [
            "Content-Type: application/json",
            "api-key: azure-key-1",
            "Accept: text/event-stream",
            "OpenAI-Organization: org-1",
            "X-Trace: t 2",
        ])
        XCTAssertFalse(headerPairs(upstream).contains { $0.lowercased().hasPrefix("authorization") })
    }

    func testNoCredentialMeansNoAuthHeader() throws {
        let provider = ProviderConfig(name: "vllm", kind: .openaiCompatible, baseURL: "http://127.0.0.1:8000/v1", apiKey: nil)
        let request = try APIRequest(operation: .embeddings, body: Array(#"{"model":"e","input":"x"}"#.utf8))
        let upstream = try translator.upstreamRequest(for: request, endpoint: endpoint("bge"), provider: provider,
                                                      limits: limits)
        XCTAssertEqual(headerPairs(upstream), ["Content-Type: application/json"])
        XCTAssertEqual(upstream.url, "http://127.0.0.1:8000/v1/embeddings")
    }

    func testRegistryServesBothKindsWithTheOpenAITranslator() {
        for kind in [ProviderKind.openai, .openaiCompatible] {
            XCTAssertEqual((ProviderRegistry.translator(for: kind) as? OpenAITranslator)?.dialect, .openai, kind.rawValue)
        }
    }

    // MARK: Client errors

    func testProviderErrorsKeepStatusMessageTypeAndCode() {
        let cases: [(Int, String, String?, String?, String?)] = [
            (400, "Invalid 'messages': empty array.", "invalid_request_error", "empty_array", "messages"),
            (404, "The model `gpt-9` does not exist or you do not have access to it.", "invalid_request_error",
             "model_not_found", nil),
            (429, "Rate limit reached for gpt-4o-mini.", "requests", "rate_limit_exceeded", nil),
            (500, "The server had an error while processing your request.", "server_error", nil, nil),
            (503, "The engine is currently overloaded.", "server_error", "overloaded", nil),
        ]
        for (status, message, type, code, param) in cases {
            let body = errorBody(message: message, type: type, code: code, param: param)
            let error = translator.clientError(status: status, headers: [], body: Array(body.utf8), provider: openAI)
            XCTAssertEqual(error.code, .upstreamStatus, "\(status)")
            XCTAssertEqual(error.httpStatus, status)
            XCTAssertEqual(error.message, message)
            XCTAssertEqual(error.errorType, type ?? "server_error")
            XCTAssertEqual(error.errorCode, code)
            XCTAssertEqual(error.param, param)
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(error.jsonBody.utf8)))
        }
    }

    func testNumericErrorCodeAndRetryAfter() {
        let body = #"{"error":{"message":"slow down","type":"tokens","code":429}}"#
        let error = translator.clientError(status: 429, headers: [("content-type", "application/json"), ("retry-after", "12")],
                                           body: Array(body.utf8), provider: openAI)
        XCTAssertEqual(error.errorCode, "429")
        XCTAssertEqual(error.retryAfter, 12)
        XCTAssertEqual(error.httpStatus, 429)

        let noHeader = translator.clientError(status: 429, headers: [], body: Array(body.utf8), provider: openAI)
        XCTAssertNil(noHeader.retryAfter)
    }

    func testRefusedCredentialsBecome502WithoutTheKey() {
        for status in [401, 403] {
            let body = errorBody(message: "Incorrect API key provided: \(providerKey). You can find your API key at …",
                                 type: "invalid_request_error", code: "invalid_api_key", param: nil)
            let error = translator.clientError(status: status, headers: [], body: Array(body.utf8), provider: openAI)
            XCTAssertEqual(error.httpStatus, 502, "\(status)")
            XCTAssertEqual(error.code, .upstreamError)
            XCTAssertNotEqual(error.errorCode, "invalid_api_key", "the caller's key was fine; do not say otherwise")
            XCTAssertFalse(error.jsonBody.contains(providerKey))
            XCTAssertFalse(error.jsonBody.contains("SECRET0123"), "not even part of the key")
            XCTAssertFalse(error.description.contains(providerKey))
            XCTAssertTrue(error.message.contains("openai"), "names the provider: \(error.message)")
        }
    }

    func testEchoedKeyIsRedactedFromMessages() {
        let body = errorBody(message: "Header 'Authorization: Bearer \(providerKey)' rejected; \(providerKey) again",
                             type: "invalid_request_error", code: nil, param: nil)
        let error = translator.clientError(status: 400, headers: [], body: Array(body.utf8), provider: openAI)
        XCTAssertEqual(error.httpStatus, 400)
        XCTAssertFalse(error.jsonBody.contains(providerKey))
        XCTAssertEqual(error.message, "Header 'Authorization: Bearer [redacted]' rejected; [redacted] again")
    }

    func testEchoedKeyWrittenWithJSONEscapesIsRedacted() {
        // The provider escapes "/" as "\/" (legal JSON); the decoded message holds the key.
        let key = "key/with/slashes"
        let provider = ProviderConfig(name: "p", kind: .openaiCompatible, baseURL: "http://x", apiKey: Secret(key, origin: "literal"))
        let body = #"{"error":{"message":"bad key key\/with\/slashes","type":"invalid_request_error"}}"#
        let error = translator.clientError(status: 400, headers: [], body: Array(body.utf8), provider: provider)
        XCTAssertEqual(error.message, "bad key [redacted]")
    }

    func testNonJSONAndOddBodies() {
        let cases: [(Int, String)] = [
            (502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
            (500, ""),
            (503, "upstream connect error or disconnect/reset before headers"),
            (400, #"{"detail":"Not Found"}"#),
            (429, #"{"error":null}"#),
            (500, #"{"error":{"message":"cut"#),
        ]
        for (status, body) in cases {
            let error = translator.clientError(status: status, headers: [], body: Array(body.utf8), provider: openAI)
            XCTAssertEqual(error.httpStatus, status, body)
            XCTAssertEqual(error.message, "The provider answered HTTP \(status).", body)
            XCTAssertFalse(error.jsonBody.contains("<html>"), "HTML is not passed on")
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(error.jsonBody.utf8)), body)
        }
    }

    func testErrorGivenAsAString() {
        let error = translator.clientError(status: 400, headers: [], body: Array(#"{"error":"model is required"}"#.utf8),
                                           provider: openAI)
        XCTAssertEqual(error.httpStatus, 400)
        XCTAssertEqual(error.message, "model is required")
        XCTAssertEqual(error.errorType, "invalid_request_error")
        XCTAssertNil(error.errorCode)
    }

    func testUnexpectedNonErrorStatusIs502() {
        for status in [200, 302, 304] {
            let error = translator.clientError(status: status, headers: [], body: Array("{}".utf8), provider: openAI)
            XCTAssertEqual(error.httpStatus, 502, "\(status)")
            XCTAssertEqual(error.code, .upstreamError)
        }
    }

    // MARK: Streams

    func testGoldenStreamPassesThroughAndEndsWithDone() throws {
        let events = try fixtureEvents("openai/chat/upstream_stream.sse")
        XCTAssertEqual(events.count, 7)
        var stream = translator.streamTranslator(for: try APIRequest(
            operation: .chatCompletions, body: fixture("openai/chat/client_request_stream.json")))
        let translated = events.map { stream.translate(event: $0[...]) }
        XCTAssertTrue(translated.allSatisfy { $0.output == nil }, "OpenAI events pass through unchanged")
        XCTAssertTrue(translated.allSatisfy { $0.error == nil })
        XCTAssertEqual(translated.map(\.isTerminal), [false, false, false, false, false, false, true])
    }

    func testDoneVariants() {
        var stream = OpenAIStreamTranslator()
        XCTAssertTrue(stream.translate(event: bytes("data: [DONE]\n\n")).isTerminal)
        XCTAssertTrue(stream.translate(event: bytes("data:[DONE]\n\n")).isTerminal)
        XCTAssertTrue(stream.translate(event: bytes("data: [DONE]\r\n\r\n")).isTerminal)
        XCTAssertTrue(stream.translate(event: bytes("event: done\ndata: [DONE]\n\n")).isTerminal)
        XCTAssertFalse(stream.translate(event: bytes("data: [DONE] \n\n")).isTerminal)
        XCTAssertFalse(stream.translate(event: bytes("data: \"[DONE]\"\n\n")).isTerminal)
        XCTAssertFalse(stream.translate(event: bytes(": keep-alive\n\n")).isTerminal)
        XCTAssertNil(stream.translate(event: bytes(": keep-alive\n\n")).error)
    }

    func testErrorEventEndsTheStreamWithTheProvidersMessage() throws {
        var stream = OpenAIStreamTranslator()
        let event = stream.translate(event: bytes(
            #"data: {"error":{"message":"The server had an error while processing your request.","type":"server_error"}}"# + "\n\n"))
        let error = try XCTUnwrap(event.error)
        XCTAssertFalse(event.isTerminal)
        XCTAssertEqual(error.code, .upstreamError)
        XCTAssertEqual(error.message, "The server had an error while processing your request.")
        XCTAssertTrue(error.streamEvent.hasPrefix("data: {\"error\":"))

        let bare = stream.translate(event: bytes(#"data: {"error":"overloaded"}"# + "\n\n"))
        XCTAssertEqual(bare.error?.message, "overloaded")

        let unreadable = stream.translate(event: bytes(#"data: {"error": 5}"# + "\n\n"))
        XCTAssertEqual(unreadable.error?.message, "The provider reported an error mid-stream.")
    }

    func testContentMentioningErrorIsNotAnError() {
        var stream = OpenAIStreamTranslator()
        let chunk = #"data: {"choices":[{"delta":{"content":"{\"error\": no"}}],"error_count":0}"# + "\n\n"
        XCTAssertNil(stream.translate(event: bytes(chunk)).error)
    }

    // MARK: Fixtures agree with each other

    func testStreamFixtureTellsTheSameAnswerAsTheResponseFixture() throws {
        let response = try XCTUnwrap(JSONSerialization.jsonObject(
            with: Data(fixture("openai/chat/upstream_response.json"))) as? [String: Any])
        let message = ((response["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
        var streamed = ""
        for event in try fixtureEvents("openai/chat/upstream_stream.sse") {
            guard let data = SSEFramer.data(of: event[...]), !data.elementsEqual("[DONE]".utf8) else { continue }
            let chunk = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(data)) as? [String: Any])
            let delta = (chunk["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any]
            streamed += delta?["content"] as? String ?? ""
        }
        XCTAssertEqual(streamed, message)
        XCTAssertNotNil(try JSONScanner.topLevelMembers(of: fixture("openai/embeddings/upstream_response.json")))
    }
}

// MARK: - Helpers

private func endpoint(_ model: String) -> EndpointConfig {
    EndpointConfig(name: "openai/" + model, provider: "openai", model: model)
}

private func headerPairs(_ request: UpstreamRequest) -> [String] {
    request.headers.map { "\($0.name): \($0.value)" }
}

private func bytes(_ text: String) -> ArraySlice<UInt8> { Array(text.utf8)[...] }

private func errorBody(message: String, type: String?, code: String?, param: String?) -> String {
    func json(_ value: String?) -> String { value.map(JSONText.quoted) ?? "null" }
    return #"{"error":{"message":\#(json(message)),"type":\#(json(type)),"param":\#(json(param)),"code":\#(json(code))}}"#
}

/// The bytes of `Fixtures/<path>`.
func fixture(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> [UInt8] {
    let root = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil), "Fixtures not bundled",
                             file: file, line: line)
    return Array(try Data(contentsOf: root.appendingPathComponent(path)))
}

/// The events of an SSE fixture, framed by `SSEFramer`; fails if bytes are left over.
func fixtureEvents(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> [[UInt8]] {
    let stream = try fixture(path, file: file, line: line)
    var framer = SSEFramer()
    var events: [[UInt8]] = []
    _ = stream.withUnsafeBytes { framer.feed($0) { events.append(Array($0)); return true } }
    XCTAssertEqual(framer.unfinished, [], "the fixture ends with a complete event", file: file, line: line)
    return events
}

private func assertBytes(_ actual: [UInt8], equalFixture path: String,
                         file: StaticString = #filePath, line: UInt = #line) throws {
    let expected = try fixture(path, file: file, line: line)
    if actual != expected {
        let firstDifference = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(actual.count, expected.count)
        XCTFail("""
            body differs from \(path) at byte \(firstDifference):
            actual:   \(String(decoding: actual, as: UTF8.self).debugDescription)
            expected: \(String(decoding: expected, as: UTF8.self).debugDescription)
            """, file: file, line: line)
    }
}
