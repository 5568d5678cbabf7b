import Foundation
import SluiceCore
import SluiceProviders
import XCTest

/// Azure OpenAI and Databricks: OpenAI's bodies, another URL, auth header and error
/// shape (`OpenAIDialect`), against golden fixtures.
final class OpenAIDialectTests: XCTestCase {
    private let azure = OpenAITranslator(dialect: .azure)
    private let databricks = OpenAITranslator(dialect: .databricks)

    private var azureProvider: ProviderConfig {
        ProviderConfig(name: "azure", kind: .azureOpenAI, baseURL: "https://contoso.openai.azure.com",
                       apiKey: Secret("AZURE-KEY-0123456789", origin: "env:AZ"), authHeader: "api-key", authPrefix: "",
                       apiVersion: "2024-10-21")
    }

    private var databricksProvider: ProviderConfig {
        ProviderConfig(name: "dbx", kind: .databricks, baseURL: "https://adb-1234567890123456.7.azuredatabricks.net",
                       apiKey: Secret("dapi-TOKEN-0123456789", origin: "env:DBX"))
    }

    // MARK: Azure OpenAI

    func testAzureURLAuthAndStreamUsage() throws {
        let request = try ProviderFixtures.request("azure_openai/chat/client_request.json")
        let upstream = try azure.upstreamRequest(for: request, endpoint: ProviderFixtures.endpoint("azure", "gpt-4o-prod"),
                                                 provider: azureProvider, limits: ProviderFixtures.limits)
        try ProviderFixtures.assertUpstream(upstream, matches: "azure_openai/chat/upstream_request.json")
        XCTAssertFalse(upstream.headers.contains { $0.name == "Authorization" })
        XCTAssertNil(upstream.awsSigV4)
    }

    func testAzureBeforeStreamOptionsDoesNotAskForUsage() throws {
        var provider = azureProvider
        provider.apiVersion = "2024-06-01"
        let request = try ProviderFixtures.request("azure_openai/chat/client_request.json")
        let upstream = try azure.upstreamRequest(for: request, endpoint: ProviderFixtures.endpoint("azure", "gpt-4o-prod"),
                                                 provider: provider, limits: ProviderFixtures.limits)
        XCTAssertTrue(upstream.url.hasSuffix("/chat/completions?api-version=2024-06-01"))
        XCTAssertFalse(String(decoding: upstream.body, as: UTF8.self).contains("stream_options"))
    }

    func testAzureEmbeddingsAreConvertedToBase64WhenTheServiceSentFloats() throws {
        let request = try ProviderFixtures.request("azure_openai/embeddings/client_request.json", .embeddings)
        let upstream = try azure.upstreamRequest(for: request, endpoint: ProviderFixtures.endpoint("azure", "text-embedding-3-small"),
                                                 provider: azureProvider, limits: ProviderFixtures.limits)
        try ProviderFixtures.assertUpstream(upstream, matches: "azure_openai/embeddings/upstream_request.json")
        let body = try XCTUnwrap(azure.clientBody(for: request, status: 200, body: fixture("azure_openai/embeddings/upstream_response.json")))
        ProviderFixtures.assertJSON(try JSONSerialization.jsonObject(with: Data(body)),
                                    try ProviderFixtures.json("azure_openai/embeddings/client_response.json"))
        // Already base64 (Azure honoured it), or floats asked for: passed through.
        XCTAssertNil(try azure.clientBody(for: request, status: 200, body: fixture("azure_openai/embeddings/client_response.json")))
        let floats = try APIRequest(operation: .embeddings, body: Array(#"{"model":"e","input":"x"}"#.utf8))
        XCTAssertNil(try azure.clientBody(for: floats, status: 200, body: fixture("azure_openai/embeddings/upstream_response.json")))
        let chat = try ProviderFixtures.request("azure_openai/chat/client_request.json")
        XCTAssertNil(try azure.clientBody(for: chat, status: 200, body: Array(#"{"id":"x"}"#.utf8)))
    }

    func testAzureErrors() throws {
        let filtered = azure.clientError(status: 400, headers: [], body: try fixture("azure_openai/errors/content_filter.json"),
                                         provider: azureProvider)
        XCTAssertEqual(filtered.httpStatus, 400)
        XCTAssertEqual(filtered.errorCode, "content_filter")
        XCTAssertEqual(filtered.param, "prompt")
        XCTAssertEqual(filtered.errorType, "invalid_request_error")
        XCTAssertTrue(filtered.message.hasPrefix("The response was filtered"))
        let refused = azure.clientError(status: 401, headers: [], body: try fixture("azure_openai/errors/unauthorized.json"),
                                        provider: azureProvider)
        XCTAssertEqual(refused.httpStatus, 502)
        let throttled = azure.clientError(status: 429, headers: [("retry-after", "7")],
                                          body: Array(#"{"error":{"code":"429","message":"Rate limit is exceeded."}}"#.utf8),
                                          provider: azureProvider)
        XCTAssertEqual(throttled.httpStatus, 429)
        XCTAssertEqual(throttled.retryAfter, 7)
    }

    // MARK: Databricks

    func testDatabricksURLAuthAndBodyWithoutModel() throws {
        let request = try ProviderFixtures.request("databricks/chat/client_request.json")
        let upstream = try databricks.upstreamRequest(
            for: request, endpoint: ProviderFixtures.endpoint("dbx", "databricks-meta-llama-3-3-70b-instruct"),
            provider: databricksProvider, limits: ProviderFixtures.limits)
        try ProviderFixtures.assertUpstream(upstream, matches: "databricks/chat/upstream_request.json")
        XCTAssertFalse(String(decoding: upstream.body, as: UTF8.self).contains("\"model\""))
    }

    func testDatabricksEmbeddings() throws {
        let request = try ProviderFixtures.request("databricks/embeddings/client_request.json", .embeddings)
        let upstream = try databricks.upstreamRequest(for: request, endpoint: ProviderFixtures.endpoint("dbx", "databricks-gte-large-en"),
                                                      provider: databricksProvider, limits: ProviderFixtures.limits)
        try ProviderFixtures.assertUpstream(upstream, matches: "databricks/embeddings/upstream_request.json")
        let body = try XCTUnwrap(databricks.clientBody(for: request, status: 200, body: fixture("databricks/embeddings/upstream_response.json")))
        ProviderFixtures.assertJSON(try JSONSerialization.jsonObject(with: Data(body)),
                                    try ProviderFixtures.json("databricks/embeddings/client_response.json"))
    }

    func testDatabricksErrors() throws {
        let limited = databricks.clientError(status: 429, headers: [("retry-after", "3")],
                                             body: try fixture("databricks/errors/rate_limited.json"), provider: databricksProvider)
        XCTAssertEqual(limited.httpStatus, 429)
        XCTAssertEqual(limited.errorType, "rate_limit_error")
        XCTAssertEqual(limited.errorCode, "REQUEST_LIMIT_EXCEEDED")
        XCTAssertEqual(limited.message, "Exceeded workspace rate limit for this endpoint. Please retry later.")
        XCTAssertEqual(limited.retryAfter, 3)
        XCTAssertTrue(limited.jsonBody.hasPrefix(#"{"error":{"message":"Exceeded workspace rate limit"#))

        let bad = databricks.clientError(status: 400, headers: [], body: try fixture("databricks/errors/bad_request.json"),
                                         provider: databricksProvider)
        XCTAssertEqual(bad.httpStatus, 400)
        XCTAssertEqual(bad.errorType, "invalid_request_error")
        XCTAssertEqual(bad.errorCode, "BAD_REQUEST")

        let external = databricks.clientError(status: 400, headers: [], body: try fixture("databricks/errors/external_openai.json"),
                                              provider: databricksProvider)
        XCTAssertEqual(external.errorCode, "context_length_exceeded")
        XCTAssertEqual(external.param, "messages")

        let legacy = databricks.clientError(status: 429, headers: [], body: try fixture("databricks/errors/legacy_code.json"),
                                            provider: databricksProvider)
        XCTAssertEqual(legacy.httpStatus, 429)
        XCTAssertNil(legacy.errorCode, "a non-string error_code counts as absent")
        XCTAssertEqual(legacy.message, "Too many requests")

        let refused = databricks.clientError(status: 403, headers: [],
                                             body: Array(#"{"error_code":"PERMISSION_DENIED","message":"Invalid access token dapi-TOKEN-0123456789"}"#.utf8),
                                             provider: databricksProvider)
        XCTAssertEqual(refused.httpStatus, 502)
        XCTAssertFalse(refused.message.contains("dapi-TOKEN"))
        let echoed = databricks.clientError(status: 400, headers: [],
                                            body: Array(#"{"error_code":"BAD_REQUEST","message":"token dapi-TOKEN-0123456789 bad"}"#.utf8),
                                            provider: databricksProvider)
        XCTAssertEqual(echoed.message, "token [redacted] bad")
    }

    func testOpenAIDialectIsUnchanged() throws {
        let request = try APIRequest(operation: .embeddings,
                                     body: Array(#"{"model":"e","input":"x","encoding_format":"base64"}"#.utf8))
        XCTAssertNil(try OpenAITranslator().clientBody(for: request, status: 200,
                                                       body: fixture("azure_openai/embeddings/upstream_response.json")))
    }
}
