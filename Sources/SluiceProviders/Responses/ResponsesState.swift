import SluiceCore

/// What the gateway keeps in Redis for one response id (`RedisKeys.response`), as JSON:
/// - a *pin* for a response an OpenAI-family provider holds: which endpoint (so which
///   account) produced it, so follow-ups and `GET`/`DELETE`/`cancel`/`input_items` go there;
/// - a *kept* conversation for a translated route: the chat messages so far (input and
///   output of every turn, signed thinking blocks included), the input items and the
///   Response object, for `previous_response_id` and the retrieval endpoints.
/// Both name their owner (a key id or principal): another caller is told the id does
/// not exist.
public struct ResponsesState: Sendable {
    public var owner: String
    public var route: String
    public var endpoint: String
    /// A pin (the provider holds the response) rather than a kept conversation.
    public var pinned: Bool
    /// Kept: the conversation as a JSON array of chat messages.
    public var messages: [UInt8]
    /// Kept: the input items as a JSON array.
    public var inputItems: [UInt8]
    /// Kept: the Response object.
    public var response: [UInt8]

    public static func pin(owner: String, route: String, endpoint: String) -> ResponsesState {
        ResponsesState(owner: owner, route: route, endpoint: endpoint, pinned: true, messages: Array("[]".utf8),
                       inputItems: Array("[]".utf8), response: Array("null".utf8))
    }

    /// A kept conversation: `history` (the previous turn's messages, or `nil`), then this
    /// turn's input and the assistant's message.
    public static func kept(owner: String, route: String, endpoint: String, history: [UInt8]?, input: [UInt8],
                            assistant: [UInt8], inputItems: [UInt8], response: [UInt8]) -> ResponsesState {
        func list(_ bytes: [UInt8]?) -> [JSONValue] {
            bytes.flatMap { JSONValue.parseObject(Array("{\"l\":".utf8) + $0 + Array("}".utf8))?["l"]?.arrayValue } ?? []
        }
        let assistantMessage = JSONValue.parseObject(assistant).map { [JSONValue.object($0)] } ?? []
        let messages = list(history) + list(input) + assistantMessage
        return ResponsesState(owner: owner, route: route, endpoint: endpoint, pinned: false,
                              messages: Array(JSONValue.array(messages).encoded.utf8), inputItems: inputItems,
                              response: response)
    }

    /// The JSON kept in Redis.
    public var encoded: [UInt8] {
        func raw(_ bytes: [UInt8]) -> JSONValue {
            JSONValue.parseObject(Array("{\"v\":".utf8) + bytes + Array("}".utf8))?["v"] ?? .null
        }
        return JSONObject([
            ("v", .int(1)), ("owner", .string(owner)), ("route", .string(route)), ("endpoint", .string(endpoint)),
            ("pinned", .bool(pinned)), ("messages", raw(messages)), ("input_items", raw(inputItems)),
            ("response", raw(response)),
        ]).bytes
    }

    public init?(decoding bytes: [UInt8]) {
        guard let object = JSONValue.parseObject(bytes), let owner = object["owner"]?.stringValue,
              let route = object["route"]?.stringValue, let endpoint = object["endpoint"]?.stringValue else { return nil }
        self.init(owner: owner, route: route, endpoint: endpoint, pinned: object["pinned"]?.boolValue ?? false,
                  messages: Array((object["messages"] ?? .array([])).encoded.utf8),
                  inputItems: Array((object["input_items"] ?? .array([])).encoded.utf8),
                  response: Array((object["response"] ?? .null).encoded.utf8))
    }

    init(owner: String, route: String, endpoint: String, pinned: Bool, messages: [UInt8], inputItems: [UInt8],
         response: [UInt8]) {
        self.owner = owner
        self.route = route
        self.endpoint = endpoint
        self.pinned = pinned
        self.messages = messages
        self.inputItems = inputItems
        self.response = response
    }
}
