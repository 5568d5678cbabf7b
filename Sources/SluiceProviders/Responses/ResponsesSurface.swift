import Foundation
import SluiceCore

/// OpenAI's Responses API served from routes whose provider has none (Anthropic,
/// Bedrock, Databricks): pure functions from a Responses request to the canonical chat
/// body, from a chat completion (or chunk stream) to a Response object (or the
/// Responses event stream), and the state the gateway keeps for `store` and
/// `previous_response_id`. On OpenAI-family providers the API passes through instead
/// (`ResponsesPassthrough`).
public enum ResponsesSurface {
    /// The chat body for `body` after the stored conversation `history` (a JSON array of
    /// chat messages, or `nil`), and the new input as chat messages (a JSON array).
    public static func chatRequest(fromResponses body: [UInt8], history: [UInt8]?,
                                   for target: MessagesTarget) throws(GatewayError) -> (chat: [UInt8], input: [UInt8]) {
        let previous = history.flatMap { JSONValue.parseObject(Array("{\"m\":".utf8) + $0 + Array("}".utf8))?["m"]?.arrayValue } ?? []
        let made = try ResponsesRequestBody.make(from: body, history: previous, for: target)
        return (made.chat, Array(JSONValue.array(made.inputMessages).encoded.utf8))
    }

    /// The Response object for a chat completion, and the assistant's chat message (for
    /// the stored conversation).
    public static func responseObject(fromChatCompletion body: [UInt8],
                                      context: ResponsesContext) throws(GatewayError) -> (response: [UInt8], assistant: [UInt8]) {
        guard let completion = JSONValue.parseObject(body),
              let choice = completion["choices"]?.arrayValue?.first?.objectValue,
              let message = choice["message"]?.objectValue else {
            throw GatewayError(.upstreamError, "The provider's answer is not a chat completion.")
        }
        var output: [JSONValue] = []
        if let item = ResponsesItems.reasoning(text: message["reasoning_content"]?.stringValue ?? "",
                                               blocks: message["thinking_blocks"]?.arrayValue ?? [], context: context) {
            output.append(item)
        }
        let text: String?
        switch message["content"] {
        case .string(let string)?: text = string
        case .array(let parts)?: text = parts.compactMap { $0["text"]?.stringValue }.joined()
        default: text = nil
        }
        if let refusal = message["refusal"]?.stringValue {
            output.append(ResponsesItems.message(id: ResponsesItems.newID("msg"), parts: [
                .object(JSONObject([("type", .string("refusal")), ("refusal", .string(refusal))]))], done: true))
        } else if let text, !text.isEmpty || message["tool_calls"] == nil {
            output.append(ResponsesItems.message(id: ResponsesItems.newID("msg"), parts: [ResponsesItems.outputText(text)],
                                                 done: true))
        }
        for call in message["tool_calls"]?.arrayValue ?? [] {
            output.append(ResponsesItems.functionCall(id: ResponsesItems.newID("fc"), callID: call["id"]?.stringValue ?? "",
                                                      name: call["function"]?["name"]?.stringValue ?? "",
                                                      arguments: call["function"]?["arguments"]?.stringValue ?? "", done: true))
        }
        let finish = choice["finish_reason"]?.stringValue
        let response = context.object(status: ResponsesItems.status(finish), output: output,
                                      usage: completion["usage"]?.objectValue, finish: finish)
        var assistant = JSONObject([("role", .string("assistant")), ("content", message["content"] ?? .null)])
        for key in ["tool_calls", "thinking_blocks"] { if let value = message[key] { assistant[key] = value } }
        return (response.bytes, assistant.bytes)
    }

    /// A fresh translator from chat chunks to Responses events; `outcome` receives the
    /// final Response object and the assistant's chat message.
    public static func streamTranslator(context: ResponsesContext, outcome: ResponsesStreamOutcome) -> StreamTranslator {
        ResponsesStreamTranslator(context: context, outcome: outcome)
    }

    /// `error` as a Responses stream `error` event.
    public static func streamErrorEvent(for error: GatewayError, sequence: Int) -> [UInt8] {
        let payload = JSONObject([("type", .string("error")), ("code", .string(error.code.rawValue)),
                                  ("message", .string(error.message)), ("param", error.param.map(JSONValue.string) ?? .null),
                                  ("sequence_number", .int(sequence))])
        return Array(ServerSentEvent.named("error", payload.encoded).utf8)
    }

    /// The client's input items (for `GET /v1/responses/{id}/input_items`), each with an id.
    public static func inputItems(fromResponses body: [UInt8]) -> [UInt8] {
        let input = JSONValue.parseObject(body)?["input"]
        var items: [JSONValue] = []
        switch input {
        case .string(let text)?:
            items = [ResponsesItems.inputMessage(role: "user", content: .array([
                .object(JSONObject([("type", .string("input_text")), ("text", .string(text))]))]))]
        case .array(let list)?:
            items = list.map { item in
                guard var object = item.objectValue else { return item }
                if object["type"] == nil { object["type"] = .string("message") }
                if object["id"] == nil {
                    let prefix = object["type"]?.stringValue == "function_call_output" ? "fco" : "msg"
                    object["id"] = .string(ResponsesItems.newID(prefix))
                }
                if object["type"]?.stringValue == "message", case .string(let text)? = object["content"] {
                    object["content"] = .array([.object(JSONObject([("type", .string("input_text")), ("text", .string(text))]))])
                }
                return .object(object)
            }
        default: break
        }
        return Array(JSONValue.array(items).encoded.utf8)
    }

    /// `{"object":"list","data":[…],"first_id","last_id","has_more":false}` for stored items.
    public static func itemList(_ items: [UInt8]) -> [UInt8] {
        let list = JSONValue.parseObject(Array("{\"l\":".utf8) + items + Array("}".utf8))?["l"]?.arrayValue ?? []
        let out = JSONObject([("object", .string("list")), ("data", .array(list)),
                              ("first_id", list.first?["id"] ?? .null), ("last_id", list.last?["id"] ?? .null),
                              ("has_more", .bool(false))])
        return out.bytes
    }

    /// `{"id": …, "object": "response.deleted", "deleted": true}`.
    public static func deleted(_ id: String) -> [UInt8] {
        JSONObject([("id", .string(id)), ("object", .string("response.deleted")), ("deleted", .bool(true))]).bytes
    }
}

/// One Responses call on a translated route: its id, the fields its Response object
/// echoes, and whether its conversation is kept.
public struct ResponsesContext: Sendable {
    /// `resp_…`, chosen before the call so the state can be kept under it.
    public let id: String
    public let createdAt: Int
    /// The route the client named (`model`).
    public let model: String
    /// `store` (default true).
    public let store: Bool
    public let previousResponseID: String?
    /// The client's request body.
    public let requestBody: [UInt8]
    let request: JSONObject
    let wantsSummary: Bool

    public init(request body: [UInt8], model: String, now: Int = Int(Date().timeIntervalSince1970)) {
        let object = JSONValue.parseObject(body) ?? JSONObject()
        self.id = ResponsesItems.newID("resp")
        self.createdAt = now
        self.model = model
        self.request = object
        self.requestBody = body
        self.store = object["store"]?.boolValue ?? true
        self.previousResponseID = object["previous_response_id"]?.stringValue
        let summary = object["reasoning"]?["summary"]?.stringValue
        self.wantsSummary = summary != nil && summary != "none"
    }

    /// The Response object in a state (`in_progress`, `completed`, `incomplete`).
    func object(status: String, output: [JSONValue], usage: JSONObject?, finish: String?) -> JSONObject {
        func echo(_ key: String, _ fallback: JSONValue) -> JSONValue {
            guard let value = request[key], !value.isNull else { return fallback }
            return value
        }
        var reasoning = JSONObject([("effort", request["reasoning"]?["effort"] ?? .null),
                                    ("summary", request["reasoning"]?["summary"] ?? .null)])
        if request["reasoning"] == nil { reasoning = JSONObject([("effort", .null), ("summary", .null)]) }
        var incomplete: JSONValue = .null
        if status == "incomplete" {
            let reason = finish == "content_filter" ? "content_filter" : "max_output_tokens"
            incomplete = .object(JSONObject([("reason", .string(reason))]))
        }
        return JSONObject([
            ("id", .string(id)), ("object", .string("response")), ("created_at", .int(createdAt)),
            ("status", .string(status)), ("background", .bool(false)), ("error", .null),
            ("incomplete_details", incomplete), ("instructions", echo("instructions", .null)),
            ("max_output_tokens", echo("max_output_tokens", .null)), ("model", .string(model)),
            ("output", .array(output)), ("parallel_tool_calls", echo("parallel_tool_calls", .bool(true))),
            ("previous_response_id", echo("previous_response_id", .null)), ("reasoning", .object(reasoning)),
            ("service_tier", .string("default")), ("store", .bool(store)),
            ("temperature", echo("temperature", .int(1))),
            ("text", echo("text", .object(JSONObject([("format", .object(JSONObject([("type", .string("text"))])))])))),
            ("tool_choice", echo("tool_choice", .string("auto"))), ("tools", echo("tools", .array([]))),
            ("top_p", echo("top_p", .int(1))), ("truncation", .string("disabled")),
            ("usage", usage.map { .object(ResponsesItems.usage($0)) } ?? .null),
            ("user", echo("user", .null)), ("metadata", echo("metadata", .object(JSONObject()))),
        ])
    }
}

/// Receives what a translated Responses stream ended with, for the stored conversation.
public final class ResponsesStreamOutcome: @unchecked Sendable {
    /// The final Response object (completed or incomplete).
    public var response: [UInt8]?
    /// The assistant's chat message (content, tool calls, thinking blocks).
    public var assistant: [UInt8]?
    /// Events written so far: the next event's `sequence_number`.
    public internal(set) var sequence = 0
    /// A native stream's response id (`response.created`).
    public internal(set) var responseID: String?

    public init() {}
}

/// Output items and usage in the Responses API's shapes (openai-python `types/responses`).
enum ResponsesItems {
    static func newID(_ prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return prefix + "_" + String((0..<32).map { _ in digits[Int(generator.next() % 16)] })
    }

    static func outputText(_ text: String) -> JSONValue {
        .object(JSONObject([("type", .string("output_text")), ("text", .string(text)), ("annotations", .array([])),
                            ("logprobs", .array([]))]))
    }

    static func message(id: String, parts: [JSONValue], done: Bool) -> JSONValue {
        .object(JSONObject([("id", .string(id)), ("type", .string("message")),
                            ("status", .string(done ? "completed" : "in_progress")), ("role", .string("assistant")),
                            ("content", .array(parts))]))
    }

    static func inputMessage(role: String, content: JSONValue) -> JSONValue {
        .object(JSONObject([("id", .string(newID("msg"))), ("type", .string("message")), ("role", .string(role)),
                            ("content", content)]))
    }

    static func functionCall(id: String, callID: String, name: String, arguments: String, done: Bool) -> JSONValue {
        .object(JSONObject([("id", .string(id)), ("type", .string("function_call")),
                            ("status", .string(done ? "completed" : "in_progress")), ("arguments", .string(arguments)),
                            ("call_id", .string(callID)), ("name", .string(name))]))
    }

    /// A reasoning item for the thinking text and its signed blocks; `nil` when there is none.
    static func reasoning(text: String, blocks: [JSONValue], context: ResponsesContext, id: String? = nil) -> JSONValue? {
        guard !text.isEmpty || !blocks.isEmpty else { return nil }
        var summary: [JSONValue] = []
        if context.wantsSummary, !text.isEmpty {
            summary = [.object(JSONObject([("type", .string("summary_text")), ("text", .string(text))]))]
        }
        var item = JSONObject([("id", .string(id ?? newID("rs"))), ("type", .string("reasoning")), ("summary", .array(summary))])
        item["encrypted_content"] = blocks.isEmpty ? .null : .string(ReasoningEnvelope.encode(blocks))
        return .object(item)
    }

    /// `completed`, or `incomplete` for an answer cut at the token cap or by a filter.
    static func status(_ finishReason: String?) -> String {
        finishReason == "length" || finishReason == "content_filter" ? "incomplete" : "completed"
    }

    /// A chat `usage` object in the Responses API's terms.
    static func usage(_ chat: JSONObject) -> JSONObject {
        let input = chat["prompt_tokens"]?.tokenCount ?? 0
        let output = chat["completion_tokens"]?.tokenCount ?? 0
        var out = JSONObject([
            ("input_tokens", .int(input)),
            ("input_tokens_details", .object(JSONObject([("cached_tokens",
                                                          .int(chat["prompt_tokens_details"]?["cached_tokens"]?.tokenCount ?? 0))]))),
            ("output_tokens", .int(output)),
            ("output_tokens_details", .object(JSONObject([("reasoning_tokens",
                                                           .int(chat["completion_tokens_details"]?["reasoning_tokens"]?.tokenCount ?? 0))]))),
            ("total_tokens", .int(input + output)),
        ])
        // Cache writes, which the Responses usage has no field for, as for chat completions.
        if let writes = chat["cache_creation_input_tokens"] { out["cache_creation_input_tokens"] = writes }
        if let split = chat["cache_creation"] { out["cache_creation"] = split }
        return out
    }
}
