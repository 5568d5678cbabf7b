import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import SluiceMockProvider
import XCTest

/// Helpers shared by the mock provider tests.

/// A started server and a `URLSession` to call it.
struct MockClient {
    let port: Int
    private let server: MockProviderServer

    init(options: MockProviderOptions = MockProviderOptions()) throws {
        server = try MockProviderServer(options: options)
        server.start()
        port = server.port
    }

    func post(_ path: String, _ json: [String: Any], headers: [String: String] = [:]) async throws -> MockResponse {
        try await send("POST", path, body: JSONSerialization.data(withJSONObject: json), headers: headers)
    }

    /// `POST /_mock/faults`: installs `fault` for `model`, or clears it when empty.
    func setFault(model: String, _ fault: String) async throws -> MockResponse {
        try await post("/_mock/faults", ["model": model, "fault": fault])
    }

    func get(_ path: String, headers: [String: String] = [:]) async throws -> MockResponse {
        try await send("GET", path, body: nil, headers: headers)
    }

    func send(_ method: String, _ path: String, body: Data?, headers: [String: String] = [:]) async throws -> MockResponse {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 10
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        return MockResponse(http: try XCTUnwrap(response as? HTTPURLResponse), body: data)
    }
}

struct MockResponse {
    let http: HTTPURLResponse
    let body: Data

    var status: Int { http.statusCode }
    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { http.value(forHTTPHeaderField: name) }
    func object() throws -> [String: Any] { try jsonObject(text) }
    func error() throws -> [String: Any] { try XCTUnwrap(object()["error"] as? [String: Any]) }
}

/// A blocking loopback TCP connection, for checking bytes on the wire.
final class RawConnection {
    private let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit {
        close(fd)
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { throw POSIXError(.EPIPE) }
    }

    /// Everything until the server closes (or 10 s pass).
    func readToEnd() -> Data {
        var data = Data()
        while let chunk = readSome() { data.append(chunk) }
        return data
    }

    /// Reads until `marker` has arrived; `false` if the connection ended first.
    func read(until marker: String) -> Bool {
        var text = ""
        while !text.contains(marker) {
            guard let chunk = readSome() else { return false }
            text += String(decoding: chunk, as: UTF8.self)
        }
        return true
    }

    private func readSome() -> Data? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return count > 0 ? Data(buffer[0..<count]) : nil
    }
}

func rawPost(_ path: String, body: String) -> String {
    "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
        + "Connection: close\r\n\r\n" + body
}

/// The `data:` values of a server-sent event stream, in order. Works on a de-chunked
/// body and on raw chunked bytes alike, since every event sits inside one chunk.
func sseData(_ text: String) -> [String] {
    // Split on scalars: in a String, the CRLF of the chunk framing is one Character.
    text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: true).compactMap { scalars in
        let line = String(String.UnicodeScalarView(scalars))
        return line.hasPrefix("data: ") ? String(line.dropFirst(6)) : nil
    }
}

func jsonObject(_ text: String) throws -> [String: Any] {
    try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

/// `[prompt_tokens, completion_tokens, total_tokens]`.
func usage(_ object: [String: Any]) throws -> [Int] {
    let usage = try XCTUnwrap(object["usage"] as? [String: Any])
    return ["prompt_tokens", "completion_tokens", "total_tokens"].compactMap { usage[$0] as? Int }
}

/// How the official SDKs read `encoding_format: "base64"`: little-endian float32.
func decodeFloat32LittleEndian(_ base64: String) -> [Float] {
    guard let data = Data(base64Encoded: base64) else { return [] }
    return stride(from: 0, to: data.count, by: 4).map { offset in
        let bits = data[offset..<(offset + 4)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return Float(bitPattern: bits)
    }
}
