import Foundation
import SluiceCore
import SluiceProviders
import XCTest

/// Helpers shared by the mock provider's Bedrock tests.

extension MockClient {
    /// `POST /model/{model}/{operation}` with `json`, the model id percent-encoded as botocore
    /// sends it, and signed with `signer` (at `unixTime`, default now) when given.
    func bedrock(_ model: String, _ operation: String, _ json: [String: Any], signer: AWSSigV4? = nil,
                 unixTime: Int? = nil, headers: [String: String] = [:]) async throws -> MockResponse {
        let path = "/model/" + bedrockSegment(model) + "/" + operation
        let body = try JSONSerialization.data(withJSONObject: json)
        var all = headers
        if let signer {
            let signing = SigV4.signingHeaders(method: "POST", url: "http://127.0.0.1:\(port)\(path)",
                                               headers: [("Content-Type", "application/json")], body: Array(body),
                                               signer: signer, unixTime: unixTime ?? Int(Date().timeIntervalSince1970))
            for header in signing { all[header.name] = header.value }
        }
        return try await send("POST", path, body: body, headers: all)
    }

    /// The counters of `GET /_mock/stats`.
    func stats() async throws -> [String: Any] {
        try await get("/_mock/stats").object()
    }
}

/// A path segment encoded the way botocore encodes a URI label: everything but
/// `A-Z a-z 0-9 - _ . ~` as `%XX`.
func bedrockSegment(_ text: String) -> String {
    let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
    return text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
}

/// The messages of an event stream body, each decoded with both CRCs checked; why the
/// framer gave up, if it did; and how many bytes of an unfinished message were left over.
func eventStreamMessages(_ body: Data) -> (messages: [EventStreamMessage], failure: EventStreamError?, leftover: Int) {
    var framer = EventStreamFramer()
    var messages: [EventStreamMessage] = []
    _ = body.withUnsafeBytes { bytes in
        framer.feed(bytes) { frame in
            if let message = try? EventStreamMessage.decode(frame) { messages.append(message) }
            return true
        }
    }
    return (messages, framer.failure, framer.unfinished.count)
}

/// A message's JSON payload.
func payload(_ message: EventStreamMessage) throws -> [String: Any] {
    try XCTUnwrap(JSONSerialization.jsonObject(with: Data(message.payload)) as? [String: Any])
}

/// A Bedrock error answer's type (from `x-amzn-ErrorType`, without its namespace) and
/// message, checking that the body is exactly `{"message": …}`.
func bedrockError(_ response: MockResponse, file: StaticString = #filePath,
                  line: UInt = #line) throws -> (type: String, message: String) {
    let object = try response.object()
    XCTAssertEqual(object.keys.sorted(), ["message"], file: file, line: line)
    let header = try XCTUnwrap(response.header("x-amzn-ErrorType"), file: file, line: line)
    return (String(header.prefix { $0 != ":" }), try XCTUnwrap(object["message"] as? String, file: file, line: line))
}

/// The body of a raw `Transfer-Encoding: chunked` response (head included in `raw`), up to
/// where the bytes end, even mid-chunk.
func dechunkedBody(_ raw: Data) -> Data {
    let bytes = [UInt8](raw)
    guard let headEnd = bytes.indices.first(where: { bytes[$0...].starts(with: [13, 10, 13, 10]) }) else { return Data() }
    var body = Data()
    var index = headEnd + 4
    while let lineEnd = bytes[index...].indices.first(where: { bytes[$0...].starts(with: [13, 10]) }),
          let size = Int(String(decoding: bytes[index..<lineEnd], as: UTF8.self), radix: 16), size > 0 {
        let start = lineEnd + 2
        body.append(contentsOf: bytes[start..<min(start + size, bytes.count)])
        index = start + size + 2
        guard index < bytes.count else { break }
    }
    return body
}
