import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SluiceCore
import SluiceMockProvider
import SluiceProviders
import XCTest

/// The mock provider's Amazon Bedrock Runtime paths: Converse, ConverseStream's event
/// stream and InvokeModel embeddings, driven on a real `MockProviderServer`. Signatures
/// and errors are in `MockProviderBedrockAuthTests`.
final class MockProviderBedrockTests: XCTestCase {
    private let model = "anthropic.claude-3-5-sonnet-20240620-v1:0"
    private let weatherTool: [String: Any] = [
        "tools": [["toolSpec": ["name": "get_weather", "inputSchema": ["json": ["type": "object"]]]]],
    ]

    private func user(_ text: String) -> [[String: Any]] {
        [["role": "user", "content": [["text": text]]]]
    }

    // MARK: Converse

    func testConverseEchoesTheLastUserMessage() async throws {
        let mock = try MockClient()
        let response = try await mock.bedrock(model, "converse", [
            "system": [["text": "be brief"]],
            "messages": [
                ["role": "user", "content": [["text": "first question"]]],
                ["role": "assistant", "content": [["text": "an answer"]]],
                ["role": "user", "content": [["text": "hello"], ["text": "mock world"]]],
            ],
            "inferenceConfig": ["temperature": 0.5, "topP": 1],
        ])
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("content-type"), "application/json")
        XCTAssertNotNil(response.header("x-amzn-RequestId"))
        let object = try response.object()
        XCTAssertEqual(object.keys.sorted(), ["metrics", "output", "stopReason", "usage"])
        let message = try XCTUnwrap((object["output"] as? [String: Any])?["message"] as? [String: Any])
        XCTAssertEqual(message["role"] as? String, "assistant")
        XCTAssertEqual(message["content"] as? [[String: String]], [["text": "Echo: hello mock world"]])
        XCTAssertEqual(object["stopReason"] as? String, "end_turn")
        // 2 (system) + 2 + 2 + 3 words, plus 3 per message.
        XCTAssertEqual(object["usage"] as? [String: Int], ["inputTokens": 18, "outputTokens": 4, "totalTokens": 22])
        XCTAssertEqual(object["metrics"] as? [String: Int], ["latencyMs": 0])
        let stats = try await mock.stats()
        XCTAssertEqual(stats["by_model"] as? [String: Int], [model: 1], "the decoded model id of the path")
    }

    func testConverseMaxTokensStopSequencesAndWordsFault() async throws {
        let mock = try MockClient()
        let cut = try await mock.bedrock(model, "converse", [
            "messages": user("one two three"), "inferenceConfig": ["maxTokens": 2],
        ]).object()
        XCTAssertEqual(cut["stopReason"] as? String, "max_tokens")
        XCTAssertEqual(text(of: cut), "Echo: one")

        let stopped = try await mock.bedrock(model, "converse", [
            "messages": user("one two three"), "inferenceConfig": ["stopSequences": ["END", "thr"]],
        ]).object()
        XCTAssertEqual(stopped["stopReason"] as? String, "stop_sequence")
        XCTAssertEqual(text(of: stopped), "Echo: one two")

        let long = try await mock.bedrock(model + "@words=5", "converse", ["messages": user("a b")]).object()
        XCTAssertEqual(text(of: long), "Echo: a b Echo: a")
    }

    func testConverseToolUseAndTheToolResultTurn() async throws {
        let mock = try MockClient()
        let called = try await mock.bedrock(model, "converse", [
            "messages": user("What is the weather in Paris?"), "toolConfig": weatherTool,
        ]).object()
        XCTAssertEqual(called["stopReason"] as? String, "tool_use")
        let message = try XCTUnwrap((called["output"] as? [String: Any])?["message"] as? [String: Any])
        let toolUse = try XCTUnwrap((message["content"] as? [[String: Any]])?.first?["toolUse"] as? [String: Any])
        XCTAssertEqual(toolUse["name"] as? String, "get_weather")
        XCTAssertEqual(toolUse["input"] as? [String: String], ["location": "Paris"])
        let id = try XCTUnwrap(toolUse["toolUseId"] as? String)
        XCTAssertTrue(id.hasPrefix("tooluse_"))

        let answered = try await mock.bedrock(model, "converse", [
            "messages": user("What is the weather in Paris?") + [
                message,
                ["role": "user", "content": [["toolResult": ["toolUseId": id, "content": [["text": "sunny, 24 C"]]]]]],
            ],
            "toolConfig": weatherTool,
        ]).object()
        XCTAssertEqual(answered["stopReason"] as? String, "end_turn")
        XCTAssertEqual(text(of: answered), "Echo: sunny, 24 C")

        let forced = try await mock.bedrock(model, "converse", [
            "messages": user("no trigger word"),
            "toolConfig": weatherTool.merging(["toolChoice": ["tool": ["name": "get_weather"]]]) { $1 },
        ]).object()
        XCTAssertEqual(forced["stopReason"] as? String, "tool_use", "toolChoice.tool forces the call")
    }

    func testConverseRefusesWhatBedrockRefuses() async throws {
        let mock = try MockClient()
        let cases: [([String: Any], String)] = [
            (["messages": [["role": "system", "content": [["text": "x"]]]]],
             "Value 'system' at 'messages.1.member.role' failed to satisfy constraint"),
            (["messages": [["role": "assistant", "content": [["text": "x"]]]]], "A conversation must start with a user message"),
            (["messages": user("a") + user("b")], "A conversation must alternate between user and assistant roles"),
            (["messages": [["role": "user", "content": []]]], "The content field in the Message object at messages.0.content is empty"),
            (["messages": user("x"), "inferenceConfig": ["maxTokens": 0]],
             "Value '0' at 'inferenceConfig.maxTokens' failed to satisfy constraint"),
            (["messages": [["role": "user", "content": [["toolResult": ["toolUseId": "t1", "content": [["text": "x"]]]]]]]],
             "The toolConfig field must be defined when using toolUse and toolResult content blocks."),
            (["messages": [["role": "user", "content": [["text": "x", "image": ["format": "png"]]]]]],
             "must set exactly one of"),
            (["messages": user("x"), "toolConfig": ["tools": []]], "toolConfig.tools"),
        ]
        for (body, expected) in cases {
            let response = try await mock.bedrock(model, "converse", body)
            XCTAssertEqual(response.status, 400, expected)
            let error = try bedrockError(response)
            XCTAssertEqual(error.type, "ValidationException")
            XCTAssertTrue(error.message.contains(expected), "\(error.message) should contain \(expected)")
        }
    }

    // MARK: ConverseStream

    func testConverseStreamSendsBedrocksEventsInOrder() async throws {
        let mock = try MockClient()
        let response = try await mock.bedrock(model, "converse-stream", ["messages": user("stream these words")])
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("content-type"), "application/vnd.amazon.eventstream")
        let decoded = eventStreamMessages(response.body)
        XCTAssertNil(decoded.failure)
        XCTAssertEqual(decoded.leftover, 0)
        let messages = decoded.messages
        XCTAssertEqual(messages.map { $0.header(":event-type") }, ["messageStart"] + Array(repeating: "contentBlockDelta", count: 4)
            + ["contentBlockStop", "messageStop", "metadata"])
        for message in messages {
            XCTAssertEqual(message.header(":message-type"), "event")
            XCTAssertEqual(message.header(":content-type"), "application/json")
            XCTAssertNotNil(try payload(message)["p"] as? String, "Bedrock pads every payload with a `p` member")
        }
        XCTAssertEqual(try payload(messages[0])["role"] as? String, "assistant")
        let deltas = try messages[1...4].map { try payload($0) }
        XCTAssertEqual(deltas.compactMap { $0["contentBlockIndex"] as? Int }, [0, 0, 0, 0])
        XCTAssertEqual(deltas.compactMap { ($0["delta"] as? [String: String])?["text"] }.joined(), "Echo: stream these words")
        XCTAssertEqual(try payload(messages[5])["contentBlockIndex"] as? Int, 0)
        XCTAssertEqual(try payload(messages[6])["stopReason"] as? String, "end_turn")
        let metadata = try payload(messages[7])
        XCTAssertEqual(metadata["usage"] as? [String: Int], ["inputTokens": 6, "outputTokens": 4, "totalTokens": 10])
        XCTAssertNotNil((metadata["metrics"] as? [String: Any])?["latencyMs"] as? Int)
        let stats = try await mock.stats()
        XCTAssertEqual(stats["streams_completed"] as? Int, 1)
    }

    func testConverseStreamParallelToolUseKeepsBlockIndices() async throws {
        let mock = try MockClient()
        let response = try await mock.bedrock(model + "@tools=2", "converse-stream", [
            "messages": user("weather in Paris and London?"), "toolConfig": weatherTool,
        ])
        let messages = eventStreamMessages(response.body).messages
        XCTAssertEqual(messages.map { $0.header(":event-type") ?? "" }, ["messageStart",
            "contentBlockStart", "contentBlockDelta", "contentBlockDelta", "contentBlockStop",
            "contentBlockStart", "contentBlockDelta", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"])
        var inputs: [Int: String] = [:]
        var starts: [Int: [String: Any]] = [:]
        for message in messages {
            let object = try payload(message)
            let index = object["contentBlockIndex"] as? Int ?? -1
            if let start = (object["start"] as? [String: Any])?["toolUse"] as? [String: Any] { starts[index] = start }
            if let input = ((object["delta"] as? [String: Any])?["toolUse"] as? [String: String])?["input"] {
                inputs[index, default: ""] += input
            }
        }
        XCTAssertEqual(inputs, [0: #"{"location": "Paris"}"#, 1: #"{"location": "London"}"#])
        XCTAssertEqual(starts.keys.sorted(), [0, 1])
        XCTAssertEqual(starts.values.compactMap { $0["name"] as? String }, ["get_weather", "get_weather"])
        XCTAssertNotEqual(starts[0]?["toolUseId"] as? String, starts[1]?["toolUseId"] as? String)
        XCTAssertEqual(try payload(messages[9])["stopReason"] as? String, "tool_use")
    }

    func testStreamExceptionFaultsEndTheStreamWithAnExceptionMessage() async throws {
        let mock = try MockClient()
        let throttled = eventStreamMessages(try await mock.bedrock(model + "@stream_exception=throttlingException",
                                                                   "converse-stream", ["messages": user("a b c")]).body)
        XCTAssertNil(throttled.failure)
        XCTAssertEqual(throttled.messages.map { $0.header(":event-type") ?? "-" }, ["messageStart", "contentBlockDelta", "-"])
        let exception = try XCTUnwrap(throttled.messages.last)
        XCTAssertEqual(exception.header(":message-type"), "exception")
        XCTAssertEqual(exception.header(":exception-type"), "throttlingException")
        XCTAssertNotNil(try payload(exception)["message"] as? String)

        let early = eventStreamMessages(try await mock.bedrock(model + "@stream_error=0", "converse-stream",
                                                               ["messages": user("a b c")]).body).messages
        XCTAssertEqual(early.count, 2)
        XCTAssertEqual(early.last?.header(":exception-type"), "modelStreamErrorException")
        XCTAssertEqual(try payload(XCTUnwrap(early.last))["originalStatusCode"] as? Int, 500)
    }

    func testBadCRCFaultSpoilsOneMessage() async throws {
        let mock = try MockClient()
        let response = try await mock.bedrock(model + "@bad_crc=2", "converse-stream", ["messages": user("a b c")])
        let decoded = eventStreamMessages(response.body)
        XCTAssertEqual(decoded.failure?.kind, .messageChecksum)
        XCTAssertEqual(decoded.messages.map { $0.header(":event-type") }, ["messageStart"], "the framer stops at message 2")
    }

    func testDropCutsTheStreamWithoutMessageStop() async throws {
        let mock = try MockClient()
        let connection = try RawConnection(port: mock.port)
        let path = "/model/" + bedrockSegment(model + "@drop=2") + "/converse-stream"
        try connection.send(rawPost(path, body: #"{"messages": [{"role": "user", "content": [{"text": "a b c"}]}]}"#))
        let decoded = eventStreamMessages(dechunkedBody(connection.readToEnd()))
        XCTAssertNil(decoded.failure)
        XCTAssertEqual(decoded.messages.map { $0.header(":event-type") }, ["messageStart", "contentBlockDelta", "contentBlockDelta"])
        let stats = try await mock.stats()
        XCTAssertEqual(stats["streams_dropped"] as? Int, 1)
    }

    // MARK: InvokeModel embeddings

    func testTitanEmbeddings() async throws {
        let mock = try MockClient()
        let v1 = try await mock.bedrock("amazon.titan-embed-text-v1", "invoke", ["inputText": "hello world"])
        XCTAssertEqual(v1.status, 200)
        XCTAssertEqual(v1.header("X-Amzn-Bedrock-Input-Token-Count"), "2")
        let v1Body = try v1.object()
        XCTAssertEqual(v1Body.keys.sorted(), ["embedding", "inputTextTokenCount"])
        let v1Vector = try XCTUnwrap(v1Body["embedding"] as? [Double])
        XCTAssertEqual(v1Vector.count, 1536)
        XCTAssertEqual(norm(v1Vector), 1, accuracy: 1e-4)

        let v2 = try await mock.bedrock("amazon.titan-embed-text-v2:0", "invoke", [
            "inputText": "hello world", "dimensions": 256, "embeddingTypes": ["float", "binary"],
        ]).object()
        let vector = try XCTUnwrap(v2["embedding"] as? [Double])
        XCTAssertEqual(vector.count, 256)
        let byType = try XCTUnwrap(v2["embeddingsByType"] as? [String: Any])
        XCTAssertEqual(byType["float"] as? [Double], vector)
        XCTAssertEqual(byType["binary"] as? [Int], vector.map { $0 > 0 ? 1 : 0 })

        let raw = try await mock.bedrock("amazon.titan-embed-text-v2:0", "invoke", ["inputText": "hello world", "normalize": false])
        let rawVector = try XCTUnwrap(raw.object()["embedding"] as? [Double])
        XCTAssertEqual(rawVector.count, 1024)
        XCTAssertEqual(norm(rawVector), 3, accuracy: 1e-3, "unnormalized: 1 + the token count")
        let again = try await mock.bedrock("amazon.titan-embed-text-v2:0", "invoke", ["inputText": "hello world", "normalize": false])
        XCTAssertEqual(try again.object()["embedding"] as? [Double], rawVector, "deterministic")

        for (body, detail) in [(["inputText": "x", "dimensions": 300], "#/dimensions: 300 is not a valid enum value"),
                               (["text": "x"], "#: extraneous key [text] is not permitted"),
                               (["inputText": ""], "#/inputText: expected minLength: 1, actual: 0")] as [([String: Any], String)] {
            let refused = try await mock.bedrock("amazon.titan-embed-text-v2:0", "invoke", body)
            XCTAssertEqual(refused.status, 400)
            let error = try bedrockError(refused)
            XCTAssertEqual(error.type, "ValidationException")
            XCTAssertEqual(error.message, "Malformed input request: \(detail), please reformat your input and try again.")
        }
    }

    func testCohereEmbeddings() async throws {
        let mock = try MockClient()
        let floats = try await mock.bedrock("cohere.embed-english-v3", "invoke", [
            "texts": ["first text", "second"], "input_type": "search_document",
        ]).object()
        XCTAssertEqual(floats["response_type"] as? String, "embeddings_floats")
        XCTAssertEqual(floats["texts"] as? [String], ["first text", "second"])
        XCTAssertNotNil(floats["id"] as? String)
        let vectors = try XCTUnwrap(floats["embeddings"] as? [[Double]])
        XCTAssertEqual(vectors.map(\.count), [1024, 1024])
        XCTAssertNotEqual(vectors[0], vectors[1])

        let byType = try await mock.bedrock("cohere.embed-multilingual-v3", "invoke", [
            "texts": ["first text"], "input_type": "search_query", "embedding_types": ["float", "int8", "ubinary"],
        ]).object()
        XCTAssertEqual(byType["response_type"] as? String, "embeddings_by_type")
        let embeddings = try XCTUnwrap(byType["embeddings"] as? [String: Any])
        XCTAssertEqual((embeddings["float"] as? [[Double]])?.first, vectors[0], "same text, same vector")
        XCTAssertEqual((embeddings["int8"] as? [[Int]])?.first?.count, 1024)
        XCTAssertEqual((embeddings["ubinary"] as? [[Int]])?.first?.count, 128, "eight signs per byte")

        let missing = try await mock.bedrock("cohere.embed-english-v3", "invoke", ["texts": ["x"]])
        XCTAssertEqual(try bedrockError(missing).message,
                       "Malformed input request: #: required key [input_type] not found, please reformat your input and try again.")
    }

    func testInvokeServesOnlyTheEmbeddingsModels() async throws {
        let mock = try MockClient()
        let response = try await mock.bedrock("meta.llama3-8b-instruct-v1:0", "invoke", ["prompt": "x"])
        XCTAssertEqual(response.status, 400)
        XCTAssertEqual(try bedrockError(response).type, "ValidationException")
        let arn = try await mock.bedrock("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v1", "invoke",
                                         ["inputText": "x"])
        XCTAssertEqual(arn.status, 200, "a foundation-model ARN names its model after the last /")
    }

    private func text(of converse: [String: Any]) -> String? {
        let message = (converse["output"] as? [String: Any])?["message"] as? [String: Any]
        return (message?["content"] as? [[String: Any]])?.first?["text"] as? String
    }

    private func norm(_ vector: [Double]) -> Double {
        vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }
}
