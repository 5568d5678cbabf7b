import Foundation
import XCTest

/// Every provider kind behind a route, through real nginx, Redis and the pool, with the
/// mock provider speaking each provider's own wire format: the OpenAI-shaped client gets
/// the same answers, streams, tool calls, usage and errors from each.
final class ProviderKindsTests: SharedStackTestCase {
    nonisolated(unsafe) private static var cachedKey: String?

    /// Provider kinds under test, by route suffix.
    static let kinds = ["openai", "anthropic", "azure", "databricks", "bedrock"]

    override class var stackConfig: ((GatewayStack) -> String)? {
        { stack in
            func routes(_ kind: String, provider: String, model: String) -> String {
                """
                  chat-\(kind): { type: chat, endpoints: [ { provider: \(provider), model: "\(model)" } ] }
                  tools-\(kind): { type: chat, endpoints: [ { provider: \(provider), model: "\(model)@tools=2" } ] }
                  limited-\(kind): { type: chat, endpoints: [ { provider: \(provider), model: "\(model)@status=429,retry_after=3" } ] }
                """
            }
            return """
            server: { listen: "unix:\(stack.socketPath)", workers: 2, threads: 4, drain_timeout: 5s }
            redis: { url: "redis://127.0.0.1:\(stack.redisPort)/0", timeout: 500ms }
            audit: { spool_dir: "\(stack.directory.path)/spool" }
            providers:
            \(stack.mockProviders)
            routes:
            \(routes("openai", provider: "openai", model: "gpt-4o"))
            \(routes("anthropic", provider: "anthropic", model: "claude-sonnet-4-20250514"))
            \(routes("azure", provider: "azure", model: "gpt4o-deployment"))
            \(routes("databricks", provider: "databricks", model: "dbx-chat"))
            \(routes("bedrock", provider: "bedrock", model: "anthropic.claude-3-5-sonnet-20240620-v1:0"))
              overloaded:
                type: chat
                endpoints:
                  - { name: claude, provider: anthropic, model: "claude@status=529" }
                  - { name: backup, provider: openai, model: backup-gpt, fallback_only: true }
              cut-anthropic: { type: chat, endpoints: [ { provider: anthropic, model: "claude@stream_error=2" } ] }
              cut-bedrock: { type: chat, endpoints: [ { provider: bedrock, model: "amazon.nova-pro-v1:0@stream_exception=throttlingException" } ] }
              embeddings-azure: { type: embeddings, endpoints: [ { provider: azure, model: embed-deployment } ] }
              embeddings-databricks: { type: embeddings, endpoints: [ { provider: databricks, model: dbx-embed } ] }
              embeddings-bedrock: { type: embeddings, endpoints: [ { provider: bedrock, model: "amazon.titan-embed-text-v2:0" } ] }
              embeddings-cohere: { type: embeddings, endpoints: [ { provider: bedrock, model: "cohere.embed-english-v3" } ] }
            principals:
              "*": {}
            """
        }
    }

    private var key: String {
        get throws {
            if let key = Self.cachedKey { return key }
            let key = try gateway().createKey(name: "provider-kinds")
            Self.cachedKey = key
            return key
        }
    }

    private func post(_ path: String, _ body: String) throws -> TestResponse {
        try gateway().client.post(path, key: key, body)
    }

    private func chat(_ route: String, content: String = "hello there", stream: Bool = false, usage: Bool = false,
                      tools: Bool = false) throws -> TestResponse {
        var fields = [#""model":"\#(route)""#, #""messages":[{"role":"user","content":"\#(content)"}]"#]
        if stream { fields.append(#""stream":true"#) }
        if usage { fields.append(#""stream_options":{"include_usage":true}"#) }
        if tools {
            fields.append(#""tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"location":{"type":"string"}}}}}]"#)
        }
        return try post("/v1/chat/completions", "{" + fields.joined(separator: ",") + "}")
    }

    private func chunks(_ response: TestResponse) -> [[String: Any]] {
        response.events.filter { $0 != "[DONE]" }.compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    private func usage(_ object: [String: Any]) -> (prompt: Int, completion: Int)? {
        guard let usage = object["usage"] as? [String: Any], let prompt = usage["prompt_tokens"] as? Int,
              let completion = usage["completion_tokens"] as? Int else { return nil }
        return (prompt, completion)
    }

    func testEveryKindGivesTheSameAnswerAndUsage() throws {
        for kind in Self.kinds {
            let response = try chat("chat-\(kind)")
            XCTAssertEqual(response.status, 200, "\(kind): \(response.text)")
            let json = response.json
            XCTAssertEqual(json["object"] as? String, "chat.completion", kind)
            XCTAssertFalse((json["model"] as? String ?? "").isEmpty, kind)
            let choice = (json["choices"] as? [[String: Any]])?.first
            XCTAssertEqual((choice?["message"] as? [String: Any])?["content"] as? String, "Echo: hello there", kind)
            XCTAssertEqual(choice?["finish_reason"] as? String, "stop", kind)
            let counted = try XCTUnwrap(usage(json), kind)
            XCTAssertEqual(counted.completion, 3, kind)
            XCTAssertEqual(counted.prompt, 5, "\(kind): two words + 3 for the message")
        }
    }

    func testStreamsCarryExactlyOneUsageChunkWhenAsked() throws {
        for kind in Self.kinds {
            let response = try chat("chat-\(kind)", stream: true, usage: true)
            XCTAssertEqual(response.status, 200, "\(kind): \(response.text)")
            XCTAssertEqual(response.events.last, "[DONE]", kind)
            let parsed = chunks(response)
            let text = parsed.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String }
                .joined()
            XCTAssertEqual(text, "Echo: hello there", kind)
            let usages = parsed.compactMap(usage)
            XCTAssertEqual(usages.count, 1, "\(kind): exactly one usage chunk")
            XCTAssertEqual(usages.first?.completion, 3, kind)
            XCTAssertEqual(usages.first?.prompt, 5, kind)
            let finish = parsed.compactMap { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }
            XCTAssertEqual(finish, ["stop"], kind)
        }
    }

    func testStreamsWithoutUsageStillRecordTheTrueUsage() throws {
        let stack = try gateway()
        for kind in Self.kinds {
            let response = try chat("chat-\(kind)", content: "count these four words", stream: true)
            XCTAssertEqual(response.status, 200, "\(kind): \(response.text)")
            XCTAssertTrue(chunks(response).compactMap(usage).isEmpty, "\(kind): the client did not ask for usage")
            let requestId = try XCTUnwrap(response.header("x-sluice-request-id"))
            var line = ""
            try waitUntil("\(kind)'s audit record", timeout: .seconds(5)) {
                let out = (try? runCommand(which("redis-cli") ?? "/usr/bin/redis-cli",
                                           ["-p", "\(stack.redisPort)", "--raw", "XREVRANGE", "sluice:audit", "+", "-", "COUNT", "20"]).output) ?? ""
                // XREVRANGE --raw prints each field on its own line: the record follows its request id.
                let lines = out.components(separatedBy: "\n")
                line = lines.first { $0.hasPrefix("{") && $0.contains("\"request_id\":\"\(requestId)\"") } ?? ""
                return !line.isEmpty
            }
            XCTAssertTrue(line.contains(#""prompt_tokens":7,"completion_tokens":5"#), "\(kind): \(line)[\(line.count)]")
            XCTAssertTrue(line.contains(#""usage_source":"provider""#), "\(kind): \(line)")
        }
    }

    func testToolCallsInAnswersAndStreams() throws {
        for kind in Self.kinds {
            let plain = try chat("tools-\(kind)", content: "weather in Paris and London?", tools: true)
            XCTAssertEqual(plain.status, 200, "\(kind): \(plain.text)")
            let choice = try XCTUnwrap((plain.json["choices"] as? [[String: Any]])?.first, kind)
            XCTAssertEqual(choice["finish_reason"] as? String, "tool_calls", kind)
            let calls = try XCTUnwrap((choice["message"] as? [String: Any])?["tool_calls"] as? [[String: Any]], kind)
            XCTAssertEqual(calls.count, 2, kind)
            for call in calls {
                let function = try XCTUnwrap(call["function"] as? [String: Any])
                XCTAssertEqual(function["name"] as? String, "get_weather", kind)
                let arguments = try XCTUnwrap(function["arguments"] as? String, "\(kind): arguments are a JSON string")
                XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(arguments.utf8)) as? [String: Any], kind)
                XCTAssertNotNil(call["id"] as? String, kind)
            }

            let stream = try chat("tools-\(kind)", content: "weather in Paris and London?", stream: true, usage: true, tools: true)
            XCTAssertEqual(stream.status, 200, "\(kind): \(stream.text)")
            var assembled: [Int: (id: String?, name: String, arguments: String)] = [:]
            var finish: String?
            for chunk in chunks(stream) {
                guard let choice = (chunk["choices"] as? [[String: Any]])?.first else { continue }
                finish = choice["finish_reason"] as? String ?? finish
                for delta in (choice["delta"] as? [String: Any])?["tool_calls"] as? [[String: Any]] ?? [] {
                    let index = try XCTUnwrap(delta["index"] as? Int, kind)
                    var call = assembled[index] ?? (nil, "", "")
                    if let id = delta["id"] as? String { call.id = id }
                    let function = delta["function"] as? [String: Any]
                    call.name += function?["name"] as? String ?? ""
                    call.arguments += function?["arguments"] as? String ?? ""
                    assembled[index] = call
                }
            }
            XCTAssertEqual(assembled.keys.sorted(), [0, 1], "\(kind): tool calls indexed 0 and 1")
            XCTAssertEqual(finish, "tool_calls", kind)
            for (_, call) in assembled {
                XCTAssertNotNil(call.id, kind)
                XCTAssertEqual(call.name, "get_weather", kind)
                XCTAssertNotNil(try? JSONSerialization.jsonObject(with: Data(call.arguments.utf8)) as? [String: Any],
                                "\(kind): \(call.arguments)")
            }
            XCTAssertEqual(Set(assembled.values.compactMap(\.id)).count, 2, "\(kind): distinct call ids")
        }
    }

    func testProviderRateLimitsBecomeOpenAIShaped429s() throws {
        for kind in Self.kinds {
            let response = try chat("limited-\(kind)")
            XCTAssertEqual(response.status, 429, "\(kind): \(response.text)")
            XCTAssertNotNil(response.json["error"] as? [String: Any], "\(kind): OpenAI's error shape")
            XCTAssertNotNil(response.header("retry-after"), kind)
        }
    }

    func testAnthropicOverloadFallsBackAndStreamErrorsEndTheStream() throws {
        let fallback = try chat("overloaded")
        XCTAssertEqual(fallback.status, 200, fallback.text)
        XCTAssertEqual(fallback.header("x-sluice-endpoint"), "backup", "529 overloaded is retryable")
        for route in ["cut-anthropic", "cut-bedrock"] {
            let cut = try chat(route, content: "a longer prompt with several words in it", stream: true)
            XCTAssertEqual(cut.status, 200, "\(route): \(cut.text)")
            XCTAssertNotEqual(cut.events.last, "[DONE]", route)
            XCTAssertTrue(cut.events.last?.contains("\"error\"") ?? false, "\(route): \(cut.text)")
        }
    }

    func testEmbeddingsFromEveryKindInFloatAndBase64() throws {
        for route in ["embeddings-azure", "embeddings-databricks", "embeddings-bedrock", "embeddings-cohere"] {
            let float = try post("/v1/embeddings", #"{"model":"\#(route)","input":"embed this text","encoding_format":"float"}"#)
            XCTAssertEqual(float.status, 200, "\(route): \(float.text)")
            let vector = try XCTUnwrap(((float.json["data"] as? [[String: Any]])?.first?["embedding"] as? [Double]), route)
            XCTAssertFalse(vector.isEmpty, route)
            XCTAssertGreaterThan(((float.json["usage"] as? [String: Any])?["prompt_tokens"] as? Int) ?? 0, 0, route)
            let base64 = try post("/v1/embeddings", #"{"model":"\#(route)","input":"embed this text","encoding_format":"base64"}"#)
            XCTAssertEqual(base64.status, 200, "\(route): \(base64.text)")
            let encoded = try XCTUnwrap(((base64.json["data"] as? [[String: Any]])?.first?["embedding"] as? String), route)
            let bytes = try XCTUnwrap(Data(base64Encoded: encoded), route)
            let decoded = bytes.withUnsafeBytes { raw in (0..<(bytes.count / 4)).map { Double(raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self)) } }
            XCTAssertEqual(decoded.count, vector.count, route)
            for (a, b) in zip(decoded, vector) { XCTAssertEqual(a, b, accuracy: 1e-6, route) }
        }
    }
}
