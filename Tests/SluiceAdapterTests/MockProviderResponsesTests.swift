import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SluiceMockProvider
import XCTest

/// The mock provider's OpenAI Responses API (`/v1/responses`, Azure's `/openai/v1/responses`
/// and `/openai/deployments/{deployment}/responses`), driven over loopback HTTP like
/// `MockProviderTests`: answer shape and usage, tools, reasoning, structured output, the
/// stream, stored responses scoped by API key, and OpenAI's errors.
final class MockProviderResponsesTests: XCTestCase {
    private static let keyA = ["Authorization": "Bearer key-a"]
    private static let keyB = ["Authorization": "Bearer key-b"]
    private static var weatherTool: [String: Any] {
        ["type": "function", "name": "get_weather", "strict": true,
         "parameters": ["type": "object", "properties": ["city": ["type": "string"]], "required": ["city"],
                        "additionalProperties": false] as [String: Any]]
    }

    private func create(_ mock: MockClient, _ body: [String: Any], path: String = "/v1/responses",
                        headers: [String: String] = keyA) async throws -> MockResponse {
        try await mock.post(path, body, headers: headers)
    }

    private func items(_ object: [String: Any]) throws -> [[String: Any]] {
        try XCTUnwrap(object["output"] as? [[String: Any]])
    }

    private func outputText(_ item: [String: Any]) throws -> String {
        let part = try XCTUnwrap((item["content"] as? [[String: Any]])?.first)
        XCTAssertEqual(part["type"] as? String, "output_text")
        return try XCTUnwrap(part["text"] as? String)
    }

    // MARK: Answers

    func testPlainAnswerHasTheResponseShapeAndUsage() async throws {
        let mock = try MockClient()
        let response = try await create(mock, ["model": "gpt-test", "input": "hello mock world",
                                               "instructions": "be brief", "metadata": ["run": "1"]])
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("content-type"), "application/json")
        let object = try response.object()
        XCTAssertTrue((object["id"] as? String ?? "").hasPrefix("resp_"))
        XCTAssertEqual(object["object"] as? String, "response")
        XCTAssertEqual(object["status"] as? String, "completed")
        XCTAssertEqual(object["model"] as? String, "gpt-test")
        XCTAssertNotNil(object["created_at"] as? Int)
        XCTAssertNil(object["output_text"], "output_text is an SDK convenience, not a wire field")
        for key in ["error", "incomplete_details", "previous_response_id", "max_output_tokens", "user"] {
            XCTAssertTrue(object[key] is NSNull, key)
        }
        XCTAssertEqual(object["instructions"] as? String, "be brief")
        XCTAssertEqual(object["store"] as? Bool, true)
        XCTAssertEqual(object["parallel_tool_calls"] as? Bool, true)
        XCTAssertEqual(object["tool_choice"] as? String, "auto")
        XCTAssertEqual((object["tools"] as? [Any])?.count, 0)
        XCTAssertEqual(object["temperature"] as? Double, 1.0)
        XCTAssertEqual(object["top_p"] as? Double, 1.0)
        XCTAssertEqual(object["metadata"] as? [String: String], ["run": "1"])
        XCTAssertEqual(((object["text"] as? [String: Any])?["format"] as? [String: Any])?["type"] as? String, "text")
        XCTAssertTrue((object["reasoning"] as? [String: Any])?["effort"] is NSNull)

        let message = try XCTUnwrap(items(object).first)
        XCTAssertEqual(message["type"] as? String, "message")
        XCTAssertEqual(message["role"] as? String, "assistant")
        XCTAssertEqual(message["status"] as? String, "completed")
        XCTAssertTrue((message["id"] as? String ?? "").hasPrefix("msg_"))
        XCTAssertEqual(try outputText(message), "Echo: hello mock world")
        XCTAssertEqual(((message["content"] as? [[String: Any]])?.first?["annotations"] as? [Any])?.count, 0)

        // Input: 3 words + 3, instructions: 2 words + 3; output: 4 words.
        let usage = try XCTUnwrap(object["usage"] as? [String: Any])
        XCTAssertEqual(usage["input_tokens"] as? Int, 11)
        XCTAssertEqual(usage["output_tokens"] as? Int, 4)
        XCTAssertEqual(usage["total_tokens"] as? Int, 15)
        XCTAssertEqual((usage["input_tokens_details"] as? [String: Int])?["cached_tokens"], 0)
        XCTAssertEqual((usage["output_tokens_details"] as? [String: Int])?["reasoning_tokens"], 0)

        let bare = try await create(mock, ["model": "m", "input": [
            ["role": "user", "content": [["type": "input_text", "text": "from"],
                                         ["type": "input_image", "image_url": "https://x/y.png"],
                                         ["type": "input_text", "text": "parts"]]],
        ]], path: "/responses")
        XCTAssertEqual(try outputText(XCTUnwrap(items(bare.object()).first)), "Echo: from parts")

        let stats = try await mock.get("/_mock/stats").object()
        XCTAssertEqual((stats["by_path"] as? [String: Int])?["/v1/responses"], 1)
        XCTAssertEqual((stats["by_path"] as? [String: Int])?["/responses"], 1)
        XCTAssertEqual((stats["by_api"] as? [String: Int])?["openai"], 2)
        XCTAssertEqual((stats["last_request"] as? [String: Any])?["path"] as? String, "/responses")
    }

    func testFunctionCallThenItsOutputGetsATextAnswer() async throws {
        let mock = try MockClient()
        let first = try await create(mock, ["model": "m", "tools": [Self.weatherTool],
                                            "input": "What is the weather in Paris?"]).object()
        let call = try XCTUnwrap(items(first).first)
        XCTAssertEqual(call["type"] as? String, "function_call")
        XCTAssertEqual(call["name"] as? String, "get_weather")
        XCTAssertEqual(call["status"] as? String, "completed")
        XCTAssertTrue((call["id"] as? String ?? "").hasPrefix("fc_"))
        let callID = try XCTUnwrap(call["call_id"] as? String)
        XCTAssertTrue(callID.hasPrefix("call_"))
        let arguments = try jsonObject(XCTUnwrap(call["arguments"] as? String))
        XCTAssertNotNil(arguments["city"] as? String, "arguments satisfy the tool's required properties")
        let echoedTool = try XCTUnwrap((first["tools"] as? [[String: Any]])?.first)
        XCTAssertEqual(echoedTool["name"] as? String, "get_weather")
        XCTAssertEqual(echoedTool["type"] as? String, "function")

        let second = try await create(mock, ["model": "m", "tools": [Self.weatherTool], "input": [
            ["role": "user", "content": "What is the weather in Paris?"],
            ["type": "function_call", "call_id": callID, "name": "get_weather", "arguments": call["arguments"]!],
            ["type": "function_call_output", "call_id": callID, "output": "sunny and 20C"],
        ]]).object()
        let answer = try XCTUnwrap(items(second).first)
        XCTAssertEqual(answer["type"] as? String, "message")
        XCTAssertEqual(try outputText(answer), "Echo: sunny and 20C")

        let forced = try await create(mock, ["model": "m", "tools": [Self.weatherTool], "input": "hi",
                                             "tool_choice": ["type": "function", "name": "get_weather"]]).object()
        XCTAssertEqual(try items(forced).first?["type"] as? String, "function_call")
        let none = try await create(mock, ["model": "m", "tools": [Self.weatherTool], "input": "weather?",
                                           "tool_choice": "none"]).object()
        XCTAssertEqual(try items(none).first?["type"] as? String, "message")

        // Chat's nested tool shape has no top-level name, and OpenAI says so.
        let nested = try await create(mock, ["model": "m", "input": "weather?", "tools": [
            ["type": "function", "function": ["name": "get_weather", "parameters": [String: Any]()]],
        ]])
        XCTAssertEqual(nested.status, 400)
        XCTAssertEqual(try nested.error()["message"] as? String, "Missing required parameter: 'tools[0].name'.")
        XCTAssertEqual(try nested.error()["param"] as? String, "tools[0].name")
    }

    func testReasoningEffortAddsAReasoningItemAndReasoningTokens() async throws {
        let mock = try MockClient()
        let object = try await create(mock, ["model": "o-test", "input": "think about it",
                                             "reasoning": ["effort": "low", "summary": "auto"]]).object()
        let output = try items(object)
        XCTAssertEqual(output.map { $0["type"] as? String }, ["reasoning", "message"])
        XCTAssertTrue((output[0]["id"] as? String ?? "").hasPrefix("rs_"))
        let summary = try XCTUnwrap((output[0]["summary"] as? [[String: Any]])?.first)
        XCTAssertEqual(summary["type"] as? String, "summary_text")
        XCTAssertEqual(summary["text"] as? String, "Reasoning about: think about it")
        let usage = try XCTUnwrap(object["usage"] as? [String: Any])
        XCTAssertEqual((usage["output_tokens_details"] as? [String: Int])?["reasoning_tokens"], 32)
        XCTAssertEqual(usage["output_tokens"] as? Int, 4 + 32)
        XCTAssertEqual((object["reasoning"] as? [String: String]), ["effort": "low", "summary": "auto"])

        let plain = try await create(mock, ["model": "o-test", "input": "x", "reasoning": ["effort": "high"]]).object()
        XCTAssertEqual((try items(plain).first?["summary"] as? [Any])?.count, 0, "no summary unless asked for")
    }

    func testJSONSchemaFormatAnswersWithAnInstanceOfTheSchema() async throws {
        let mock = try MockClient()
        let schema: [String: Any] = [
            "type": "object", "additionalProperties": false, "required": ["answer", "count"],
            "properties": ["answer": ["type": "string"], "count": ["type": "integer", "minimum": 2]],
        ]
        let object = try await create(mock, ["model": "m", "input": "give me data", "text": [
            "format": ["type": "json_schema", "name": "reply", "schema": schema, "strict": true],
        ]]).object()
        let parsed = try jsonObject(outputText(XCTUnwrap(items(object).first)))
        XCTAssertNotNil(parsed["answer"] as? String)
        XCTAssertEqual(parsed["count"] as? Int, 2)
        let format = try XCTUnwrap((object["text"] as? [String: Any])?["format"] as? [String: Any])
        XCTAssertEqual(format["name"] as? String, "reply")

        let noJSON = try await create(mock, ["model": "m", "input": "hi", "text": ["format": ["type": "json_object"]]])
        XCTAssertEqual(noJSON.status, 400)
        XCTAssertEqual(try noJSON.error()["param"] as? String, "input")
    }

    // MARK: Streams

    func testStreamSendsTheDocumentedEventsInOrder() async throws {
        let mock = try MockClient()
        let response = try await create(mock, ["model": "m", "stream": true, "input": "stream these words"])
        XCTAssertEqual(response.status, 200)
        XCTAssertTrue(response.header("content-type")?.hasPrefix("text/event-stream") ?? false)
        XCTAssertFalse(response.text.contains("[DONE]"), "the Responses API sends no [DONE] line")
        let events = try namedEvents(response.text)
        XCTAssertEqual(events.map(\.name), [
            "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
            "response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
            "response.output_text.delta", "response.output_text.done", "response.content_part.done",
            "response.output_item.done", "response.completed",
        ])
        XCTAssertEqual(events.map { $0.data["type"] as? String }, events.map(\.name))
        XCTAssertEqual(events.map { $0.data["sequence_number"] as? Int }, Array(0..<events.count))

        let created = try XCTUnwrap(events[0].data["response"] as? [String: Any])
        XCTAssertEqual(created["status"] as? String, "in_progress")
        XCTAssertTrue(created["usage"] is NSNull)
        let deltas = events.filter { $0.name == "response.output_text.delta" }
        XCTAssertEqual(deltas.compactMap { $0.data["delta"] as? String }.joined(), "Echo: stream these words")
        let itemID = try XCTUnwrap(deltas.first?.data["item_id"] as? String)
        XCTAssertEqual(deltas.first?.data["output_index"] as? Int, 0)
        XCTAssertEqual(deltas.first?.data["content_index"] as? Int, 0)
        XCTAssertEqual(events[8].data["text"] as? String, "Echo: stream these words")

        let completed = try XCTUnwrap(events.last?.data["response"] as? [String: Any])
        XCTAssertEqual(completed["id"] as? String, created["id"] as? String)
        XCTAssertEqual(completed["status"] as? String, "completed")
        XCTAssertEqual(try items(completed).first?["id"] as? String, itemID)
        let usage = try XCTUnwrap(completed["usage"] as? [String: Any])
        XCTAssertEqual([usage["input_tokens"] as? Int, usage["output_tokens"] as? Int, usage["total_tokens"] as? Int],
                       [6, 4, 10])
    }

    func testStreamedFunctionCallAndReasoningSummary() async throws {
        let mock = try MockClient()
        let response = try await create(mock, [
            "model": "m", "stream": true, "tools": [Self.weatherTool], "input": "weather please",
            "reasoning": ["effort": "minimal", "summary": "concise"],
        ])
        let events = try namedEvents(response.text)
        let names = events.map(\.name).filter { !$0.hasSuffix(".delta") }
        XCTAssertEqual(names, [
            "response.created", "response.in_progress",
            "response.output_item.added", "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
            "response.output_item.added", "response.function_call_arguments.done", "response.output_item.done",
            "response.completed",
        ])
        let added = try XCTUnwrap(events.filter { $0.name == "response.output_item.added" }.last?.data["item"]
            as? [String: Any])
        XCTAssertEqual(added["type"] as? String, "function_call")
        XCTAssertEqual(added["arguments"] as? String, "")
        let pieces = events.filter { $0.name == "response.function_call_arguments.delta" }
        XCTAssertEqual(pieces.first?.data["output_index"] as? Int, 1)
        let done = try XCTUnwrap(events.first { $0.name == "response.function_call_arguments.done" })
        XCTAssertEqual(pieces.compactMap { $0.data["delta"] as? String }.joined(), done.data["arguments"] as? String)
        XCTAssertFalse(events.filter { $0.name == "response.reasoning_summary_text.delta" }.isEmpty)
        XCTAssertEqual(events.map { $0.data["sequence_number"] as? Int }, Array(0..<events.count))
    }

    func testStreamErrorFaultEndsWithAnErrorEventAndStoresNothing() async throws {
        let mock = try MockClient()
        let response = try await create(mock, ["model": "m@stream_error=2", "stream": true, "input": "a b c d"])
        XCTAssertEqual(response.status, 200)
        let events = try namedEvents(response.text)
        XCTAssertEqual(events.filter { $0.name == "response.output_text.delta" }.count, 2)
        XCTAssertFalse(events.contains { $0.name == "response.completed" })
        let error = try XCTUnwrap(events.last)
        XCTAssertEqual(error.name, "error")
        XCTAssertEqual(error.data["type"] as? String, "error")
        XCTAssertEqual(error.data["code"] as? String, "server_error")
        XCTAssertNotNil(error.data["message"] as? String)
        XCTAssertTrue(error.data["param"] is NSNull)
        XCTAssertEqual(error.data["sequence_number"] as? Int, events.count - 1)

        let id = try XCTUnwrap((events[0].data["response"] as? [String: Any])?["id"] as? String)
        let lookup = try await mock.get("/v1/responses/\(id)", headers: Self.keyA)
        XCTAssertEqual(lookup.status, 404)

        let failed = try await create(mock, ["model": "m@status=500", "input": "x"])
        XCTAssertEqual(failed.status, 500)
        XCTAssertEqual(try failed.error()["type"] as? String, "server_error")
    }

    // MARK: Stored responses

    func testStoredResponseCanBeRetrievedListedCancelledAndDeleted() async throws {
        let mock = try MockClient()
        let created = try await create(mock, ["model": "m", "input": "remember me"])
        let object = try created.object()
        let id = try XCTUnwrap(object["id"] as? String)

        let fetched = try await mock.get("/v1/responses/\(id)", headers: Self.keyA)
        XCTAssertEqual(fetched.status, 200)
        XCTAssertEqual(fetched.body, created.body, "GET answers the object the create call answered")

        let list = try await mock.get("/v1/responses/\(id)/input_items", headers: Self.keyA).object()
        XCTAssertEqual(list["object"] as? String, "list")
        XCTAssertEqual(list["has_more"] as? Bool, false)
        let data = try XCTUnwrap(list["data"] as? [[String: Any]])
        XCTAssertEqual(data.count, 1)
        XCTAssertEqual(data[0]["type"] as? String, "message")
        XCTAssertEqual(data[0]["role"] as? String, "user")
        XCTAssertEqual((data[0]["content"] as? [[String: Any]])?.first?["text"] as? String, "remember me")
        XCTAssertEqual(list["first_id"] as? String, data[0]["id"] as? String)
        XCTAssertEqual(list["last_id"] as? String, data[0]["id"] as? String)

        let cancel = try await mock.post("/v1/responses/\(id)/cancel", [:], headers: Self.keyA)
        XCTAssertEqual(cancel.status, 400)
        XCTAssertEqual(try cancel.error()["message"] as? String, "Cannot cancel a synchronous response.")
        let background = try await create(mock, ["model": "m", "input": "x", "background": true]).object()
        let backgroundID = try XCTUnwrap(background["id"] as? String)
        let cancelled = try await mock.post("/v1/responses/\(backgroundID)/cancel", [:], headers: Self.keyA)
        XCTAssertEqual(cancelled.status, 200)
        XCTAssertEqual(try cancelled.object()["status"] as? String, "completed", "a finished response stays finished")

        let deleted = try await mock.send("DELETE", "/v1/responses/\(id)", body: nil, headers: Self.keyA)
        XCTAssertEqual(deleted.status, 200)
        XCTAssertEqual(try deleted.object() as NSDictionary,
                       ["id": id, "object": "response.deleted", "deleted": true] as NSDictionary)
        let gone = try await mock.get("/v1/responses/\(id)", headers: Self.keyA)
        XCTAssertEqual(gone.status, 404)
        XCTAssertEqual(try gone.object() as NSDictionary, ["error": [
            "message": "Response with id '\(id)' not found.", "type": "invalid_request_error",
            "param": NSNull(), "code": NSNull(),
        ]] as NSDictionary)

        let unstored = try await create(mock, ["model": "m", "input": "x", "store": false]).object()
        XCTAssertEqual(unstored["store"] as? Bool, false)
        let unstoredID = try XCTUnwrap(unstored["id"] as? String)
        let missing = try await mock.get("/v1/responses/\(unstoredID)", headers: Self.keyA)
        XCTAssertEqual(missing.status, 404)

        _ = try await mock.post("/_mock/reset", [:])
        let afterReset = try await mock.get("/v1/responses/\(backgroundID)", headers: Self.keyA)
        XCTAssertEqual(afterReset.status, 404, "reset clears the stored responses")
    }

    func testPreviousResponseIDContinuesTheConversation() async throws {
        let mock = try MockClient()
        let first = try await create(mock, ["model": "m", "input": "first question"]).object()
        let firstID = try XCTUnwrap(first["id"] as? String)
        let second = try await create(mock, ["model": "m", "input": "second one",
                                             "previous_response_id": firstID]).object()
        XCTAssertEqual(second["previous_response_id"] as? String, firstID)
        XCTAssertEqual(try outputText(XCTUnwrap(items(second).first)), "Echo: second one")
        // "first question" 2 + 3, "Echo: first question" 3 + 3, "second one" 2 + 3.
        XCTAssertEqual((second["usage"] as? [String: Any])?["input_tokens"] as? Int, 16)

        let afterCall = try await create(mock, ["model": "m", "tools": [Self.weatherTool], "input": "weather?"])
            .object()
        let call = try XCTUnwrap(items(afterCall).first)
        let answered = try await create(mock, [
            "model": "m", "tools": [Self.weatherTool], "previous_response_id": afterCall["id"]!,
            "input": [["type": "function_call_output", "call_id": call["call_id"]!, "output": "rainy"]],
        ]).object()
        XCTAssertEqual(try outputText(XCTUnwrap(items(answered).first)), "Echo: rainy")

        let unknown = try await create(mock, ["model": "m", "input": "x", "previous_response_id": "resp_nope"])
        XCTAssertEqual(unknown.status, 400)
        XCTAssertEqual(try unknown.object() as NSDictionary, ["error": [
            "message": "Previous response with id 'resp_nope' not found.", "type": "invalid_request_error",
            "param": "previous_response_id", "code": "previous_response_not_found",
        ]] as NSDictionary)
    }

    func testStoredResponsesBelongToTheKeyThatCreatedThem() async throws {
        let mock = try MockClient()
        let created = try await create(mock, ["model": "m", "input": "mine"]).object()
        let id = try XCTUnwrap(created["id"] as? String)
        for path in ["/v1/responses/\(id)", "/v1/responses/\(id)/input_items"] {
            let other = try await mock.get(path, headers: Self.keyB)
            XCTAssertEqual(other.status, 404, path)
        }
        let otherDelete = try await mock.send("DELETE", "/v1/responses/\(id)", body: nil, headers: Self.keyB)
        XCTAssertEqual(otherDelete.status, 404)
        let otherContinue = try await create(mock, ["model": "m", "input": "x", "previous_response_id": id],
                                             headers: Self.keyB)
        XCTAssertEqual(otherContinue.status, 400)
        let own = try await mock.get("/v1/responses/\(id)", headers: Self.keyA)
        XCTAssertEqual(own.status, 200, "the other key's attempts changed nothing")
    }

    // MARK: Azure and errors

    func testAzureServesBothURLForms() async throws {
        let mock = try MockClient(options: MockProviderOptions(apiKey: "az-key"))
        let azure = ["api-key": "az-key"]
        let v1 = try await mock.post("/openai/v1/responses", ["model": "gpt-4o-prod", "input": "hi"], headers: azure)
        XCTAssertEqual(v1.status, 200)
        XCTAssertEqual(try v1.object()["model"] as? String, "gpt-4o-prod")
        let versioned = try await mock.post("/openai/v1/responses?api-version=preview", ["model": "d", "input": "hi"],
                                            headers: azure)
        XCTAssertEqual(versioned.status, 200)

        let deployment = try await mock.post("/openai/deployments/gpt-4o-prod/responses?api-version=2025-04-01-preview",
                                             ["input": "hi there"], headers: azure)
        XCTAssertEqual(deployment.status, 200)
        let object = try deployment.object()
        XCTAssertEqual(object["model"] as? String, "gpt-4o-prod", "the deployment names the model")
        XCTAssertEqual(try outputText(XCTUnwrap(items(object).first)), "Echo: hi there")
        let id = try XCTUnwrap(object["id"] as? String)
        let fetched = try await mock.get("/openai/v1/responses/\(id)", headers: azure)
        XCTAssertEqual(fetched.status, 200)

        let unversioned = try await mock.post("/openai/deployments/gpt-4o-prod/responses", ["input": "x"],
                                              headers: azure)
        XCTAssertEqual(unversioned.status, 404)
        XCTAssertEqual(try unversioned.error()["message"] as? String, "Resource not found")
        let wrongKey = try await mock.post("/openai/v1/responses", ["model": "d", "input": "x"],
                                           headers: ["api-key": "nope"])
        XCTAssertEqual(wrongKey.status, 401)
        XCTAssertEqual(try wrongKey.error()["code"] as? String, "401")
        let throttled = try await mock.post("/openai/deployments/d@status=429/responses?api-version=v1",
                                            ["input": "x"], headers: azure)
        XCTAssertEqual(throttled.status, 429)
        XCTAssertEqual(throttled.header("retry-after"), "1")

        let stats = try await mock.get("/_mock/stats").object()
        XCTAssertEqual((stats["by_api"] as? [String: Int])?["azure"], 7)
        XCTAssertEqual((stats["by_model"] as? [String: Int])?["gpt-4o-prod"], 3)
        XCTAssertEqual((stats["by_path"] as? [String: Int])?["/openai/v1/responses"], 3)
    }

    func testOpenAIErrorsForBadRequests() async throws {
        let mock = try MockClient(options: MockProviderOptions(apiKey: "key-a"))
        let unknown = try await create(mock, ["model": "m", "input": "x", "foo": 1])
        XCTAssertEqual(unknown.status, 400)
        XCTAssertEqual(try unknown.object() as NSDictionary, ["error": [
            "message": "Unknown parameter: 'foo'.", "type": "invalid_request_error", "param": "foo",
            "code": "unknown_parameter",
        ]] as NSDictionary)

        let noModel = try await create(mock, ["input": "x"])
        XCTAssertEqual(noModel.status, 400)
        XCTAssertEqual(try noModel.error()["code"] as? String, "missing_required_parameter")
        let badRole = try await create(mock, ["model": "m", "input": [["role": "robot", "content": "x"]]])
        XCTAssertEqual(try badRole.error()["param"] as? String, "input[0].role")
        let tooFew = try await create(mock, ["model": "m", "input": "x", "max_output_tokens": 10])
        XCTAssertEqual(try tooFew.error()["code"] as? String, "integer_below_min_value")
        let wrongKey = try await create(mock, ["model": "m", "input": "x"], headers: Self.keyB)
        XCTAssertEqual(wrongKey.status, 401)
        XCTAssertEqual(try wrongKey.error()["code"] as? String, "invalid_api_key")
        let badPath = try await mock.get("/v1/responses/resp_x/nothing", headers: Self.keyA)
        XCTAssertEqual(badPath.status, 404)
        XCTAssertEqual(try badPath.error()["message"] as? String, "Invalid URL (GET /v1/responses/resp_x/nothing)")
    }

    /// The events of a Responses stream: each `event:` line's name and its `data:` object.
    private func namedEvents(_ text: String) throws -> [(name: String, data: [String: Any])] {
        var events: [(name: String, data: [String: Any])] = []
        var name: String?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("event: ") {
                name = String(line.dropFirst(7))
            } else if line.hasPrefix("data: ") {
                events.append((try XCTUnwrap(name, "every data line follows an event line"),
                               try jsonObject(String(line.dropFirst(6)))))
                name = nil
            }
        }
        return events
    }
}
