import Foundation
import Synchronization

/// Counters of what the mock received and how its streams ended, served at
/// `GET /_mock/stats` and zeroed by `POST /_mock/reset`. Requests to `/_mock/…` are not
/// counted.
///
/// ```json
/// {"requests": 3, "by_path": {"/v1/chat/completions": 3},
///  "by_model": {"gpt-x": 2, "gpt-x@status=500": 1},
///  "by_api": {"openai": 3, "anthropic": 0, "azure": 0, "databricks": 0}, "keep_warm_pings": 1,
///  "streams_started": 2, "streams_completed": 1, "streams_aborted": 1, "streams_dropped": 0,
///  "responses_abandoned": 0, "by_user": {"call-7": 1},
///  "last_request": {"method": "POST", "path": "/v1/chat/completions", "query": "",
///                   "api": "openai", "headers": {"authorization": "Bearer …"}, "body": "{…}",
///                   "body_base64": "eyLigKYifQ=="}}
/// ```
/// - `by_model`: keyed by the Azure deployment or Databricks endpoint named in the path,
///   else by the body's string `model` when the body is a JSON object with one; exactly
///   as sent (`@` fault suffix included), whatever the answer.
/// - `by_path`: the path as sent, query excluded, so a Responses API lookup counts under
///   `/v1/responses/{id}` (or `…/input_items`, `…/cancel`) and creation under `/v1/responses`.
/// - `by_api`: which wire format the path speaks (see ``MockRoute``); every API is
///   listed, with 0 when unused (Responses API paths count as `openai`, or `azure` under
///   `/openai/`).
/// - `last_request.query`: the query string without its `?` (Azure's `api-version`).
/// - `last_request.headers`: every header by lowercased name (`anthropic-version`,
///   `anthropic-beta`, `x-api-key`, …); `body`: the body as text; `body_base64`: the
///   body's exact bytes, for byte-for-byte comparison (`body` replaces invalid UTF-8).
///   Bedrock requests by the model id of their path, percent-decoded (suffix included).
/// - `keep_warm_pings`: requests carrying an `x-sluice-keep-warm` header (any value);
///   they are counted in `requests`, `by_path` and `by_model` as well, but never become
///   `last_request` (a warm endpoint's pings would otherwise race a test's own call).
/// - `streams_aborted`: the client went away mid-stream (a write failed or it hung up).
/// - `streams_dropped`: the mock closed a stream on purpose (`drop` fault).
/// - `responses_abandoned`: the client went away during a `delay`, before the headers.
///
/// The router adds Bedrock's authentication counters (``MockBedrockAuthLog``).
final class MockStats: Sendable {
    /// How a stream that started ended.
    enum StreamEnd {
        case completed, aborted, dropped
    }

    private struct LastRequest {
        var method: String
        var path: String
        var query: String
        var api: MockAPI
        var headers: [String: String]
        var body: Data
    }

    private struct Counters {
        var requests = 0
        var byPath: [String: Int] = [:]
        var byModel: [String: Int] = [:]
        var byAPI: [MockAPI: Int] = [:]
        var keepWarmPings = 0
        var streamsStarted = 0
        var streamsCompleted = 0
        var streamsAborted = 0
        var streamsDropped = 0
        var responsesAbandoned = 0
        var lastRequest: LastRequest?
        /// Requests by the body's top-level `"user"` (OpenAI's end-user id), so a test can tell
        /// whether one client call reached the provider more than once.
        var byUser: [String: Int] = [:]
    }

    private let counters = Mutex(Counters())

    /// Counts a request that `route` serves and keeps it as the last one (unless it is a
    /// keep-warm ping); repeated
    /// headers are joined with ", ". `model` counts it under that model instead of the
    /// route's choice (Bedrock names it in the path).
    func record(_ request: HTTPRequest, route: MockRoute, model pathModel: String? = nil) {
        var headers: [String: String] = [:]
        for (name, value) in request.headers {
            headers[name] = headers[name].map { "\($0), \(value)" } ?? value
        }
        let query = request.target.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        let last = LastRequest(method: request.method, path: request.path, query: query, api: route.api,
                               headers: headers, body: request.body)
        let model = pathModel ?? route.statsModel(body: request.body)
        let keepWarm = request.header("x-sluice-keep-warm") != nil
        let user = Self.endUser(request.body)
        counters.withLock {
            if let user { $0.byUser[user, default: 0] += 1 }
            $0.requests += 1
            $0.byPath[request.path, default: 0] += 1
            if let model { $0.byModel[model, default: 0] += 1 }
            $0.byAPI[route.api, default: 0] += 1
            if keepWarm { $0.keepWarmPings += 1 } else { $0.lastRequest = last }
        }
    }

    /// The body's top-level `"user"` string, if it has one.
    private static func endUser(_ body: Data) -> String? {
        guard body.range(of: Data(#""user":"#.utf8)) != nil,
              let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return nil }
        return object["user"] as? String
    }

    func streamStarted() {
        counters.withLock { $0.streamsStarted += 1 }
    }

    func streamEnded(_ end: StreamEnd) {
        counters.withLock {
            switch end {
            case .completed: $0.streamsCompleted += 1
            case .aborted: $0.streamsAborted += 1
            case .dropped: $0.streamsDropped += 1
            }
        }
    }

    func responseAbandoned() {
        counters.withLock { $0.responsesAbandoned += 1 }
    }

    func reset() {
        counters.withLock { $0 = Counters() }
    }

    /// The counters as the JSON object above.
    func snapshot() -> [String: Any] {
        let now = counters.withLock { $0 }
        let last: Any = now.lastRequest.map { request -> [String: Any] in
            ["method": request.method, "path": request.path, "query": request.query, "api": request.api.rawValue,
             "headers": request.headers, "body": String(decoding: request.body, as: UTF8.self),
             "body_base64": request.body.base64EncodedString()]
        } ?? NSNull()
        return [
            "requests": now.requests,
            "by_path": now.byPath,
            "by_model": now.byModel,
            "by_api": Dictionary(uniqueKeysWithValues: MockAPI.allCases.map { ($0.rawValue, now.byAPI[$0] ?? 0) }),
            "keep_warm_pings": now.keepWarmPings,
            "streams_started": now.streamsStarted,
            "streams_completed": now.streamsCompleted,
            "streams_aborted": now.streamsAborted,
            "streams_dropped": now.streamsDropped,
            "responses_abandoned": now.responsesAbandoned,
            "last_request": last,
            "by_user": now.byUser,
        ]
    }
}
