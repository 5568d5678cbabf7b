import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SluiceMockProvider
import XCTest

/// The mock provider's Anthropic Messages surface (`/v1/messages`), driven over loopback
/// HTTP like `MockProviderTests`: JSON answers, named stream events, tool use, Anthropic's
/// validation and error shapes, and its faults.
final class MockProviderAnthropicTests: XCTestCase {
    private static let version = ["anthropic-version": "2023-06-01"]

    private func messages(_ mock: MockClient, _ body: [String: Any],
                          headers: [String: String] = MockProviderAnthropicTests.version) async throws -> MockResponse {
        try await mock.post("/v1/messages", body, headers: headers)
    }

    // MARK: Answers

    func testMessageEchoesLastUserTurnWithUsageAndRequestID() async throws {
        let mock = try MockClient(options: MockProviderOptions(apiKey: "ant-key"))
        let response = try await messages(mock, [
            "model": "claude-test", "max_tokens": 100, "system": "be brief",
            "messages": [
                ["role": "user", "content": "first question"],
                ["role": "assistant", "content": "an answer"],
                ["role": "user", "content": [["type": "text", "text": "hello"], ["type": "text", "text": "mock world"]]],
            ],
        ], headers: ["x-api-key": "ant-key", "anthropic-version": "2023-06-01"])
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("content-type"), "application/json")
        let requestID = try XCTUnwrap(response.header("request-id"))
        XCTAssertTrue(requestID.hasPrefix("req_"))
        let object = try response.object()
        XCTAssertEqual(object["type"] as? String, "message")
        XCTAssertEqual(object["role"] as? String, "assistant")
        XCTAssertEqual(object["model"] as? String, "claude-test")
        XCTAssertTrue((object["id"] as? String ?? "").hasPrefix("msg_"))
        XCTAssertEqual(object["stop_reason"] as? String, "end_turn")
        XCTAssertTrue(object["stop_sequence"] is NSNull)
        let content = try XCTUnwrap(object["content"] as? [[String: Any]])
        XCTAssertEqual(content.count, 1)
        XCTAssertEqual(content[0]["type"] as? String, "text")
        XCTAssertEqual(content[0]["text"] as? String, "Echo: hello mock world")
        // system 2 + 3, then 2 + 3, 2 + 3, 3 + 3 per message: the OpenAI rule, system included.
        XCTAssertEqual(object["usage"] as? NSDictionary, [
            "input_tokens": 21, "output_tokens": 4, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
        ] as NSDictionary)

        let stats = try await mock.get("/_mock/stats").object()
        let last = try XCTUnwrap(stats["last_request"] as? [String: Any])
        let headers = try XCTUnwrap(last["headers"] as? [String: String])
        XCTAssertEqual(headers["x-api-key"], "ant-key")
        XCTAssertEqual(headers["anthropic-version"], "2023-06-01")
        XCTAssertEqual(last["api"] as? String, "anthropic")
    }

    func testMaxTokensAndStopSequencesEndTheAnswer() async throws {
        let mock = try MockClient()
        func answer(_ extra: [String: Any]) async throws -> [String: Any] {
            var body: [String: Any] = ["model": "c", "max_tokens": 10,
                                       "messages": [["role": "user", "content": "one two three four"]]]
            body.merge(extra) { $1 }
            return try await messages(mock, body).object()
        }
        func text(_ object: [String: Any]) -> String? {
            (object["content"] as? [[String: Any]])?.first?["text"] as? String
        }
        let cut = try await answer(["max_tokens": 2])
        XCTAssertEqual(text(cut), "Echo: one")
        XCTAssertEqual(cut["stop_reason"] as? String, "max_tokens")
        XCTAssertEqual((cut["usage"] as? [String: Any])?["output_tokens"] as? Int, 2)

        let stopped = try await answer(["stop_sequences": ["four", "three"]])
        XCTAssertEqual(text(stopped), "Echo: one two ", "cut before the earliest stop sequence")
        XCTAssertEqual(stopped["stop_reason"] as? String, "stop_sequence")
        XCTAssertEqual(stopped["stop_sequence"] as? String, "three")
        XCTAssertEqual((stopped["usage"] as? [String: Any])?["output_tokens"] as? Int, 3)

        let limitFirst = try await answer(["stop_sequences": ["three"], "max_tokens": 3])
        XCTAssertEqual(text(limitFirst), "Echo: one two")
        XCTAssertEqual(limitFirst["stop_reason"] as? String, "max_tokens")
        XCTAssertTrue(limitFirst["stop_sequence"] is NSNull)

        let absent = try await answer(["stop_sequences": ["five"]])
        XCTAssertEqual(absent["stop_reason"] as? String, "end_turn")
    }

    func testStreamSendsAnthropicsNamedEventsInOrder() async throws {
        let mock = try MockClient()
        let response = try await messages(mock, [
            "model": "claude-stream", "max_tokens": 50, "stream": true,
            "messages": [["role": "user", "content": "hi there"]],
        ])
        XCTAssertEqual(response.status, 200)
        XCTAssertTrue(response.header("content-type")?.hasPrefix("text/event-stream") ?? false)
        let events = try namedEvents(response.text)
        XCTAssertEqual(events.map(\.name), [
            "message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
            "content_block_delta", "content_block_stop", "message_delta", "message_stop",
        ])
        for event in events {
            XCTAssertEqual(event.data["type"] as? String, event.name, "each event's data carries its name as type")
        }
        let start = try XCTUnwrap(events[0].data["message"] as? [String: Any])
        XCTAssertEqual(start["model"] as? String, "claude-stream")
        XCTAssertEqual((start["content"] as? [Any])?.count, 0)
        XCTAssertTrue(start["stop_reason"] is NSNull)
        XCTAssertEqual((start["usage"] as? [String: Any])?["input_tokens"] as? Int, 5)
        XCTAssertEqual((start["usage"] as? [String: Any])?["output_tokens"] as? Int, 1)
        XCTAssertEqual(events[1].data["index"] as? Int, 0)
        XCTAssertEqual(events[1].data["content_block"] as? NSDictionary, ["type": "text", "text": ""] as NSDictionary)

        let deltas = events.filter { $0.name == "content_block_delta" }.compactMap { $0.data["delta"] as? [String: Any] }
        XCTAssertTrue(deltas.allSatisfy { $0["type"] as? String == "text_delta" })
        XCTAssertEqual(deltas.compactMap { $0["text"] as? String }, ["Echo: ", "hi ", "there"])

        let delta = events[7].data
        XCTAssertEqual(delta["delta"] as? NSDictionary,
                       ["stop_reason": "end_turn", "stop_sequence": NSNull()] as NSDictionary)
        XCTAssertEqual((delta["usage"] as? [String: Any])?["output_tokens"] as? Int, 3, "cumulative")
    }

    func testStreamStoppedBySequenceReportsIt() async throws {
        let mock = try MockClient()
        let response = try await messages(mock, [
            "model": "c", "max_tokens": 50, "stream": true, "stop_sequences": ["world"],
            "messages": [["role": "user", "content": "hello big world"]],
        ])
        let events = try namedEvents(response.text)
        let texts = events.compactMap { ($0.data["delta"] as? [String: Any])?["text"] as? String }
        XCTAssertEqual(texts.joined(), "Echo: hello big ")
        let delta = try XCTUnwrap(events.first { $0.name == "message_delta" }?.data["delta"] as? [String: Any])
        XCTAssertEqual(delta["stop_reason"] as? String, "stop_sequence")
        XCTAssertEqual(delta["stop_sequence"] as? String, "world")
    }

    // MARK: Tool use

    func testToolsAndWeatherGiveAToolUseBlock() async throws {
        let mock = try MockClient()
        let tools: [[String: Any]] = [
            ["name": "get_weather", "description": "Weather", "input_schema": ["type": "object"]],
            ["name": "get_time", "input_schema": ["type": "object"]],
        ]
        let object = try await messages(mock, [
            "model": "c", "max_tokens": 100, "tools": tools,
            "messages": [["role": "user", "content": "What is the weather like?"]],
        ]).object()
        XCTAssertEqual(object["stop_reason"] as? String, "tool_use")
        let block = try XCTUnwrap((object["content"] as? [[String: Any]])?.first)
        XCTAssertEqual(block["type"] as? String, "tool_use")
        XCTAssertTrue((block["id"] as? String ?? "").hasPrefix("toolu_"))
        XCTAssertEqual(block["name"] as? String, "get_weather")
        XCTAssertEqual(block["input"] as? NSDictionary, ["location": "Paris"] as NSDictionary)
        XCTAssertEqual((object["usage"] as? [String: Any])?["output_tokens"] as? Int, 2)

        let forced = try await messages(mock, [
            "model": "c", "max_tokens": 100, "tools": tools, "tool_choice": ["type": "tool", "name": "get_time"],
            "messages": [["role": "user", "content": "hello"]],
        ]).object()
        XCTAssertEqual((forced["content"] as? [[String: Any]])?.first?["name"] as? String, "get_time",
                       "a forced tool is used whatever the prompt")
        let anyTool = try await messages(mock, [
            "model": "c", "max_tokens": 100, "tools": tools, "tool_choice": ["type": "any"],
            "messages": [["role": "user", "content": "hello"]],
        ]).object()
        XCTAssertEqual(anyTool["stop_reason"] as? String, "tool_use")
        let noTool = try await messages(mock, [
            "model": "c", "max_tokens": 100, "tools": tools, "tool_choice": ["type": "none"],
            "messages": [["role": "user", "content": "weather please"]],
        ]).object()
        XCTAssertEqual(noTool["stop_reason"] as? String, "end_turn")
        let plain = try await messages(mock, [
            "model": "c", "max_tokens": 100, "tools": tools, "messages": [["role": "user", "content": "hello"]],
        ]).object()
        XCTAssertEqual(plain["stop_reason"] as? String, "end_turn", "auto without 'weather' answers text, as for OpenAI")
    }

    func testParallelToolUseStreamIndexesEachBlock() async throws {
        let mock = try MockClient()
        let response = try await messages(mock, [
            "model": "c@tools=2", "max_tokens": 100, "stream": true,
            "tools": [["name": "get_weather", "input_schema": ["type": "object"]],
                      ["name": "get_time", "input_schema": ["type": "object"]]],
            "messages": [["role": "user", "content": "weather in two cities"]],
        ])
        let events = try namedEvents(response.text)
        let starts = events.filter { $0.name == "content_block_start" }
        XCTAssertEqual(starts.compactMap { $0.data["index"] as? Int }, [0, 1])
        let blocks = starts.compactMap { $0.data["content_block"] as? [String: Any] }
        XCTAssertEqual(blocks.compactMap { $0["name"] as? String }, ["get_weather", "get_time"])
        XCTAssertTrue(blocks.allSatisfy { $0["type"] as? String == "tool_use" && ($0["input"] as? [String: Any])?.isEmpty == true })
        XCTAssertNotEqual(blocks[0]["id"] as? String, blocks[1]["id"] as? String)

        for (index, city) in ["Paris", "London"].enumerated() {
            let pieces = events.filter { $0.name == "content_block_delta" && $0.data["index"] as? Int == index }
                .compactMap { $0.data["delta"] as? [String: Any] }
            XCTAssertTrue(pieces.allSatisfy { $0["type"] as? String == "input_json_delta" })
            let json = pieces.compactMap { $0["partial_json"] as? String }.joined()
            XCTAssertEqual(try jsonObject(json) as NSDictionary, ["location": city] as NSDictionary)
        }
        XCTAssertEqual(events.filter { $0.name == "content_block_stop" }.compactMap { $0.data["index"] as? Int }, [0, 1])
        let delta = try XCTUnwrap(events.first { $0.name == "message_delta" }?.data)
        XCTAssertEqual((delta["delta"] as? [String: Any])?["stop_reason"] as? String, "tool_use")
        XCTAssertEqual((delta["usage"] as? [String: Any])?["output_tokens"] as? Int, 4)
        XCTAssertEqual(events.last?.name, "message_stop")
    }

    // MARK: Validation, auth and faults

    func testValidationErrorsUseAnthropicsShapeAndMessages() async throws {
        let mock = try MockClient()
        let user: [String: Any] = ["role": "user", "content": "hi"]
        func expect(_ body: [String: Any], _ message: String, headers: [String: String] = Self.version,
                    line: UInt = #line) async throws {
            let response = try await messages(mock, body, headers: headers)
            XCTAssertEqual(response.status, 400, message, line: line)
            let object = try response.object()
            XCTAssertEqual(object["type"] as? String, "error", line: line)
            XCTAssertTrue((object["request_id"] as? String ?? "").hasPrefix("req_"), line: line)
            let error = try XCTUnwrap(object["error"] as? [String: Any])
            XCTAssertEqual(error["type"] as? String, "invalid_request_error", line: line)
            XCTAssertEqual(error["message"] as? String, message, line: line)
        }
        let valid: [String: Any] = ["model": "c", "max_tokens": 5, "messages": [user]]
        func with(_ change: [String: Any]) -> [String: Any] { valid.merging(change) { $1 } }

        try await expect(valid, "anthropic-version: header is required", headers: [:])
        try await expect(["max_tokens": 5, "messages": [user]], "model: Field required")
        try await expect(["model": "c", "messages": [user]], "max_tokens: Field required")
        try await expect(with(["max_tokens": 0]), "max_tokens: Input should be greater than or equal to 1")
        try await expect(with(["messages": [Any]()]), "messages: at least one message is required")
        try await expect(with(["messages": [["role": "assistant", "content": "hi"], user]]),
                         #"messages: first message must use the "user" role"#)
        try await expect(with(["messages": [["role": "system", "content": "hi"]]]),
                         "messages.0.role: Input should be 'user' or 'assistant'")
        try await expect(with(["messages": [["role": "user", "content": ""]]]),
                         "messages.0: all messages must have non-empty content except for the optional final assistant message")
        try await expect(with(["messages": [["role": "user", "content": [["type": "text", "text": ""]]]]]),
                         "messages: text content blocks must be non-empty")
        try await expect(with(["messages": [user, ["role": "assistant", "content": "Sure "]]]),
                         "messages: final assistant content cannot end with trailing whitespace")
        try await expect(with(["temperature": 1.5]), "temperature: Input should be less than or equal to 1")
        try await expect(with(["n": 2]), "n: Extra inputs are not permitted")
        try await expect(with(["stream_options": ["include_usage": true]]),
                         "stream_options: Extra inputs are not permitted")
        try await expect(with(["tools": [["name": "t"]]]), "tools.0.input_schema: Field required")
        try await expect(with(["tool_choice": ["type": "auto"]]), "tool_choice may only be specified while providing tools")

        let image = try await messages(mock, with(["messages": [["role": "user", "content": [
            ["type": "image_url", "image_url": ["url": "https://x"]],
        ]]]]))
        XCTAssertEqual(image.status, 400)
        XCTAssertTrue((try image.error()["message"] as? String ?? "").hasPrefix("messages.0.content.0: Input tag 'image_url'"))

        // Consecutive user turns are merged by Anthropic, not refused; a final assistant
        // turn is a prefill; tool turns and image blocks pass.
        let accepted = try await messages(mock, with(["messages": [
            user, ["role": "user", "content": [["type": "image", "source": ["type": "url", "url": "https://x/y.png"]],
                                               ["type": "text", "text": "and this"]]],
            ["role": "assistant", "content": [["type": "tool_use", "id": "toolu_1", "name": "t", "input": [:]]]],
            ["role": "user", "content": [["type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"]]],
            ["role": "assistant", "content": "The answer is"],
        ]]))
        XCTAssertEqual(accepted.status, 200)
        XCTAssertEqual(try accepted.object()["stop_reason"] as? String, "end_turn")
    }

    func testAPIKeyIsCheckedInXAPIKey() async throws {
        let mock = try MockClient(options: MockProviderOptions(apiKey: "ant-key"))
        let body: [String: Any] = ["model": "c", "max_tokens": 5, "messages": [["role": "user", "content": "x"]]]
        let cases: [([String: String], String)] = [
            (Self.version, "x-api-key header is required"),
            (["anthropic-version": "2023-06-01", "Authorization": "Bearer ant-key"], "x-api-key header is required"),
            (["anthropic-version": "2023-06-01", "x-api-key": "wrong"], "invalid x-api-key"),
        ]
        for (headers, message) in cases {
            let response = try await messages(mock, body, headers: headers)
            XCTAssertEqual(response.status, 401)
            XCTAssertEqual(try response.error() as NSDictionary,
                           ["type": "authentication_error", "message": message] as NSDictionary)
        }
        let ok = try await messages(mock, body, headers: ["anthropic-version": "2023-06-01", "x-api-key": "ant-key"])
        XCTAssertEqual(ok.status, 200)
    }

    func testStatusFaultsBecomeAnthropicErrorTypes() async throws {
        let mock = try MockClient()
        func fault(_ model: String) async throws -> MockResponse {
            try await messages(mock, ["model": model, "max_tokens": 5, "messages": [["role": "user", "content": "x"]]])
        }
        let expected: [(String, Int, String)] = [
            ("c@status=429,retry_after=7", 429, "rate_limit_error"),
            ("c@status=529", 529, "overloaded_error"),
            ("c@status=500", 500, "api_error"),
            ("c@status=503", 503, "api_error"),
            ("c@status=400", 400, "invalid_request_error"),
            ("c@status=401", 401, "authentication_error"),
            ("c@status=403", 403, "permission_error"),
            ("c@status=404", 404, "not_found_error"),
            ("c@status=413", 413, "request_too_large"),
            ("c@quota=1", 400, "invalid_request_error"),
        ]
        for (model, status, type) in expected {
            let response = try await fault(model)
            XCTAssertEqual(response.status, status, model)
            XCTAssertEqual(try response.object()["type"] as? String, "error", model)
            XCTAssertEqual(try response.error()["type"] as? String, type, model)
            XCTAssertNotNil(response.header("request-id"), model)
        }
        let limited = try await fault("c@status=429,retry_after=7")
        XCTAssertEqual(limited.header("retry-after"), "7")
        let overloaded = try await fault("c@status=529")
        XCTAssertEqual(try overloaded.error()["message"] as? String, "Overloaded")
        let broke = try await fault("c@quota=1")
        XCTAssertTrue((try broke.error()["message"] as? String ?? "").contains("credit balance"))

        _ = try await mock.setFault(model: "claude-down", "status=529")
        let down = try await fault("claude-down")
        XCTAssertEqual(down.status, 529, "runtime faults apply to Anthropic models too")
    }

    func testStreamErrorFaultSendsAnErrorEventAndNoMessageStop() async throws {
        let mock = try MockClient()
        let response = try await messages(mock, [
            "model": "c@stream_error=2", "max_tokens": 50, "stream": true,
            "messages": [["role": "user", "content": "one two three four"]],
        ])
        XCTAssertEqual(response.status, 200)
        let events = try namedEvents(response.text)
        XCTAssertEqual(events.map(\.name), [
            "message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta", "error",
        ])
        XCTAssertEqual(events.last?.data as? NSDictionary, [
            "type": "error", "error": ["type": "overloaded_error", "message": "Overloaded"],
        ] as NSDictionary)
    }

    func testDropFaultCutsTheStreamWithoutMessageStop() async throws {
        let mock = try MockClient()
        let body = #"{"model":"c@drop=2","max_tokens":50,"stream":true,"#
            + #""messages":[{"role":"user","content":"one two three"}]}"#
        let connection = try RawConnection(port: mock.port)
        try connection.send(rawPost("/v1/messages", body: body).replacingOccurrences(
            of: "Connection: close\r\n", with: "Connection: close\r\nanthropic-version: 2023-06-01\r\n"))
        let raw = String(decoding: connection.readToEnd(), as: UTF8.self)
        XCTAssertTrue(raw.contains("event: content_block_delta"))
        XCTAssertEqual(raw.components(separatedBy: "event: content_block_delta").count - 1, 2)
        XCTAssertFalse(raw.contains("message_stop"))
        XCTAssertFalse(raw.hasSuffix("0\r\n\r\n"), "no chunked terminator: the connection was cut")
        let stats = try await mock.get("/_mock/stats").object()
        XCTAssertEqual(stats["streams_dropped"] as? Int, 1)
    }

    func testCountTokensAndPathsWithoutV1() async throws {
        let mock = try MockClient()
        let counted = try await mock.post("/v1/messages/count_tokens", [
            "model": "c", "system": "be brief", "messages": [["role": "user", "content": "count these words"]],
        ], headers: Self.version)
        XCTAssertEqual(counted.status, 200)
        XCTAssertEqual(try counted.object() as NSDictionary, ["input_tokens": 5 + 6] as NSDictionary)

        let bare = try await mock.post("/messages", [
            "model": "c", "max_tokens": 5, "messages": [["role": "user", "content": "x"]],
        ], headers: Self.version)
        XCTAssertEqual(bare.status, 200)
        XCTAssertEqual(try bare.object()["type"] as? String, "message")

        let wrongMethod = try await mock.get("/v1/messages", headers: Self.version)
        XCTAssertEqual(wrongMethod.status, 404)
        XCTAssertEqual(try wrongMethod.error()["type"] as? String, "not_found_error")

        let stats = try await mock.get("/_mock/stats").object()
        XCTAssertEqual((stats["by_api"] as? [String: Int])?["anthropic"], 3)
        XCTAssertEqual((stats["by_api"] as? [String: Int])?["openai"], 0)
        XCTAssertEqual((stats["by_model"] as? [String: Int])?["c"], 2)
    }
}

/// The events of an Anthropic stream: each `event:` name with its `data:` as an object.
func namedEvents(_ text: String) throws -> [(name: String, data: [String: Any])] {
    var events: [(name: String, data: [String: Any])] = []
    var name: String?
    for scalars in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: true) {
        let line = String(String.UnicodeScalarView(scalars))
        if line.hasPrefix("event: ") {
            name = String(line.dropFirst(7))
        } else if line.hasPrefix("data: ") {
            let eventName = try XCTUnwrap(name, "every data line follows an event line")
            events.append((eventName, try jsonObject(String(line.dropFirst(6)))))
            name = nil
        }
    }
    return events
}
