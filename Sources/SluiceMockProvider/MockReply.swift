import Foundation

/// What the mock will send for one request: decided purely, then written by
/// ``MockConnection`` with the timing and drop faults applied.
struct MockReply {
    enum Body {
        /// A whole `application/json` body.
        case json(Data)
        /// A `text/event-stream` body, one chunk per event.
        case events([MockEvent])
        /// An `application/vnd.amazon.eventstream` body (Bedrock): each event's payload is one
        /// whole binary message, sent as is in its own chunk.
        case eventStream([MockEvent])
        /// Any other body, with its content type (`garble=` faults).
        case raw(contentType: String, Data)
    }

    var status: Int
    var headers: [(String, String)] = []
    var body: Body
    /// The pause before the headers.
    var delay: Duration?
    /// The pause between stream events.
    var interval: Duration?
    /// The pause after the headers, before a stream's first event.
    var firstEvent: Duration?
    /// See ``MockFaults/drop``.
    var drop: Int?

    static func ok(_ object: Any) -> MockReply {
        MockReply(status: 200, body: .json(MockJSON.encode(object)))
    }

    static func error(_ error: MockAPIError) -> MockReply {
        MockReply(status: error.status, headers: error.headers, body: .json(error.body))
    }

    /// Takes over the timing and drop faults; `delay` falls back to `defaultDelay`.
    mutating func apply(_ faults: MockFaults, defaultDelay: Duration?) {
        delay = faults.delay ?? defaultDelay
        interval = faults.interval
        firstEvent = faults.firstEvent
        drop = faults.drop
        if let pad = faults.pad, case .json(var data) = body, data.last == UInt8(ascii: "}") {
            data.removeLast()
            data.append(contentsOf: Array(",\"mock_padding\":\"".utf8))
            data.append(Data(repeating: UInt8(ascii: "a"), count: pad))
            data.append(contentsOf: Array("\"}".utf8))
            body = .json(data)
        }
        if let garble = faults.garble, (200..<300).contains(status) { self.garble(garble) }
    }

    /// Replaces a successful answer's body with one that is not what it claims.
    private mutating func garble(_ kind: MockFaults.Garble) {
        switch kind {
        case .html:
            let page = "<!DOCTYPE html>\n<html><head><title>Network login</title></head>"
                + "<body><h1>Sign in to continue</h1><p>This network requires you to sign in.</p></body></html>\n"
            body = .raw(contentType: "text/html; charset=utf-8", Data(page.utf8))
        case .invalidJSON:
            body = .raw(contentType: "application/json", Data("{\"id\": \"resp-1\", \"object\": oops, }".utf8))
        case .truncatedJSON:
            let whole: Data
            switch body {
            case .json(let data): whole = data
            case .events(let events): whole = events.first?.payload ?? Data("{\"id\": \"resp-1\"}".utf8)
            case .eventStream, .raw: whole = Data("{\"id\": \"resp-1\", \"object\": \"chat.completion\"}".utf8)
            }
            body = .raw(contentType: "application/json", whole.prefix(max(1, whole.count / 2)))
        case .noEvents:
            body = .raw(contentType: "text/event-stream; charset=utf-8", Data(": keep-alive\n\n".utf8))
        case .badEvents:
            body = .raw(contentType: "text/event-stream; charset=utf-8",
                        Data("data: <html><body>Bad gateway</body></html>\n\ndata: [DONE]\n\n".utf8))
        }
    }
}

/// One server-sent event: `data: <payload>\n\n`, or `event: <name>\ndata: <payload>\n\n`
/// for a named event (Anthropic names every event after its `type`).
struct MockEvent: Sendable {
    /// The `event:` line's value, if the event has one.
    var name: String? = nil
    /// The `data:` line's value: a JSON chunk or `[DONE]`.
    var payload: Data
    /// Whether the event carries generated content (a text or tool-argument delta),
    /// which is what `drop=N` counts.
    var isContent: Bool

    /// The event as sent on the wire.
    var wire: Data {
        var data = Data()
        if let name { data.append(contentsOf: Array("event: \(name)\n".utf8)) }
        data.append(contentsOf: Array("data: ".utf8))
        data.append(payload)
        data.append(contentsOf: Array("\n\n".utf8))
        return data
    }

    static func chunk(_ object: Any, isContent: Bool = false) -> MockEvent {
        MockEvent(payload: MockJSON.encode(object), isContent: isContent)
    }

    /// A named event whose data is `object`; Anthropic's events carry their name as `type`.
    static func named(_ name: String, _ object: Any, isContent: Bool = false) -> MockEvent {
        MockEvent(name: name, payload: MockJSON.encode(object), isContent: isContent)
    }

    static let done = MockEvent(payload: Data("[DONE]".utf8), isContent: false)
}
