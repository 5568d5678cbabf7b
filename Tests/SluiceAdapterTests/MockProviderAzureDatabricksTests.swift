import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SluiceMockProvider
import XCTest

/// The mock provider's Azure OpenAI (`/openai/deployments/…`) and Databricks Model
/// Serving (`/serving-endpoints/…/invocations`) surfaces, and the OpenAI-shaped answers
/// they share, driven over loopback HTTP like `MockProviderTests`.
final class MockProviderAzureDatabricksTests: XCTestCase {
    private static let user = [["role": "user", "content": "hi there"]]

    private func azure(_ mock: MockClient, _ deployment: String, _ body: [String: Any],
                       operation: String = "chat/completions", version: String? = "2024-10-21",
                       headers: [String: String] = ["api-key": "az-key"]) async throws -> MockResponse {
        let query = version.map { "?api-version=\($0)" } ?? ""
        return try await mock.post("/openai/deployments/\(deployment)/\(operation)\(query)", body, headers: headers)
    }

    private func databricks(_ mock: MockClient, _ endpoint: String, _ body: [String: Any],
                            headers: [String: String] = ["Authorization": "Bearer dapi-key"]) async throws -> MockResponse {
        try await mock.post("/serving-endpoints/\(endpoint)/invocations", body, headers: headers)
    }

    // MARK: Azure OpenAI

    func testAzureChatAnswersForTheDeploymentWithContentFilterResults() async throws {
        let mock = try MockClient(options: MockProviderOptions(apiKey: "az-key"))
        let response = try await azure(mock, "gpt-4o-prod", ["messages": Self.user, "model": "ignored"])
        XCTAssertEqual(response.status, 200)
        let object = try response.object()
        XCTAssertEqual(object["object"] as? String, "chat.completion")
        XCTAssertEqual(object["model"] as? String, "gpt-4o-prod", "the deployment, not the body's model")
        let choice = try XCTUnwrap((object["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual((choice["message"] as? [String: Any])?["content"] as? String, "Echo: hi there")
        let outputFilter = try XCTUnwrap(choice["content_filter_results"] as? [String: Any])
        XCTAssertEqual(outputFilter["hate"] as? NSDictionary, ["filtered": false, "severity": "safe"] as NSDictionary)
        let promptFilter = try XCTUnwrap((object["prompt_filter_results"] as? [[String: Any]])?.first)
        XCTAssertEqual(promptFilter["prompt_index"] as? Int, 0)
        XCTAssertNotNil((promptFilter["content_filter_results"] as? [String: Any])?["jailbreak"])
        XCTAssertEqual(try usage(object), [5, 3, 8])

        let bearer = try await azure(mock, "gpt-4o-prod", ["messages": Self.user],
                                     headers: ["Authorization": "Bearer az-key"])
        XCTAssertEqual(bearer.status, 200, "Entra ID style bearer tokens are accepted too")

        let stats = try await mock.get("/_mock/stats").object()
        XCTAssertEqual((stats["by_model"] as? [String: Int])?["gpt-4o-prod"], 2)
        XCTAssertNil((stats["by_model"] as? [String: Int])?["ignored"])
        XCTAssertEqual((stats["by_api"] as? [String: Int])?["azure"], 2)
        let last = try XCTUnwrap(stats["last_request"] as? [String: Any])
        XCTAssertEqual(last["query"] as? String, "api-version=2024-10-21")
        XCTAssertEqual(last["path"] as? String, "/openai/deployments/gpt-4o-prod/chat/completions")
        XCTAssertEqual(last["api"] as? String, "azure")
    }

    func testAzureStreamLeadsWithPromptFilterChunkAndEndsWithUsage() async throws {
        let mock = try MockClient()
        let response = try await azure(mock, "gpt-4o-prod", [
            "messages": Self.user, "stream": true, "stream_options": ["include_usage": true],
        ])
        let events = sseData(response.text)
        XCTAssertEqual(events.last, "[DONE]")
        let chunks = try events.dropLast().map(jsonObject)
        let first = try XCTUnwrap(chunks.first)
        XCTAssertEqual((first["choices"] as? [Any])?.count, 0)
        XCTAssertEqual(first["id"] as? String, "")
        XCTAssertEqual(first["model"] as? String, "")
        XCTAssertNotNil(first["prompt_filter_results"] as? [Any])
        let rest = chunks.dropFirst()
        XCTAssertTrue(rest.allSatisfy { $0["object"] as? String == "chat.completion.chunk" && $0["model"] as? String == "gpt-4o-prod" })
        let text = rest.compactMap { ($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any] }
            .compactMap { $0["content"] as? String }.joined()
        XCTAssertEqual(text, "Echo: hi there")
        XCTAssertEqual(try usage(XCTUnwrap(chunks.last)), [5, 3, 8])
    }

    func testAzureCompletionsAndEmbeddingsPaths() async throws {
        let mock = try MockClient()
        let completion = try await azure(mock, "davinci", ["prompt": "a b"], operation: "completions").object()
        XCTAssertEqual(completion["object"] as? String, "text_completion")
        XCTAssertEqual(completion["model"] as? String, "davinci")
        XCTAssertNotNil((completion["choices"] as? [[String: Any]])?.first?["content_filter_results"])

        let embedding = try await azure(mock, "ada", ["input": ["x", "y"]], operation: "embeddings").object()
        XCTAssertEqual(embedding["model"] as? String, "ada")
        XCTAssertEqual((embedding["data"] as? [Any])?.count, 2)
        XCTAssertNil(embedding["prompt_filter_results"], "embeddings carry no filter results")
    }

    func testAzureErrorsHaveAzuresShapes() async throws {
        let mock = try MockClient(options: MockProviderOptions(apiKey: "az-key"))
        let notFound: NSDictionary = ["error": ["code": "404", "message": "Resource not found"]]

        let noVersion = try await azure(mock, "d", ["messages": Self.user], version: nil)
        XCTAssertEqual(noVersion.status, 404)
        XCTAssertEqual(try noVersion.object() as NSDictionary, notFound)
        let unknownPath = try await azure(mock, "d", ["prompt": "x"], operation: "images/generations")
        XCTAssertEqual(unknownPath.status, 404)
        XCTAssertEqual(try unknownPath.object() as NSDictionary, notFound)

        let wrongKey = try await azure(mock, "d", ["messages": Self.user], headers: ["api-key": "nope"])
        XCTAssertEqual(wrongKey.status, 401)
        XCTAssertEqual(try wrongKey.error()["code"] as? String, "401")
        XCTAssertTrue((try wrongKey.error()["message"] as? String ?? "").hasPrefix("Access denied"))

        let limited = try await azure(mock, "d@status=429,retry_after=3", ["messages": Self.user])
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(limited.header("retry-after"), "3")
        XCTAssertEqual(limited.header("retry-after-ms"), "3000")
        XCTAssertEqual(try limited.error()["code"] as? String, "429")
        XCTAssertTrue((try limited.error()["message"] as? String ?? "").contains("ChatCompletions_Create"))

        let missing = try await azure(mock, "d@status=404", ["messages": Self.user])
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(try missing.error()["code"] as? String, "DeploymentNotFound")

        let filtered = try await azure(mock, "d@content_filter=1", ["messages": Self.user])
        XCTAssertEqual(filtered.status, 400)
        let filterError = try filtered.error()
        XCTAssertEqual(filterError["code"] as? String, "content_filter")
        XCTAssertEqual(filterError["param"] as? String, "prompt")
        XCTAssertEqual(filterError["status"] as? Int, 400)
        let inner = try XCTUnwrap(filterError["innererror"] as? [String: Any])
        XCTAssertEqual(inner["code"] as? String, "ResponsibleAIPolicyViolation")
        XCTAssertEqual(((inner["content_filter_result"] as? [String: Any])?["violence"] as? [String: Any])?["filtered"] as? Bool,
                       true)

        let broken = try await azure(mock, "d@status=500", ["messages": Self.user])
        XCTAssertEqual(broken.status, 500)
        XCTAssertEqual(try broken.error()["type"] as? String, "server_error", "the model service's errors are OpenAI's")
        let invalid = try await azure(mock, "d", ["model": "x"])
        XCTAssertEqual(invalid.status, 400)
        XCTAssertEqual(try invalid.error()["param"] as? String, "messages")

        _ = try await mock.setFault(model: "flaky", "status=503")
        let flaky = try await azure(mock, "flaky", ["messages": Self.user])
        XCTAssertEqual(flaky.status, 503, "runtime faults are keyed by deployment")
    }

    // MARK: Databricks

    func testDatabricksInvocationsPickTheTaskFromTheBody() async throws {
        let mock = try MockClient(options: MockProviderOptions(apiKey: "dapi-key"))
        let chat = try await databricks(mock, "llama-chat", ["messages": Self.user, "max_tokens": 2]).object()
        XCTAssertEqual(chat["object"] as? String, "chat.completion")
        XCTAssertEqual(chat["model"] as? String, "llama-chat")
        let message = (chat["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any]
        XCTAssertEqual(message?["content"] as? String, "Echo: hi")
        XCTAssertNil(chat["prompt_filter_results"])

        let completion = try await databricks(mock, "llama-completions", ["prompt": "x y"]).object()
        XCTAssertEqual(completion["object"] as? String, "text_completion")
        XCTAssertEqual((completion["choices"] as? [[String: Any]])?.first?["text"] as? String, "Echo: x y")

        let embedding = try await databricks(mock, "bge", ["input": "x"]).object()
        XCTAssertEqual(embedding["object"] as? String, "list")
        XCTAssertEqual(embedding["model"] as? String, "bge")

        let stream = try await databricks(mock, "llama-chat", ["messages": Self.user, "stream": true])
        let events = sseData(stream.text)
        XCTAssertEqual(events.last, "[DONE]")
        let chunks = try events.dropLast().map(jsonObject)
        XCTAssertTrue(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
        XCTAssertTrue(chunks.allSatisfy { !$0.keys.contains("usage") }, "usage only with stream_options.include_usage")

        let stats = try await mock.get("/_mock/stats").object()
        XCTAssertEqual(stats["by_model"] as? [String: Int], ["llama-chat": 2, "llama-completions": 1, "bge": 1])
        XCTAssertEqual((stats["by_api"] as? [String: Int])?["databricks"], 4)
    }

    func testDatabricksErrorsHaveErrorCodes() async throws {
        let mock = try MockClient(options: MockProviderOptions(apiKey: "dapi-key"))
        func expect(_ response: MockResponse, _ status: Int, _ code: String, line: UInt = #line) throws -> String {
            XCTAssertEqual(response.status, status, line: line)
            let object = try response.object()
            XCTAssertEqual(object["error_code"] as? String, code, line: line)
            let details = try XCTUnwrap((object["details"] as? [[String: Any]])?.first, line: line)
            XCTAssertEqual(details["@type"] as? String, "type.googleapis.com/google.rpc.RequestInfo", line: line)
            XCTAssertTrue((details["request_id"] as? String ?? "").hasPrefix("req_"), line: line)
            return object["message"] as? String ?? ""
        }
        let body: [String: Any] = ["messages": Self.user]
        _ = try expect(try await databricks(mock, "e", body, headers: [:]), 401, "UNAUTHENTICATED")
        _ = try expect(try await databricks(mock, "e", body, headers: ["Authorization": "Bearer nope"]),
                       401, "UNAUTHENTICATED")
        let limited = try await databricks(mock, "e@status=429,retry_after=4", body)
        _ = try expect(limited, 429, "REQUEST_LIMIT_EXCEEDED")
        XCTAssertEqual(limited.header("retry-after"), "4")
        let missing = try expect(try await databricks(mock, "gone@status=404", body), 404, "RESOURCE_DOES_NOT_EXIST")
        XCTAssertEqual(missing, "Endpoint with name 'gone' does not exist.")
        _ = try expect(try await databricks(mock, "e@status=503", body), 503, "TEMPORARILY_UNAVAILABLE")
        _ = try expect(try await databricks(mock, "e@status=500", body), 500, "INTERNAL_ERROR")
        _ = try expect(try await databricks(mock, "e@status=403", body), 403, "PERMISSION_DENIED")
        _ = try expect(try await databricks(mock, "e", ["question": "x"]), 400, "BAD_REQUEST")
        _ = try expect(try await databricks(mock, "e", ["messages": "not a list"]), 400, "BAD_REQUEST")
        let wrongPath = try await mock.post("/serving-endpoints/e/predict", body,
                                            headers: ["Authorization": "Bearer dapi-key"])
        _ = try expect(wrongPath, 404, "ENDPOINT_NOT_FOUND")
    }

    // MARK: Shared OpenAI-shaped answers

    func testToolsFaultGivesParallelToolCallsWithTheirOwnIndex() async throws {
        let mock = try MockClient()
        let tools: [[String: Any]] = [
            ["type": "function", "function": ["name": "get_weather", "parameters": ["type": "object"]]],
            ["type": "function", "function": ["name": "get_time", "parameters": ["type": "object"]]],
        ]
        let messages = [["role": "user", "content": "weather and time?"]]
        let object = try await databricks(mock, "e@tools=2", ["messages": messages, "tools": tools],
                                          headers: [:]).object()
        let choice = try XCTUnwrap((object["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual(choice["finish_reason"] as? String, "tool_calls")
        let calls = try XCTUnwrap((choice["message"] as? [String: Any])?["tool_calls"] as? [[String: Any]])
        XCTAssertEqual(calls.compactMap { ($0["function"] as? [String: Any])?["name"] as? String },
                       ["get_weather", "get_time"])
        XCTAssertEqual(Set(calls.compactMap { $0["id"] as? String }).count, 2)

        let stream = try await mock.post("/v1/chat/completions", [
            "model": "m@tools=2", "stream": true, "messages": messages, "tools": tools,
        ])
        let chunks = try sseData(stream.text).dropLast().map(jsonObject)
        let pieces = chunks.flatMap { chunk -> [[String: Any]] in
            let delta = (chunk["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any]
            return delta?["tool_calls"] as? [[String: Any]] ?? []
        }
        for (index, city) in ["Paris", "London"].enumerated() {
            let mine = pieces.filter { $0["index"] as? Int == index }
            XCTAssertEqual(mine.compactMap { $0["id"] as? String }.count, 1, "the id comes once, in the opening chunk")
            let arguments = mine.compactMap { ($0["function"] as? [String: Any])?["arguments"] as? String }.joined()
            XCTAssertEqual(try jsonObject(arguments) as NSDictionary, ["location": city] as NSDictionary)
        }
    }
}
