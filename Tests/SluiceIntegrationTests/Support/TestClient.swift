import Foundation
import SluiceCore
import SluiceHTTP

/// An HTTP response as a test sees it, with the arrival time of every body chunk.
struct TestResponse {
    var status = 0
    var headers: [(name: String, value: String)] = []
    var body: [UInt8] = []
    var chunks: [(at: ContinuousClock.Instant, bytes: [UInt8])] = []
    var outcome: UpstreamOutcome = .completed(status: 0)

    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { headers.first { $0.name == name.lowercased() }?.value }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    var errorType: String? { (json["error"] as? [String: Any])?["type"] as? String }
    /// The `data:` payloads of a server-sent-event body, in order.
    var events: [String] {
        text.components(separatedBy: "\n").filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
    }
    /// The (event name, JSON object) pairs of a named-event stream (Anthropic's).
    var namedEvents: [(name: String, data: [String: Any])] {
        text.components(separatedBy: "\n\n").compactMap { block in
            let lines = block.components(separatedBy: "\n")
            guard let name = lines.first(where: { $0.hasPrefix("event: ") })?.dropFirst(7),
                  let data = lines.first(where: { $0.hasPrefix("data: ") })?.dropFirst(6),
                  let object = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else { return nil }
            return (String(name), object)
        }
    }
}

/// Drives the gateway over real HTTP (libcurl through Sluice's own adapter).
final class TestClient: Sendable {
    let baseURL: String

    init(baseURL: String) {
        self.baseURL = baseURL
    }

    /// Sends a request. `abortAfterFirstChunk` hangs up as soon as body bytes arrive.
    func send(_ method: UpstreamRequest.Method = .post, _ path: String, headers: [(String, String)] = [],
              body: String = "", abortAfterFirstChunk: Bool = false, timeout: Duration = .seconds(30)) -> TestResponse {
        let recorder = Recorder(abortAfterFirstChunk: abortAfterFirstChunk)
        let limits = TransferLimits(connect: .seconds(5), firstByte: timeout, idle: timeout, total: timeout)
        var allHeaders = headers.map { (name: $0.0, value: $0.1) }
        if method == .post && !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
            allHeaders.append(("Content-Type", "application/json"))
        }
        let request = UpstreamRequest(method: method, url: baseURL + path, headers: allHeaders, body: Array(body.utf8),
                                      limits: limits)
        let outcome = HTTPClient().perform(request, handler: recorder)
        recorder.response.outcome = outcome
        return recorder.response
    }

    /// POST with a gateway key as a bearer token.
    func post(_ path: String, key: String?, _ body: String, extraHeaders: [(String, String)] = [],
              abortAfterFirstChunk: Bool = false) -> TestResponse {
        var headers = extraHeaders
        if let key { headers.append(("Authorization", "Bearer \(key)")) }
        return send(.post, path, headers: headers, body: body, abortAfterFirstChunk: abortAfterFirstChunk)
    }

    private final class Recorder: UpstreamResponseHandler {
        var response = TestResponse()
        let abortAfterFirstChunk: Bool

        init(abortAfterFirstChunk: Bool) {
            self.abortAfterFirstChunk = abortAfterFirstChunk
        }

        func didReceiveHead(status: Int, headers: [(name: String, value: String)]) -> Bool {
            response.status = status
            response.headers = headers
            return true
        }

        func didReceive(_ bytes: UnsafeRawBufferPointer) -> Bool {
            response.body.append(contentsOf: bytes)
            response.chunks.append((.now, Array(bytes)))
            return !abortAfterFirstChunk
        }

        func shouldContinue() -> Bool { true }
    }
}
