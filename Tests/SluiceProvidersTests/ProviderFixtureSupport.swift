import Foundation
import SluiceCore
import SluiceProviders
import XCTest

/// Helpers for the translating providers' golden fixtures: JSON is compared as values
/// (key order and spacing aside), and the ids and timestamps the gateway makes up are
/// normalised to `chatcmpl-ID` and `0`.
enum ProviderFixtures {
    static let limits = TransferLimits(connect: .seconds(1), firstByte: .seconds(2), idle: .seconds(3), total: .seconds(4))

    static func json(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(fixture(path, file: file, line: line)), options: [.fragmentsAllowed])
    }

    static func request(_ path: String, _ operation: APIOperation = .chatCompletions) throws -> APIRequest {
        try APIRequest(operation: operation, body: fixture(path))
    }

    /// `upstream` against `{method, url, headers, body}` in a fixture; `headers` lists the
    /// headers that must be there (others, such as credentials, are checked by the caller).
    static func assertUpstream(_ upstream: UpstreamRequest, matches path: String,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try XCTUnwrap(json(path) as? [String: Any], file: file, line: line)
        XCTAssertEqual(upstream.method.rawValue, expected["method"] as? String, file: file, line: line)
        XCTAssertEqual(upstream.url, expected["url"] as? String, file: file, line: line)
        for (name, value) in expected["headers"] as? [String: String] ?? [:] {
            XCTAssertEqual(upstream.headers.filter { $0.name == name }.map(\.value), [value], "header \(name)", file: file, line: line)
        }
        let body = try JSONSerialization.jsonObject(with: Data(upstream.body))
        assertJSON(body, expected["body"] as Any, file: file, line: line)
    }

    /// Two JSON values are equal.
    static func assertJSON(_ actual: Any, _ expected: Any, file: StaticString = #filePath, line: UInt = #line) {
        let actualText = canonical(actual), expectedText = canonical(expected)
        XCTAssertEqual(actualText, expectedText, file: file, line: line)
    }

    /// A translated body with its generated `id` / `created` replaced, as a JSON value.
    static func normalised(_ body: [UInt8], generated: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws -> Any {
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], file: file, line: line)
        if let id = object["id"] as? String, generated {
            XCTAssertTrue(id.hasPrefix("chatcmpl-") && id.count == 33, "id \(id)", file: file, line: line)
            object["id"] = "chatcmpl-ID"
        }
        if let created = object["created"] as? Int, generated {
            XCTAssertGreaterThan(created, 1_700_000_000, file: file, line: line)
            object["created"] = 0
        }
        return object
    }

    /// A translated SSE transcript with every event's `id` / `created` normalised, one
    /// string per event, for comparing with an `.sse` fixture event by event.
    static func normalisedEvents(_ transcript: [UInt8], generated: Bool = true) throws -> [String] {
        var framer = SSEFramer()
        var events: [String] = []
        var failure: Error?
        _ = transcript.withUnsafeBytes { raw in
            framer.feed(raw) { event in
                guard let data = SSEFramer.data(of: event) else { return true }
                if data.elementsEqual("[DONE]".utf8) || data.starts(with: Array(#"{"error""#.utf8)) {
                    events.append(String(decoding: data, as: UTF8.self))
                    return true
                }
                do {
                    events.append(canonical(try normalised(Array(data), generated: generated)))
                } catch {
                    failure = error
                }
                return true
            }
        }
        if let failure { throw failure }
        XCTAssertEqual(framer.unfinished, [], "the transcript ends with a complete event")
        return events
    }

    static func canonical(_ value: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys]) else { return "\(value)" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The upstream event stream of a fixture: `[{"event": type, "payload": {…}}` or
    /// `{"exception": type, "payload": {…}}]`, each encoded as Bedrock frames it.
    static func eventStream(_ path: String) throws -> [UInt8] {
        let events = try XCTUnwrap(json(path) as? [[String: Any]])
        var out: [UInt8] = []
        for event in events {
            let payload = String(decoding: try JSONSerialization.data(withJSONObject: event["payload"] ?? [:], options: [.sortedKeys]),
                                 as: UTF8.self)
            if let type = event["event"] as? String {
                out += EventStreamEncoder.event(type, json: payload)
            } else if let type = event["exception"] as? String {
                out += EventStreamEncoder.exception(type, json: payload)
            }
        }
        return out
    }

    static func endpoint(_ provider: String, _ model: String, params: [(name: String, json: String)] = []) -> EndpointConfig {
        EndpointConfig(name: "\(provider)/\(model)", provider: provider, model: model, params: params)
    }

    /// A provider of `kind` with a test key, as the contract tests call it.
    static func provider(_ kind: ProviderKind) -> ProviderConfig {
        switch kind {
        case .bedrock:
            return ProviderConfig(name: "bedrock", kind: .bedrock, baseURL: "https://bedrock-runtime.us-east-1.amazonaws.com",
                                  apiKey: Secret("k", origin: "test"), authHeader: "Authorization", authPrefix: "Bearer ")
        case .anthropic:
            return ProviderConfig(name: "anthropic", kind: .anthropic, baseURL: "https://api.anthropic.com/v1",
                                  apiKey: Secret("k", origin: "test"), authHeader: "x-api-key", authPrefix: "")
        default:
            return ProviderConfig(name: kind.rawValue, kind: kind, baseURL: "https://api.example.com/v1",
                                  apiKey: Secret("k", origin: "test"))
        }
    }
}
