import Foundation

/// The misbehaviour one request asks for.
///
/// A request chooses faults in three ways, all with the same keys:
/// - a suffix on the model name after `@`, keys joined by commas:
///   `mock-model@status=429,retry_after=2`, `mock-model@delay=300ms,drop=3`
///   (the gateway rewrites the model name per route, so routes pick faults this way);
///   for Azure OpenAI the suffix goes on the deployment in the path, for Databricks on
///   the serving endpoint (`/serving-endpoints/chat@status=429/invocations`);
/// - headers `x-mock-status`, `x-mock-retry-after`, `x-mock-delay`, `x-mock-interval`, `x-mock-first-event`,
///   `x-mock-drop`, `x-mock-words`, `x-mock-quota`, `x-mock-tools`, `x-mock-stream-error`,
///   `x-mock-content-filter`, which win over the suffix;
/// - a runtime fault installed for the model with `POST /_mock/faults` (see
///   ``MockRuntimeFaults``), which replaces the suffix and headers entirely.
///
/// Keys:
/// - `status=N` (400–599): answer with the request's provider's error for that status
///   instead (OpenAI's here, typing `529`, Anthropic's "overloaded", like `503`; the other
///   fronts render it in their own shape, see `MockRouter+Anthropic.swift` and the others).
/// - `retry_after=S`: the `retry-after` header of that error (429 sends `1` when absent,
///   except for `quota`).
/// - `quota=1`: answer with OpenAI's `insufficient_quota` error, status 429 unless
///   `status` says otherwise, `retry-after` only when `retry_after` is given (Anthropic:
///   its 400 "credit balance is too low"). `quota=0` turns it off.
/// - `delay=D`: wait before the response headers.
/// - `interval=D`: wait between stream events.
/// - `first_event=D`: streams send their headers and (SSE) a `: processing` comment at
///   once, and their first event D later: a provider slow to its first token that keeps
///   the connection alive meanwhile.
/// - `drop=N`: streams close the connection after N content events (or after the last
///   one, if fewer), without the finish chunk or `[DONE]`; other responses close after
///   the headers and half the body.
/// - `words=N`: the answer repeats its words to exactly N words.
/// - `tools=N` (1–8): a tool-call answer calls N tools at once (Anthropic: N `tool_use`
///   blocks; OpenAI chat, Azure, Databricks: N `tool_calls`), to test per-index stream
///   assembly.
/// - `stream_error=N`: Anthropic streams (Bedrock: see below): after N content events (or after the
///   last one, if fewer) send `event: error` with an `overloaded_error` and end the
///   stream without `message_stop`, as Anthropic does when it fails mid-stream.
///   OpenAI Responses API streams: after N deltas an `error` event
///   (`{"type": "error", "code": "server_error", …}`) and no `response.completed`; the
///   response is not stored (see `MockResponses+Stream.swift`).
/// - `pad=N`: a JSON answer carries an extra top-level member `"mock_padding"` whose
///   string is N bytes long (up to 64 MiB): large answers without generating words.
/// - `garble=KIND`: a successful answer (status 2xx) that is not what it claims, as a
///   misbehaving provider or something in front of it (a captive portal, a misrouted load
///   balancer) sends it: `html` — `200 text/html` with an HTML page, for JSON and stream
///   requests alike; `invalid_json` — `200 application/json` whose body is not JSON;
///   `truncated_json` — `200 application/json` with the first half of the real body (the
///   `content-length` matches what is sent); `no_events` — a stream request gets `200
///   text/event-stream` with only a comment line and then the end of the body;
///   `bad_events` — `200 text/event-stream` whose events carry an HTML line, not JSON. Error
///   answers (`status=`) are never garbled.
/// - `context_window=N`: a request body of more than 4·N bytes (about N tokens) gets the
///   provider's own "context length exceeded" 400: OpenAI's `context_length_exceeded`
///   code, Anthropic's `prompt is too long: M tokens > N maximum`.
/// - `content_filter=1`: Azure OpenAI only: answer with Azure's 400 `content_filter`
///   error for the prompt.
/// - `tools`, `exception`, `stream_exception`, `stream_error`, `bad_crc` on Bedrock paths:
///   see ``MockBedrockFaults``.
///
/// Durations are `300ms`, `2s`, `1.5s`, or a bare number of milliseconds.
struct MockFaults: Sendable, Equatable {
    var status: Int?
    var retryAfter: String?
    var delay: Duration?
    var interval: Duration?
    var firstEvent: Duration?
    var drop: Int?
    var words: Int?
    var quota = false
    var tools: Int?
    var streamError: Int?
    var contentFilter = false
    var garble: Garble?
    var pad: Int?
    var contextWindow: Int?
    /// Keys only the Bedrock paths use.
    var bedrock = MockBedrockFaults()

    private static let headerKeys = ["status", "retry_after", "delay", "interval", "first_event", "drop", "words", "quota",
                                     "tools", "stream_error", "content_filter", "garble", "pad", "context_window"]

    /// What `garble=` makes of a successful answer.
    enum Garble: String, Sendable, CaseIterable {
        case html
        case invalidJSON = "invalid_json"
        case truncatedJSON = "truncated_json"
        case noEvents = "no_events"
        case badEvents = "bad_events"
    }

    /// Splits `model@faults` into the model name and the fault text after the first `@`.
    static func split(model: String) -> (name: String, faults: String?) {
        guard let at = model.firstIndex(of: "@") else { return (model, nil) }
        return (String(model[..<at]), String(model[model.index(after: at)...]))
    }

    /// The faults of a model suffix, then of the `x-mock-*` headers.
    static func parse(suffix: String?, request: HTTPRequest) throws(MockAPIError) -> MockFaults {
        var faults = try parse(suffix ?? "")
        for key in headerKeys + MockBedrockFaults.keys {
            let header = "x-mock-" + key.replacingOccurrences(of: "_", with: "-")
            if let value = request.header(header) {
                try faults.set(key, value, param: "model")
            }
        }
        return faults
    }

    /// The faults of a comma-separated `key=value` text, as after the `@` of a model;
    /// errors name `param` as the culprit.
    static func parse(_ text: String, param: String = "model") throws(MockAPIError) -> MockFaults {
        var faults = MockFaults()
        for item in text.split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { throw .invalidValue(param, "mock fault '\(item)' is not key=value.") }
            try faults.set(pair[0], pair[1], param: param)
        }
        return faults
    }

    /// The tokens a body of `bytes` bytes is taken for, when it is more than the
    /// `context_window` fault allows.
    func tokensOverWindow(bodyBytes bytes: Int) -> (tokens: Int, window: Int)? {
        guard let contextWindow, bytes > contextWindow * 4 else { return nil }
        return ((bytes + 3) / 4, contextWindow)
    }

    /// The error these faults answer with instead of a normal reply, if any.
    var injectedError: MockAPIError? {
        if quota { return .insufficientQuota(status: status ?? 429, retryAfter: retryAfter) }
        return status.map { .injected(status: $0, retryAfter: retryAfter) }
    }

    private mutating func set(_ key: String, _ value: String, param: String) throws(MockAPIError) {
        switch key.replacingOccurrences(of: "-", with: "_") {
        case "status":
            guard let status = Int(value), (400...599).contains(status) else { throw Self.bad(key, value, param) }
            self.status = status
        case "retry_after":
            guard let seconds = Int(value), seconds >= 0 else { throw Self.bad(key, value, param) }
            retryAfter = String(seconds)
        case "delay":
            delay = try Self.duration(key, value, param)
        case "interval":
            interval = try Self.duration(key, value, param)
        case "first_event":
            firstEvent = try Self.duration(key, value, param)
        case "drop":
            guard let count = Int(value), count >= 0 else { throw Self.bad(key, value, param) }
            drop = count
        case "words":
            guard let count = Int(value), count >= 1 else { throw Self.bad(key, value, param) }
            words = count
        case "quota":
            guard value == "0" || value == "1" else { throw Self.bad(key, value, param) }
            quota = value == "1"
        case "tools":
            guard let count = Int(value), (1...8).contains(count) else { throw Self.bad(key, value, param) }
            tools = count
            _ = try bedrock.set(key, value, param: param)
        case "stream_error":
            guard let count = Int(value), count >= 0 else { throw Self.bad(key, value, param) }
            streamError = count
            _ = try bedrock.set(key, value, param: param)
        case "content_filter":
            guard value == "0" || value == "1" else { throw Self.bad(key, value, param) }
            contentFilter = value == "1"
        case "pad":
            guard let bytes = Int(value), (0...(64 << 20)).contains(bytes) else { throw Self.bad(key, value, param) }
            pad = bytes
        case "context_window":
            guard let tokens = Int(value), tokens >= 1 else { throw Self.bad(key, value, param) }
            contextWindow = tokens
        case "garble":
            guard let kind = Garble(rawValue: value) else { throw Self.bad(key, value, param) }
            garble = kind
        case let other where try bedrock.set(other, value, param: param):
            break
        default:
            let known = (Self.headerKeys + MockBedrockFaults.keys).joined(separator: ", ")
            throw .invalidValue(param, "unknown mock fault '\(key)'; known: \(known).")
        }
    }

    private static func duration(_ key: String, _ value: String, _ param: String) throws(MockAPIError) -> Duration {
        let (number, scale): (Substring, Double) =
            if value.hasSuffix("ms") { (value.dropLast(2), 1) }
            else if value.hasSuffix("s") { (value.dropLast(1), 1000) }
            else { (Substring(value), 1) }
        guard let amount = Double(number), amount >= 0, amount.isFinite else { throw bad(key, value, param) }
        return .milliseconds(Int((amount * scale).rounded()))
    }

    private static func bad(_ key: String, _ value: String, _ param: String) -> MockAPIError {
        .invalidValue(param, "mock fault \(key)=\(value) is out of range or malformed.")
    }
}
