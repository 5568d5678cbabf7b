import Foundation
import SluiceCore
import SluiceProviders
import XCTest

/// `BedrockTranslator` against golden fixtures in `Fixtures/bedrock/<case>/`, written from
/// the Converse and InvokeModel examples of the Bedrock API reference and checked against
/// botocore's `bedrock-runtime` 2023-09-30 model.
final class BedrockTranslatorTests: XCTestCase {
    private let translator = BedrockTranslator()
    private let model = "anthropic.claude-3-haiku-20240307-v1:0"

    private var bedrock: ProviderConfig {
        ProviderConfig(name: "bedrock", kind: .bedrock, baseURL: "https://bedrock-runtime.us-east-1.amazonaws.com", apiKey: nil,
                       region: "us-east-1",
                       awsCredentials: AWSCredentials(accessKeyID: Secret("AKIAEXAMPLE", origin: "env:AK"),
                                                      secretAccessKey: Secret("SECRETKEY-0123456789", origin: "env:SK"),
                                                      sessionToken: Secret("SESSION-TOKEN-xyz", origin: "env:ST")))
    }

    // MARK: Requests

    func testChatRequestsMatchGoldenFixtures() throws {
        for name in ["chat_system", "chat_multiturn", "chat_image", "chat_tools", "tool_result_turn", "stream_text", "stream_two_tools"] {
            let request = try ProviderFixtures.request("bedrock/\(name)/client_request.json")
            let upstream = try translator.upstreamRequest(for: request, endpoint: ProviderFixtures.endpoint("bedrock", model),
                                                          provider: bedrock, limits: ProviderFixtures.limits)
            try ProviderFixtures.assertUpstream(upstream, matches: "bedrock/\(name)/upstream_request.json")
            XCTAssertEqual(upstream.limits, ProviderFixtures.limits)
        }
    }

    func testRequestsAreSignedForBedrockAndCarryNoCredentialHeaders() throws {
        let request = try ProviderFixtures.request("bedrock/chat_system/client_request.json")
        let upstream = try translator.upstreamRequest(for: request, endpoint: ProviderFixtures.endpoint("bedrock", model),
                                                      provider: bedrock, limits: ProviderFixtures.limits)
        XCTAssertEqual(upstream.awsSigV4, AWSSigV4(region: "us-east-1", service: "bedrock", accessKeyID: "AKIAEXAMPLE",
                                                   secretAccessKey: "SECRETKEY-0123456789", sessionToken: "SESSION-TOKEN-xyz"))
        XCTAssertEqual(upstream.headers.map(\.name), ["Content-Type"], "signing headers are added when the call is sent")
        XCTAssertFalse(String(describing: upstream.awsSigV4!).contains("SECRETKEY"))
    }

    func testBedrockAPIKeyIsABearerToken() throws {
        var provider = bedrock
        provider.awsCredentials = nil
        provider.apiKey = Secret("ABSKbedrock-api-key", origin: "env:BEDROCK_KEY")
        provider.headers = [("X-Amzn-Bedrock-Trace", Secret("ENABLED", origin: "literal"))]
        let request = try ProviderFixtures.request("bedrock/stream_text/client_request.json")
        let upstream = try translator.upstreamRequest(for: request, endpoint: ProviderFixtures.endpoint("bedrock", model),
                                                      provider: provider, limits: ProviderFixtures.limits)
        XCTAssertNil(upstream.awsSigV4)
        XCTAssertEqual(upstream.headers.map { "\($0.name): \($0.value)" }, [
            "Content-Type: application/json", "Authorization: Bearer ABSKbedrock-api-key", "X-Amzn-Bedrock-Trace: ENABLED",
        ])
    }

    func testModelIDsAreOnePathSegment() throws {
        let request = try ProviderFixtures.request("bedrock/stream_text/client_request.json")
        let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"
        let upstream = try translator.upstreamRequest(for: request, endpoint: ProviderFixtures.endpoint("bedrock", arn),
                                                      provider: bedrock, limits: ProviderFixtures.limits)
        XCTAssertEqual(upstream.url, "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
                       + "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fa1b2c3/converse-stream")
    }

    func testEndpointParamsBecomeConverseFields() throws {
        let request = try ProviderFixtures.request("bedrock/stream_text/client_request.json")
        let endpoint = ProviderFixtures.endpoint("bedrock", model, params: [
            ("additionalModelRequestFields", #"{"top_k":200}"#),
            ("guardrailConfig", #"{"guardrailIdentifier":"gr-1","guardrailVersion":"1"}"#),
        ])
        let upstream = try translator.upstreamRequest(for: request, endpoint: endpoint, provider: bedrock, limits: ProviderFixtures.limits)
        let body = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(upstream.body)) as? [String: Any])
        ProviderFixtures.assertJSON(body["additionalModelRequestFields"] as Any, ["top_k": 200])
        ProviderFixtures.assertJSON(body["guardrailConfig"] as Any, ["guardrailIdentifier": "gr-1", "guardrailVersion": "1"])
    }

    func testRequestsBedrockCannotServeAreRefusedWithTheField() throws {
        let cases: [(String, String?)] = [
            (#"{"model":"r","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/cat.png"}}]}]}"#,
             "messages[0].content[0].image_url.url"),
            (#"{"model":"r","messages":[{"role":"user","content":"hi"}],"n":2}"#, "n"),
            (#"{"model":"r","messages":[{"role":"assistant","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}"#,
             "messages[0].tool_calls[0].function.arguments"),
            (#"{"model":"r","messages":[{"role":"tool","content":"x"}]}"#, "messages[0].tool_call_id"),
            (#"{"model":"r","messages":[{"role":"function","content":"x"}]}"#, "messages[0].role"),
        ]
        for (body, param) in cases {
            let request = try APIRequest(operation: .chatCompletions, body: Array(body.utf8))
            XCTAssertThrowsError(try translator.upstreamRequest(for: request, endpoint: ProviderFixtures.endpoint("bedrock", model),
                                                                provider: bedrock, limits: ProviderFixtures.limits), body) {
                let error = $0 as? GatewayError
                XCTAssertEqual(error?.httpStatus, 400, body)
                XCTAssertEqual(error?.param, param, body)
            }
        }
        let completions = try APIRequest(operation: .completions, body: Array(#"{"model":"r","prompt":"x"}"#.utf8))
        XCTAssertThrowsError(try translator.upstreamRequest(for: completions, endpoint: ProviderFixtures.endpoint("bedrock", model),
                                                            provider: bedrock, limits: ProviderFixtures.limits))
    }

    // MARK: Responses

    func testConverseResponsesMatchGoldenFixtures() throws {
        for name in ["chat_system", "chat_multiturn", "tool_use_response"] {
            let request = try APIRequest(operation: .chatCompletions,
                                         body: Array(#"{"model":"chat-bedrock","messages":[{"role":"user","content":"x"}]}"#.utf8))
            let body = try XCTUnwrap(try translator.clientBody(for: request, status: 200,
                                                               body: fixture("bedrock/\(name)/upstream_response.json")))
            ProviderFixtures.assertJSON(try ProviderFixtures.normalised(body), try ProviderFixtures.json("bedrock/\(name)/client_response.json"))
        }
    }

    func testMalformedConverseResponseIsAnUpstreamError() throws {
        let request = try ProviderFixtures.request("bedrock/chat_system/client_request.json")
        XCTAssertThrowsError(try translator.clientBody(for: request, status: 200, body: Array(#"{"unexpected":true}"#.utf8))) {
            XCTAssertEqual(($0 as? GatewayError)?.httpStatus, 502)
        }
    }

    // MARK: Errors

    func testErrorsKeepBedrocksStatusAndType() throws {
        let cases = try XCTUnwrap(ProviderFixtures.json("bedrock/errors/cases.json") as? [[String: Any]])
        for item in cases {
            let status = try XCTUnwrap(item["status"] as? Int)
            let headers: [(name: String, value: String)] = (item["errorType"] as? String).map { [("x-amzn-errortype", $0)] } ?? []
            let body = try JSONSerialization.data(withJSONObject: item["body"] ?? [:])
            let error = translator.clientError(status: status, headers: headers, body: Array(body), provider: bedrock)
            let expect = try XCTUnwrap(item["expect"] as? [String: Any])
            XCTAssertEqual(error.httpStatus, expect["status"] as? Int, "\(item)")
            XCTAssertEqual(error.errorType, expect["type"] as? String, "\(item)")
            XCTAssertEqual(error.errorCode, expect["code"] as? String, "\(item)")
            XCTAssertEqual(error.message, expect["message"] as? String, "\(item)")
        }
    }

    func testErrorMessagesNeverEchoTheSecret() {
        let body = Array(#"{"message":"bad token SESSION-TOKEN-xyz and key SECRETKEY-0123456789"}"#.utf8)
        let error = translator.clientError(status: 400, headers: [("x-amzn-errortype", "ValidationException")], body: body,
                                           provider: bedrock)
        XCTAssertEqual(error.message, "bad token [redacted] and key [redacted]")
    }

    // MARK: Embeddings

    func testTitanEmbeddingsFloatAndBase64() throws {
        let endpoint = ProviderFixtures.endpoint("bedrock", "amazon.titan-embed-text-v2:0")
        let request = try ProviderFixtures.request("bedrock/embeddings_titan/client_request.json", .embeddings)
        let upstream = try translator.upstreamRequest(for: request, endpoint: endpoint, provider: bedrock, limits: ProviderFixtures.limits)
        try ProviderFixtures.assertUpstream(upstream, matches: "bedrock/embeddings_titan/upstream_request.json")
        XCTAssertNotNil(upstream.awsSigV4)
        let response = try fixture("bedrock/embeddings_titan/upstream_response.json")
        ProviderFixtures.assertJSON(try JSONSerialization.jsonObject(with: Data(XCTUnwrap(translator.clientBody(for: request, status: 200, body: response)))),
                                    try ProviderFixtures.json("bedrock/embeddings_titan/client_response.json"))
        let base64 = try ProviderFixtures.request("bedrock/embeddings_titan/client_request_base64.json", .embeddings)
        ProviderFixtures.assertJSON(try JSONSerialization.jsonObject(with: Data(XCTUnwrap(translator.clientBody(for: base64, status: 200, body: response)))),
                                    try ProviderFixtures.json("bedrock/embeddings_titan/client_response_base64.json"))
    }

    func testTitanTakesOneInputPerCall() throws {
        let request = try APIRequest(operation: .embeddings, body: Array(#"{"model":"e","input":["a","b"]}"#.utf8))
        XCTAssertThrowsError(try translator.upstreamRequest(for: request, endpoint: ProviderFixtures.endpoint("bedrock", "amazon.titan-embed-text-v1"),
                                                            provider: bedrock, limits: ProviderFixtures.limits)) {
            XCTAssertEqual(($0 as? GatewayError)?.httpStatus, 400)
            XCTAssertEqual(($0 as? GatewayError)?.param, "input")
        }
        let tokens = try APIRequest(operation: .embeddings, body: Array(#"{"model":"e","input":[[1,2,3]]}"#.utf8))
        XCTAssertThrowsError(try translator.upstreamRequest(for: tokens, endpoint: ProviderFixtures.endpoint("bedrock", "cohere.embed-english-v3"),
                                                            provider: bedrock, limits: ProviderFixtures.limits))
        let unknown = try APIRequest(operation: .embeddings, body: Array(#"{"model":"e","input":"x"}"#.utf8))
        XCTAssertThrowsError(try translator.upstreamRequest(for: unknown, endpoint: ProviderFixtures.endpoint("bedrock", "meta.llama3-8b-instruct-v1:0"),
                                                            provider: bedrock, limits: ProviderFixtures.limits))
    }

    func testCohereEmbeddingsFloatAndBase64() throws {
        let endpoint = ProviderFixtures.endpoint("bedrock", "cohere.embed-english-v3", params: [("input_type", #""search_query""#)])
        let request = try ProviderFixtures.request("bedrock/embeddings_cohere/client_request.json", .embeddings)
        let upstream = try translator.upstreamRequest(for: request, endpoint: endpoint, provider: bedrock, limits: ProviderFixtures.limits)
        try ProviderFixtures.assertUpstream(upstream, matches: "bedrock/embeddings_cohere/upstream_request.json")
        let byType = try fixture("bedrock/embeddings_cohere/upstream_response.json")
        ProviderFixtures.assertJSON(try JSONSerialization.jsonObject(with: Data(XCTUnwrap(translator.clientBody(for: request, status: 200, body: byType)))),
                                    try ProviderFixtures.json("bedrock/embeddings_cohere/client_response.json"))
        let base64 = try ProviderFixtures.request("bedrock/embeddings_cohere/client_request_base64.json", .embeddings)
        let floats = try fixture("bedrock/embeddings_cohere/upstream_response_floats.json")
        ProviderFixtures.assertJSON(try JSONSerialization.jsonObject(with: Data(XCTUnwrap(translator.clientBody(for: base64, status: 200, body: floats)))),
                                    try ProviderFixtures.json("bedrock/embeddings_cohere/client_response_base64.json"))
    }

    func testRegistryAndFraming() {
        XCTAssertTrue(ProviderRegistry.translator(for: .bedrock) is BedrockTranslator)
        XCTAssertEqual(ProviderRegistry.translator(for: .bedrock).streamFraming, .awsEventStream)
        XCTAssertEqual((ProviderRegistry.translator(for: .azureOpenAI) as? OpenAITranslator)?.dialect, .azure)
        XCTAssertEqual((ProviderRegistry.translator(for: .databricks) as? OpenAITranslator)?.dialect, .databricks)
        XCTAssertEqual(ProviderRegistry.translator(for: .openai).streamFraming, .serverSentEvents)
    }
}
