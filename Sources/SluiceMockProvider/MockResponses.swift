import Foundation

/// `POST /v1/responses`: one Response object (`object: "response"`), or its stream (see
/// `MockResponses+Stream.swift`). Pure: the router finds the previous response and
/// stores this one.
///
/// The model sees `context`: the previous response's context and output items (with
/// `previous_response_id`), then this request's input. `instructions` are not carried
/// over, as OpenAI documents.
///
/// Output items, in order:
/// 1. with `reasoning.effort` other than `none`: `{"type": "reasoning", "id": "rs_…",
///    "summary": []}`, the summary `[{"type": "summary_text", "text": "Reasoning about: …"}]`
///    when `reasoning.summary` is set (`encrypted_content` too when `include` asks for
///    `reasoning.encrypted_content`); its tokens (``MockChat/reasoningTokens``: 8 for
///    `minimal` … 256 for `xhigh`) are `output_tokens_details.reasoning_tokens`;
/// 2. with `function` tools, `tool_choice` not `none`, and the last item not a
///    `function_call_output`: when the last user text contains "weather", `tool_choice` is
///    `required`, or a function is forced, `function_call` items
///    (`{"type": "function_call", "id": "fc_…", "call_id": "call_…", "name", "arguments",
///    "status": "completed"}`, arguments a minimal instance of the tool's `parameters`, see
///    ``MockToolCalls``; `tools=N` calls N at once unless `parallel_tool_calls` is false);
/// 3. otherwise one assistant message whose `output_text` is `"Echo: "` + the last user
///    text (after a `function_call_output`, its output), or with `text.format`
///    `json_schema` a minimal JSON instance of the schema, `json_object`
///    `{"answer": "Echo: …"}`.
///
/// Tokens are words, as for chat: `input_tokens` = per context item its text's words + 3,
/// plus `instructions`' words + 3; `cached_tokens` is always 0. `max_output_tokens` caps
/// reasoning plus visible words: a cut answer makes the response `incomplete`
/// (`incomplete_details.reason` `max_output_tokens`). `output_text` is not sent: it is an
/// SDK convenience, not part of the wire object.
struct MockResponses {
    var request: MockResponsesRequest
    var call: MockCall
    /// `resp_<token>`; output item ids end with it too.
    var token: String
    var context: [[String: Any]]

    var id: String { "resp_\(token)" }
    /// The output items, in order.
    private(set) var output: [[String: Any]] = []
    private(set) var outputTokens = 0
    private(set) var reasoningTokens = 0
    private(set) var incomplete = false

    init(request: MockResponsesRequest, call: MockCall, token: String,
         context: [[String: Any]]) throws(MockAPIError) {
        self.request = request
        self.call = call
        self.token = token
        self.context = context
        let afterTool = context.last?["type"] as? String == "function_call_output"
        let userText = afterTool ? Self.text(of: context.last ?? [:])
            : context.last { $0["type"] as? String == "message" && $0["role"] as? String == "user" }.map(Self.text) ?? ""
        if case .jsonObject = request.format,
           !(context.map(Self.text) + [request.instructions ?? ""]).contains(where: { $0.lowercased().contains("json") }) {
            throw .jsonObjectNeedsJSON
        }

        if let effort = request.effort, effort != "none" {
            reasoningTokens = MockChat.reasoningTokens[effort] ?? 0
            var item: [String: Any] = ["type": "reasoning", "id": "rs_\(token)_0", "summary": [Any]()]
            if request.summary != nil {
                item["summary"] = [["type": "summary_text", "text": "Reasoning about: " + userText]]
            }
            if request.include.contains("reasoning.encrypted_content") {
                item["encrypted_content"] = Data("mock-reasoning:\(token)".utf8).base64EncodedString()
            }
            output.append(item)
        }
        if let calls = toolCalls(userText: userText, afterTool: afterTool) {
            for (index, tool) in calls.calls.enumerated() {
                output.append(["type": "function_call", "id": "fc_\(token)_\(index)", "call_id": "call_\(token)_\(index)",
                               "name": tool.name, "arguments": tool.arguments, "status": "completed"])
            }
            outputTokens = calls.tokens
        } else {
            appendMessage(words: answerWords(userText))
        }
    }

    /// The calls to make, or `nil` to answer with text.
    private func toolCalls(userText: String, afterTool: Bool) -> MockToolCalls? {
        guard !request.functionNames.isEmpty, !afterTool else { return nil }
        let choice = request.toolChoice as? String
        let object = request.toolChoice as? [String: Any]
        let forced = object?["type"] as? String == "function" ? object?["name"] as? String : nil
        guard choice != "none",
              forced != nil || choice == "required" || userText.lowercased().contains("weather") else { return nil }
        return MockToolCalls(tools: request.functionNames, forced: forced,
                             count: request.parallelToolCalls ? call.faults.tools : 1, schemas: request.functionSchemas)
    }

    private func answerWords(_ userText: String) -> [String] {
        let echo = MockAnswer.echo(userText, targetWords: call.faults.words, limit: nil)
        switch request.format {
        case .text:
            return echo.words
        case .jsonObject:
            return MockAnswer.words(of: MockJSONValue.object([.init(key: "answer", value: .string(echo.text))]).text)
        case .jsonSchema(let schema):
            return MockAnswer.words(of: MockSchemaInstance.instance(of: schema, sample: echo.text).text)
        }
    }

    /// Appends the assistant message, cut to what `max_output_tokens` leaves after reasoning.
    private mutating func appendMessage(words: [String]) {
        var words = words
        if let limit = request.maxOutputTokens, reasoningTokens + words.count > limit {
            words = Array(words.prefix(max(0, limit - reasoningTokens)))
            incomplete = true
        }
        outputTokens = words.count
        guard !words.isEmpty else { return }
        output.append([
            "type": "message", "id": "msg_\(token)_out", "status": incomplete ? "incomplete" : "completed",
            "role": "assistant",
            "content": [["type": "output_text", "text": words.joined(separator: " "), "annotations": [Any](),
                         "logprobs": [Any]()]],
        ])
    }

    var status: String { incomplete ? "incomplete" : "completed" }

    var usage: [String: Any] {
        let input = context.reduce(0) { $0 + MockAnswer.words(of: Self.text(of: $1)).count + 3 }
            + (request.instructions.map { MockAnswer.words(of: $0).count + 3 } ?? 0)
        let output = outputTokens + reasoningTokens
        return ["input_tokens": input, "input_tokens_details": ["cached_tokens": 0],
                "output_tokens": output, "output_tokens_details": ["reasoning_tokens": reasoningTokens],
                "total_tokens": input + output]
    }

    /// The finished Response object.
    var response: [String: Any] {
        var object = snapshot(status: status)
        object["output"] = output
        object["usage"] = usage
        object["completed_at"] = incomplete ? NSNull() : call.created
        if incomplete { object["incomplete_details"] = ["reason": "max_output_tokens"] }
        return object
    }

    /// The Response object with `status`, no output and no usage (as the stream opens).
    func snapshot(status: String) -> [String: Any] {
        var object = request.echo
        let fields: [String: Any] = [
            "id": id, "object": "response", "created_at": call.created, "status": status,
            "background": request.background, "completed_at": NSNull(), "error": NSNull(),
            "incomplete_details": NSNull(), "instructions": request.instructions ?? NSNull() as Any,
            "max_output_tokens": request.maxOutputTokens ?? NSNull() as Any, "model": call.model,
            "output": [Any](), "parallel_tool_calls": request.parallelToolCalls,
            "previous_response_id": request.previousResponseID ?? NSNull() as Any,
            "reasoning": ["effort": request.effort ?? NSNull() as Any, "summary": request.summary ?? NSNull() as Any],
            "store": request.store, "text": request.text, "tool_choice": request.toolChoice, "tools": request.tools,
            "usage": NSNull(),
        ]
        object.merge(fields) { $1 }
        return object
    }

    /// An item's text, for echoes and token counts: a message's text parts joined by
    /// spaces, a call's arguments, a call output's text, a reasoning item's summary.
    static func text(of item: [String: Any]) -> String {
        switch item["type"] as? String {
        case "function_call": return item["arguments"] as? String ?? ""
        case "function_call_output":
            return item["output"] as? String ?? parts(item["output"], key: "text")
        case "reasoning": return parts(item["summary"], key: "text")
        default: return parts(item["content"], key: "text")
        }
    }

    private static func parts(_ raw: Any?, key: String) -> String {
        if let string = raw as? String { return string }
        return (raw as? [Any] ?? []).compactMap { ($0 as? [String: Any])?[key] as? String }.joined(separator: " ")
    }
}
