import Foundation
import SluiceCore
import SluiceRedis
import XCTest

/// Claude Code-style clients on `/v1/messages`, through real nginx, Redis and the pool,
/// with the mock provider speaking Anthropic's and Bedrock's wire formats: native
/// passthrough to Anthropic (only `model` changes upstream; prompt caching, extended
/// thinking with signed blocks and betas keep working), a faithful Converse mapping for
/// Bedrock, count_tokens on every kind, and chat completions' structured outputs and
/// reasoning on the translated routes.
final class AnthropicNativeTests: SharedStackTestCase {
    nonisolated(unsafe) private static var cachedKey: String?

    override class var stackConfig: ((GatewayStack) -> String)? {
        { stack in
            """
            server: { listen: "unix:\(stack.socketPath)", workers: 1, threads: 4, drain_timeout: 5s }
            redis: { url: "redis://127.0.0.1:\(stack.redisPort)/0", timeout: 500ms }
            audit: { spool_dir: "\(stack.directory.path)/spool" }
            providers:
            \(stack.mockProviders)
            routes:
              claude: { type: chat, endpoints: [ { provider: anthropic, model: claude-sonnet-4-5-20250929 } ] }
              claude-cut: { type: chat, endpoints: [ { provider: anthropic, model: "claude-sonnet-4-5@stream_error=2" } ] }
              claude-bedrock: { type: chat, endpoints: [ { provider: bedrock, model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0" } ] }
              gpt: { type: chat, endpoints: [ { provider: openai, model: gpt-4o } ] }
              azure: { type: chat, endpoints: [ { provider: azure, model: gpt4o-deployment } ] }
              databricks: { type: chat, endpoints: [ { provider: databricks, model: dbx-chat } ] }
            prices:
              claude-sonnet-4-5: { input: 3.0, output: 15.0, cached_input: 0.30, cache_write: 3.75, cache_write_1h: 6.0 }
            principals:
              "*": {}
            """
        }
    }

    private var key: String {
        get throws {
            if let key = Self.cachedKey { return key }
            let key = try gateway().createKey(name: "anthropic-native")
            Self.cachedKey = key
            return key
        }
    }

    /// A Messages call as the Anthropic SDK sends it.
    private func messages(_ body: String, path: String = "/v1/messages", beta: String? = nil) throws -> TestResponse {
        var headers = [("x-api-key", try key), ("anthropic-version", "2023-06-01")]
        if let beta { headers.append(("anthropic-beta", beta)) }
        return try gateway().client.send(.post, path, headers: headers, body: body)
    }

    /// What the mock received last: headers and the exact body bytes.
    private func lastUpstream() throws -> (headers: [String: String], body: String) {
        let last = try XCTUnwrap(try gateway().mockStats()["last_request"] as? [String: Any])
        let raw = try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(last["body_base64"] as? String)))
        return (last["headers"] as? [String: String] ?? [:], String(decoding: raw, as: UTF8.self))
    }

    /// The audit record of the call that got `response`.
    private func record(of response: TestResponse) throws -> [String: Any] {
        try gateway().auditRecord(of: response)
    }


    /// A Claude Code-style request: cache breakpoints (1h and 5m) on tools, system and the
    /// last user block, extended thinking, and fields newer than the gateway.
    private static let claudeCodeBody = #"{"model":"claude","max_tokens":4096,"#
        + #""system":[{"type":"text","text":"You are Claude Code, an agentic coding tool. Follow the repository's conventions.","cache_control":{"type":"ephemeral","ttl":"1h"}}],"#
        + #""tools":[{"name":"Read","description":"Reads a file","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}},"required":["file_path"]},"cache_control":{"type":"ephemeral","ttl":"1h"}}],"#
        + #""messages":[{"role":"user","content":[{"type":"text","text":"Summarise the README caf\u00e9 2.50 of this repository please","cache_control":{"type":"ephemeral"}}]}],"#
        + #""thinking":{"type":"enabled","budget_tokens":2048},"metadata":{"user_id":"user_abc_account_1"},"#
        + #""service_tier":"auto" , "context_management":{"edits":[]}}"#

    func testClaudeCodeRequestReachesAnthropicByteForByteButForModel() throws {
        try gateway().resetMock()
        let response = try messages(Self.claudeCodeBody, beta: "interleaved-thinking-2025-05-14,extended-cache-ttl-2025-04-11")
        XCTAssertEqual(response.status, 200, response.text)
        let upstream = try lastUpstream()
        let expected = Self.claudeCodeBody.replacingOccurrences(of: #"{"model":"claude","#,
                                                                with: #"{"model":"claude-sonnet-4-5-20250929","#)
        XCTAssertEqual(upstream.body, expected, "only model changes: cache_control, thinking and unknown fields pass as sent")
        XCTAssertEqual(upstream.headers["anthropic-beta"], "interleaved-thinking-2025-05-14,extended-cache-ttl-2025-04-11")
        XCTAssertEqual(upstream.headers["anthropic-version"], "2023-06-01")
        XCTAssertNotEqual(upstream.headers["x-api-key"], try key, "the provider gets the provider's key, never the gateway key")

        // The answer is Anthropic's own: a signed thinking block first, cache usage as Anthropic reports it.
        let json = response.json
        let content = try XCTUnwrap(json["content"] as? [[String: Any]])
        XCTAssertEqual(content.first?["type"] as? String, "thinking")
        XCTAssertFalse((content.first?["signature"] as? String ?? "").isEmpty)
        let usage = try XCTUnwrap(json["usage"] as? [String: Any])
        let written = try XCTUnwrap(usage["cache_creation_input_tokens"] as? Int)
        XCTAssertGreaterThan(written, 0)
        let split = try XCTUnwrap(usage["cache_creation"] as? [String: Any])
        XCTAssertGreaterThan(split["ephemeral_1h_input_tokens"] as? Int ?? 0, 0)

        // The same prefix again: Anthropic reads it from its cache.
        let again = try messages(Self.claudeCodeBody)
        XCTAssertEqual(again.status, 200, again.text)
        let read = ((again.json["usage"] as? [String: Any])?["cache_read_input_tokens"] as? Int) ?? 0
        XCTAssertGreaterThan(read, 0, "the second call hits the provider's prompt cache")

        let first = try record(of: response)
        XCTAssertEqual(first["path"] as? String, "/v1/messages")
        XCTAssertEqual((first["cache_write_tokens"] as? Int ?? 0) + (first["cache_write_1h_tokens"] as? Int ?? 0), written)
        XCTAssertEqual(first["prompt_tokens"] as? Int, (usage["input_tokens"] as? Int ?? 0) + written)
        XCTAssertEqual(try record(of: again)["cache_read_tokens"] as? Int, read)
        XCTAssertNotNil(first["cost"] as? Double)
    }

    func testThinkingToolRoundTripSendsTheSignedBlocksBack() throws {
        let tools = #""tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}]"#
        let first = try messages(#"{"model":"claude","max_tokens":4096,"thinking":{"type":"enabled","budget_tokens":1024},"#
                                 + tools + #","messages":[{"role":"user","content":"What is the weather in Paris?"}]}"#)
        XCTAssertEqual(first.status, 200, first.text)
        let content = try XCTUnwrap(first.json["content"] as? [[String: Any]])
        let thinking = try XCTUnwrap(content.first { $0["type"] as? String == "thinking" })
        let use = try XCTUnwrap(content.first { $0["type"] as? String == "tool_use" })
        func followUp(_ thinkingBlock: [String: Any]) throws -> TestResponse {
            let assistant = String(decoding: try JSONSerialization.data(withJSONObject: [thinkingBlock, use]), as: UTF8.self)
            let id = use["id"] as? String ?? ""
            return try messages(#"{"model":"claude","max_tokens":4096,"thinking":{"type":"enabled","budget_tokens":1024},"#
                                + tools + #","messages":[{"role":"user","content":"What is the weather in Paris?"},"#
                                + #"{"role":"assistant","content":\#(assistant)},"#
                                + #"{"role":"user","content":[{"type":"tool_result","tool_use_id":"\#(id)","content":"18C and sunny"}]}]}"#)
        }
        let second = try followUp(thinking)
        XCTAssertEqual(second.status, 200, "the signed block went back unchanged: \(second.text)")
        var tampered = thinking
        tampered["thinking"] = (thinking["thinking"] as? String ?? "") + " (edited)"
        let refused = try followUp(tampered)
        XCTAssertEqual(refused.status, 400, refused.text)
        XCTAssertEqual((refused.json["error"] as? [String: Any])?["type"] as? String, "invalid_request_error")
    }

    func testStreamsAreRelayedEventByEventWithSignatures() throws {
        let response = try messages(#"{"model":"claude","max_tokens":4096,"stream":true,"thinking":{"type":"enabled","budget_tokens":1024},"#
                                    + #""messages":[{"role":"user","content":"stream with thinking please"}]}"#)
        XCTAssertEqual(response.status, 200, response.text)
        let events = response.namedEvents
        XCTAssertEqual(events.first?.name, "message_start")
        XCTAssertEqual(events.last?.name, "message_stop")
        let deltas = events.filter { $0.name == "content_block_delta" }.compactMap { ($0.data["delta"] as? [String: Any])?["type"] as? String }
        XCTAssertTrue(deltas.contains("thinking_delta"))
        XCTAssertTrue(deltas.contains("signature_delta"))
        XCTAssertTrue(deltas.contains("text_delta"))
        let audit = try record(of: response)
        XCTAssertEqual(audit["usage_source"] as? String, "provider")
        XCTAssertEqual(audit["stream_completed"] as? Bool, true)
        XCTAssertGreaterThan(audit["completion_tokens"] as? Int ?? 0, 3)
    }

    func testCountTokensOnEveryKindNeverGenerates() throws {
        let body = #"{"model":"ROUTE","system":"be brief","messages":[{"role":"user","content":"count these words for me"}]}"#
        try gateway().resetMock()
        let native = try messages(body.replacingOccurrences(of: "ROUTE", with: "claude"), path: "/v1/messages/count_tokens")
        XCTAssertEqual(native.status, 200, native.text)
        XCTAssertGreaterThan(native.json["input_tokens"] as? Int ?? 0, 0)
        XCTAssertNil(native.header("x-sluice-token-count"))
        XCTAssertEqual(try gateway().mockStats()["by_path"] as? [String: Int], ["/v1/messages/count_tokens": 1])

        let bedrock = try messages(body.replacingOccurrences(of: "ROUTE", with: "claude-bedrock"), path: "/v1/messages/count_tokens")
        XCTAssertEqual(bedrock.status, 200, bedrock.text)
        XCTAssertGreaterThan(bedrock.json["input_tokens"] as? Int ?? 0, 0)
        let upstream = try lastUpstream()
        XCTAssertTrue(upstream.body.hasPrefix(#"{"input":{"converse":"#), upstream.body)

        let before = try gateway().mockStats()["requests"] as? Int ?? 0
        let estimate = try messages(body.replacingOccurrences(of: "ROUTE", with: "gpt"), path: "/v1/messages/count_tokens")
        XCTAssertEqual(estimate.status, 200, estimate.text)
        XCTAssertEqual(estimate.header("x-sluice-token-count"), "estimate")
        XCTAssertGreaterThan(estimate.json["input_tokens"] as? Int ?? 0, 0)
        XCTAssertEqual(try gateway().mockStats()["requests"] as? Int ?? 0, before, "an estimate calls no provider")
        XCTAssertEqual(try record(of: estimate)["completion_tokens"] as? Int, 0)
    }

    func testMessagesToBedrockKeepCachePointsThinkingAndBetas() throws {
        let body = Self.claudeCodeBody.replacingOccurrences(of: #"{"model":"claude","#, with: #"{"model":"claude-bedrock","#)
            .replacingOccurrences(of: #","service_tier":"auto" , "context_management":{"edits":[]}"#, with: "")
        let response = try messages(body, beta: "interleaved-thinking-2025-05-14")
        XCTAssertEqual(response.status, 200, response.text)
        let sent = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lastUpstream().body.utf8)) as? [String: Any])
        let system = try XCTUnwrap(sent["system"] as? [[String: Any]])
        XCTAssertEqual(system.last?["cachePoint"] as? [String: String], ["type": "default", "ttl": "1h"])
        let tools = try XCTUnwrap((sent["toolConfig"] as? [String: Any])?["tools"] as? [[String: Any]])
        XCTAssertNotNil(tools.last?["cachePoint"])
        let additional = try XCTUnwrap(sent["additionalModelRequestFields"] as? [String: Any])
        XCTAssertEqual((additional["thinking"] as? [String: Any])?["budget_tokens"] as? Int, 2048)
        XCTAssertEqual(additional["anthropic_beta"] as? [String], ["interleaved-thinking-2025-05-14"])

        let content = try XCTUnwrap(response.json["content"] as? [[String: Any]])
        XCTAssertEqual(content.first?["type"] as? String, "thinking")
        XCTAssertFalse((content.first?["signature"] as? String ?? "").isEmpty, "Bedrock's signature reaches the client")
        let usage = try XCTUnwrap(response.json["usage"] as? [String: Any])
        XCTAssertGreaterThan(usage["cache_creation_input_tokens"] as? Int ?? 0, 0)

        // The signed block goes back through Converse as reasoningContent.
        let thinking = String(decoding: try JSONSerialization.data(withJSONObject: content[0]), as: UTF8.self)
        let followUp = try messages(#"{"model":"claude-bedrock","max_tokens":4096,"thinking":{"type":"enabled","budget_tokens":1024},"#
                                    + #""messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[\#(thinking),{"type":"text","text":"Hello"}]},"#
                                    + #"{"role":"user","content":"and again"}]}"#)
        XCTAssertEqual(followUp.status, 200, followUp.text)
        let history = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lastUpstream().body.utf8)) as? [String: Any])
        let turns = try XCTUnwrap(history["messages"] as? [[String: Any]])
        let first = try XCTUnwrap((turns[1]["content"] as? [[String: Any]])?.first?["reasoningContent"] as? [String: Any])
        XCTAssertEqual((first["reasoningText"] as? [String: Any])?["signature"] as? String, content[0]["signature"] as? String)
    }

    func testResponseFormatAndReasoningOnTranslatedChatRoutes() throws {
        let schema = #"{"type":"object","properties":{"city":{"type":"string"},"population":{"type":"integer"}},"required":["city","population"],"additionalProperties":false}"#
        for route in ["claude", "claude-bedrock", "gpt"] {
            for stream in [false, true] {
                let body = #"{"model":"\#(route)","stream":\#(stream),"messages":[{"role":"user","content":"Biggest city in France, as json"}],"#
                    + #""response_format":{"type":"json_schema","json_schema":{"name":"city","strict":true,"schema":\#(schema)}}}"#
                let response = try gateway().client.post("/v1/chat/completions", key: key, body)
                XCTAssertEqual(response.status, 200, "\(route): \(response.text)")
                var text = ""
                var finish: String?
                if stream {
                    for event in response.events where event != "[DONE]" {
                        let chunk = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any])
                        let choice = (chunk["choices"] as? [[String: Any]])?.first
                        text += (choice?["delta"] as? [String: Any])?["content"] as? String ?? ""
                        finish = choice?["finish_reason"] as? String ?? finish
                        XCTAssertNil((choice?["delta"] as? [String: Any])?["tool_calls"], route)
                    }
                } else {
                    let choice = try XCTUnwrap((response.json["choices"] as? [[String: Any]])?.first)
                    text = (choice["message"] as? [String: Any])?["content"] as? String ?? ""
                    finish = choice["finish_reason"] as? String
                    XCTAssertNil((choice["message"] as? [String: Any])?["tool_calls"], route)
                }
                XCTAssertEqual(finish, "stop", "\(route) stream=\(stream)")
                let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                                           "\(route) stream=\(stream): \(text)")
                XCTAssertNotNil(object["city"] as? String, route)
                XCTAssertNotNil(object["population"] as? Int, route)
            }
        }
        // Reasoning: a thinking budget upstream, the reasoning back as reasoning_content.
        let reasoning = try gateway().client.post("/v1/chat/completions", key: key,
                                                  #"{"model":"claude","reasoning_effort":"low","messages":[{"role":"user","content":"think first"}]}"#)
        XCTAssertEqual(reasoning.status, 200, reasoning.text)
        let sent = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lastUpstream().body.utf8)) as? [String: Any])
        XCTAssertEqual((sent["thinking"] as? [String: Any])?["budget_tokens"] as? Int, 2048)
        let message = try XCTUnwrap(((reasoning.json["choices"] as? [[String: Any]])?.first)?["message"] as? [String: Any])
        XCTAssertFalse((message["reasoning_content"] as? String ?? "").isEmpty)
        XCTAssertNotNil((message["thinking_blocks"] as? [[String: Any]])?.first?["signature"] as? String)
        // Refused, never dropped.
        let refused = try gateway().client.post("/v1/chat/completions", key: key,
                                                #"{"model":"claude","logprobs":true,"messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(refused.status, 400, refused.text)
        XCTAssertEqual((refused.json["error"] as? [String: Any])?["param"] as? String, "logprobs")
    }

    func testOpenAIFamilyAnswersFollowOpenAIsSchema() throws {
        for route in ["azure", "databricks", "claude-bedrock"] {
            let plain = try gateway().client.post("/v1/chat/completions", key: key,
                                                  #"{"model":"\#(route)","messages":[{"role":"user","content":"hello"}]}"#)
            XCTAssertEqual(plain.status, 200, plain.text)
            let choice = try XCTUnwrap((plain.json["choices"] as? [[String: Any]])?.first)
            let message = try XCTUnwrap(choice["message"] as? [String: Any])
            XCTAssertTrue(message.keys.contains("refusal"), "\(route): message.refusal is required (nullable)")
            XCTAssertTrue(choice.keys.contains("logprobs"), "\(route): choices[].logprobs is required (nullable)")
            for usage in [false, true] {
                let stream = try gateway().client.post("/v1/chat/completions", key: key,
                                                       #"{"model":"\#(route)","stream":true,"stream_options":{"include_usage":\#(usage)},"messages":[{"role":"user","content":"hello there"}]}"#)
                XCTAssertEqual(stream.status, 200, stream.text)
                var usageChunks = 0
                for event in stream.events where event != "[DONE]" {
                    let chunk = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any])
                    XCTAssertEqual(chunk["object"] as? String, "chat.completion.chunk", "\(route): \(event)")
                    XCTAssertFalse((chunk["id"] as? String ?? "").isEmpty, "\(route): \(event)")
                    let choices = chunk["choices"] as? [[String: Any]] ?? []
                    if choices.isEmpty {
                        XCTAssertNotNil(chunk["usage"] as? [String: Any], "\(route): a chunk without choices is the usage chunk")
                        usageChunks += 1
                    } else {
                        XCTAssertNil(chunk["usage"] as? [String: Any], "\(route): usage only on the final chunk")
                    }
                }
                XCTAssertEqual(usageChunks, usage ? 1 : 0, "\(route): include_usage=\(usage)")
            }
        }
    }

    func testPromptCacheHitRatioPerKeyAndRouteInUsageAndMetrics() throws {
        let stack = try gateway()
        let own = try stack.createKey(name: "cache-ratio")
        let headers = [("x-api-key", own), ("anthropic-version", "2023-06-01")]
        stack.resetMock()
        for _ in 0..<3 {
            let response = stack.client.send(.post, "/v1/messages", headers: headers, body: Self.claudeCodeBody)
            XCTAssertEqual(response.status, 200, response.text)
            _ = try record(of: response)
        }
        let keyId = try XCTUnwrap(try record(of: stack.client.send(.post, "/v1/messages", headers: headers,
                                                                    body: Self.claudeCodeBody))["key_id"] as? String)
        var row: [String: Any] = [:]
        try waitUntil("the key's usage row", timeout: .seconds(5)) {
            let out = (try? stack.sluice(["usage", "--config", stack.configPath, "--by", "key-route", "--since", "1d", "--json"]))?.output ?? ""
            for line in out.split(separator: "\n") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      object["key-route"] as? String == keyId + " claude", object["requests"] as? Int == 4 else { continue }
                row = object
                return true
            }
            return false
        }
        let prompt = try XCTUnwrap(row["prompt_tokens"] as? Int)
        let read = try XCTUnwrap(row["cache_read_tokens"] as? Int)
        XCTAssertGreaterThan(read, 0)
        XCTAssertGreaterThan(row["cache_write_tokens"] as? Int ?? 0, 0)
        XCTAssertEqual(try XCTUnwrap(row["cache_hit_ratio"] as? Double), Double(read) / Double(prompt), accuracy: 0.0001)
        let table = try stack.sluice(["usage", "--config", stack.configPath, "--by", "key-route", "--since", "1d"]).output
        XCTAssertTrue(table.contains("HIT"), table)

        var metrics = ""
        try waitUntil("the hit ratio in /metrics", timeout: .seconds(5)) {
            metrics = stack.client.send(.get, "/metrics").text
            return metrics.contains("sluice_prompt_cache_hit_ratio{route=\"claude\",key=\"\(keyId)\"}")
        }
        XCTAssertTrue(metrics.contains("sluice_tokens_total{route=\"claude\",kind=\"cache_read\"}"), metrics)
        XCTAssertTrue(metrics.contains("sluice_tokens_total{route=\"claude\",kind=\"cache_write_1h\"}"), metrics)
    }

    func testACutNativeStreamEndsWithAnErrorEventAndKeepsWhatArrived() throws {
        let response = try messages(#"{"model":"claude-cut","max_tokens":256,"stream":true,"#
                                    + #""system":[{"type":"text","text":"Long rules to cache.","cache_control":{"type":"ephemeral"}}],"#
                                    + #""messages":[{"role":"user","content":"tell me a long story please"}]}"#)
        XCTAssertEqual(response.status, 200, response.text)
        let names = response.namedEvents.map(\.name)
        XCTAssertEqual(names.first, "message_start")
        XCTAssertEqual(names.last, "error", "a cut stream ends with an error event: \(names)")
        XCTAssertFalse(names.contains("message_stop"), "never the terminal marker after a failure")
        let audit = try record(of: response)
        XCTAssertEqual(audit["stream_completed"] as? Bool, false)
        XCTAssertEqual(audit["usage_source"] as? String, "partial", "the input from message_start, the output so far")
        XCTAssertGreaterThan(audit["prompt_tokens"] as? Int ?? 0, 0)
        XCTAssertGreaterThan(audit["cache_write_tokens"] as? Int ?? 0, 0, "the cache write counts although the stream was cut")
        XCTAssertNotNil(audit["error_class"] as? String)
    }
}
