import Foundation
import SluiceCore
@testable import SluiceProviders
import XCTest

/// OpenAI's Responses API on translated routes: requests to chat bodies (and on to each
/// provider), chat answers and chunk streams back to Response objects and the documented
/// event sequence, and the contract walked row by row.
final class ResponsesSurfaceTests: XCTestCase {
    private let limits = ProviderFixtures.limits


    private func chat(_ body: String, history: String? = nil, target: MessagesTarget = .anthropicFeatures) throws -> [String: Any] {
        let made = try ResponsesSurface.chatRequest(fromResponses: Array(body.utf8), history: history.map { Array($0.utf8) },
                                                    for: target)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(made.chat)) as? [String: Any])
    }

    /// What `kind` is sent for a Responses body: URL and body as one text.
    private func upstream(_ body: String, kind: ProviderKind) throws -> String {
        let target = AnthropicSurface.target(for: kind)
        let made = try ResponsesSurface.chatRequest(fromResponses: Array(body.utf8), history: nil, for: target)
        let request = try APIRequest(operation: .chatCompletions, body: made.chat)
        let call = try ProviderRegistry.translator(for: kind).upstreamRequest(
            for: request, endpoint: ProviderFixtures.endpoint(kind.rawValue, "anthropic.claude-x"), provider: ProviderFixtures.provider(kind),
            limits: limits)
        return call.url + " " + ProviderFixtures.canonical(try JSONSerialization.jsonObject(with: Data(call.body)))
    }

    func testInputItemsBecomeChatMessages() throws {
        let body = #"{"model":"r","instructions":"be brief","input":[{"role":"user","content":[{"type":"input_text","text":"weather?"},{"type":"input_image","image_url":"data:image/png;base64,AAAA"}]},"#
            + #"{"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},"#
            + #"{"type":"function_call_output","call_id":"call_1","output":"18C"}],"#
            + #""tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"},"strict":true}],"tool_choice":"auto","#
            + #""reasoning":{"effort":"low","summary":"auto"},"max_output_tokens":3000,"text":{"format":{"type":"json_schema","name":"w","schema":{"type":"object"}}}}"#
        let out = try chat(body, history: #"[{"role":"user","content":"earlier"},{"role":"assistant","content":"ok"}]"#)
        let messages = try XCTUnwrap(out["messages"] as? [[String: Any]])
        XCTAssertEqual(messages.map { $0["role"] as? String }, ["system", "user", "assistant", "user", "assistant", "tool"])
        XCTAssertEqual(messages[1]["content"] as? String, "earlier", "the stored conversation comes after the instructions")
        let calls = try XCTUnwrap(messages[4]["tool_calls"] as? [[String: Any]])
        XCTAssertEqual(calls.first?["id"] as? String, "call_1")
        XCTAssertEqual(messages[5]["tool_call_id"] as? String, "call_1")
        XCTAssertEqual(((out["tools"] as? [[String: Any]])?.first?["function"] as? [String: Any])?["name"] as? String, "get_weather")
        XCTAssertEqual(out["reasoning_effort"] as? String, "low")
        XCTAssertEqual(out["max_completion_tokens"] as? Int, 3000)
        XCTAssertEqual((out["response_format"] as? [String: Any])?["type"] as? String, "json_schema")
    }

    func testBuiltInToolsAndUnknownFieldsAreRefusedByName() throws {
        let cases: [(String, String)] = [
            (#"{"model":"r","input":"hi","tools":[{"type":"web_search"}]}"#, "tools[0].type"),
            (#"{"model":"r","input":"hi","background":true}"#, "background"),
            (#"{"model":"r","input":"hi","truncation":"auto"}"#, "truncation"),
            (#"{"model":"r","input":"hi","include":["file_search_call.results"]}"#, "include[0]"),
            (#"{"model":"r","input":[{"type":"web_search_call","id":"x"}]}"#, "input[0].type"),
            (#"{"model":"r","input":"hi","brand_new":1}"#, "brand_new"),
        ]
        for (body, param) in cases {
            XCTAssertThrowsError(try chat(body), body) { error in
                XCTAssertEqual((error as? GatewayError)?.httpStatus, 400, body)
                XCTAssertEqual((error as? GatewayError)?.param, param, body)
            }
        }
    }

    func testEveryResponsesFieldIsTranslatedOrRefusedOnEveryTranslatingProvider() throws {
        for kind in [ProviderKind.anthropic, .bedrock, .databricks] {
            let target = AnthropicSurface.target(for: kind)
            for row in ResponsesContract.rows where !["model", "input"].contains(row.field) {
                let base = #"{"model":"r","input":"hi"}"#
                let extra = row.field == "tool_choice" || row.field == "parallel_tool_calls"
                    ? #","tools":[{"type":"function","name":"f","parameters":{"type":"object"}}]"# : ""
                let with = #"{"model":"r","input":"hi""# + extra + ",\"\(row.field)\":\(row.sample)}"
                let label = "\(kind.rawValue): \(row.field)"
                switch row.rule(for: target) {
                case .translated:
                    if row.field == "previous_response_id" || (row.field == "parallel_tool_calls" && kind == .bedrock) {
                        continue  // served by the gateway's state / refused by the chat contract: checked elsewhere
                    }
                    XCTAssertNotEqual(try upstream(#"{"model":"r","input":"hi""# + extra + "}", kind: kind),
                                      try upstream(with, kind: kind), "\(label) is translated, so the upstream call must change")
                case .answer:
                    XCTAssertNoThrow(try upstream(with, kind: kind), label)
                case .refused:
                    XCTAssertThrowsError(try upstream(with, kind: kind), label) { error in
                        XCTAssertEqual((error as? GatewayError)?.param, row.field, label)
                    }
                }
                _ = base
            }
        }
    }

    func testChatAnswerBecomesAResponseObject() throws {
        let context = ResponsesContext(request: Array(#"{"model":"claude","input":"hi","reasoning":{"effort":"low","summary":"auto"},"metadata":{"a":"b"}}"#.utf8),
                                       model: "claude", now: 1_750_000_000)
        let completion = #"{"id":"x","object":"chat.completion","created":1,"model":"claude","choices":[{"index":0,"message":{"role":"assistant","content":"Hello","reasoning_content":"think","thinking_blocks":[{"type":"thinking","thinking":"think","signature":"c2ln"}],"tool_calls":[{"id":"call_9","type":"function","function":{"name":"f","arguments":"{}"}}],"refusal":null},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}"#
        let (body, assistant) = try ResponsesSurface.responseObject(fromChatCompletion: Array(completion.utf8), context: context)
        let response = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        XCTAssertEqual(response["id"] as? String, context.id)
        XCTAssertEqual(response["object"] as? String, "response")
        XCTAssertEqual(response["status"] as? String, "completed")
        XCTAssertEqual(response["model"] as? String, "claude")
        XCTAssertEqual(response["metadata"] as? [String: String], ["a": "b"])
        let output = try XCTUnwrap(response["output"] as? [[String: Any]])
        XCTAssertEqual(output.map { $0["type"] as? String }, ["reasoning", "message", "function_call"])
        XCTAssertEqual((output[0]["summary"] as? [[String: Any]])?.first?["text"] as? String, "think")
        let envelope = try XCTUnwrap(output[0]["encrypted_content"] as? String)
        XCTAssertEqual(ReasoningEnvelope.blocks(from: envelope)?.first?["signature"]?.stringValue, "c2ln")
        XCTAssertEqual((output[1]["content"] as? [[String: Any]])?.first?["text"] as? String, "Hello")
        XCTAssertEqual(output[2]["call_id"] as? String, "call_9")
        let usage = try XCTUnwrap(response["usage"] as? [String: Any])
        XCTAssertEqual(usage["input_tokens"] as? Int, 10)
        XCTAssertEqual((usage["input_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int, 4)
        XCTAssertEqual((usage["output_tokens_details"] as? [String: Any])?["reasoning_tokens"] as? Int, 2)
        // The reasoning item goes back as the signed block on the next turn.
        let next = try chat(#"{"model":"r","input":[{"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"\#(envelope)"},{"type":"function_call","call_id":"call_9","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"call_9","output":"ok"}]}"#)
        let turn = try XCTUnwrap((next["messages"] as? [[String: Any]])?.first)
        XCTAssertEqual((turn["thinking_blocks"] as? [[String: Any]])?.first?["signature"] as? String, "c2ln")
        XCTAssertNotNil(turn["tool_calls"])
        let kept = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(assistant)) as? [String: Any])
        XCTAssertNotNil(kept["thinking_blocks"])
    }

    func testChunkStreamBecomesTheDocumentedEventSequence() throws {
        let context = ResponsesContext(request: Array(#"{"model":"claude","input":"hi","stream":true}"#.utf8), model: "claude")
        let outcome = ResponsesStreamOutcome()
        var translator = ResponsesSurface.streamTranslator(context: context, outcome: outcome)
        let chunks = [
            #"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            #"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#,
            #"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}"#,
            #"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}]}"#,
            #"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]},"finish_reason":null}]}"#,
            #"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            #"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
            "[DONE]",
        ]
        var text = ""
        var terminal = false
        for chunk in chunks {
            let result = translator.translate(event: Array("data: \(chunk)\n\n".utf8)[...])
            text += String(decoding: result.output ?? [], as: UTF8.self)
            terminal = terminal || result.isTerminal
        }
        XCTAssertTrue(terminal)
        let events = text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.compactMap { block -> [String: Any]? in
            guard let data = block.components(separatedBy: "\n").first(where: { $0.hasPrefix("data: ") })?.dropFirst(6) else { return nil }
            return try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any]
        }
        XCTAssertEqual(events.map { $0["type"] as? String ?? "" }, [
            "response.created", "response.in_progress",
            "response.output_item.added", "response.content_part.added", "response.output_text.delta",
            "response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done",
            "response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.done",
            "response.output_item.done", "response.completed",
        ])
        XCTAssertEqual(events.map { $0["sequence_number"] as? Int ?? -1 }, Array(0..<events.count))
        let completed = try XCTUnwrap(events.last?["response"] as? [String: Any])
        XCTAssertEqual((completed["usage"] as? [String: Any])?["output_tokens"] as? Int, 4)
        XCTAssertEqual((completed["output"] as? [[String: Any]])?.count, 2)
        XCTAssertNotNil(outcome.response)
        XCTAssertNotNil(outcome.assistant)
    }
}
