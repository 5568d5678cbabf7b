import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why a request could not be read from a connection.
enum HTTPReadError: Error {
    /// The peer closed the connection or a read failed mid-request.
    case closed
    /// The bytes are not an HTTP/1.1 request; the text says what was wrong.
    case malformed(String)
    /// The head or the body is over the reader's limit.
    case tooLarge
}

/// Reads HTTP/1.1 requests one after another from a connected socket it does not own.
///
/// Bodies may come with `Content-Length` or `Transfer-Encoding: chunked` (RFC 9112 §7.1).
/// Bytes past one request stay buffered for the next, so pipelined requests work.
final class HTTPRequestReader {
    private static let maxHeadBytes = 64 * 1024
    private static let maxBodyBytes = 64 * 1024 * 1024

    private let fd: Int32
    private var buffer: [UInt8] = []
    private var scratch = [UInt8](repeating: 0, count: 64 * 1024)

    init(fd: Int32) {
        self.fd = fd
    }

    /// The next request, or `nil` when the peer closed the connection between requests.
    ///
    /// `sendContinue` runs when the client sent `Expect: 100-continue` and waits for it
    /// before the body (libcurl does for large bodies).
    func next(sendContinue: () -> Void) throws(HTTPReadError) -> HTTPRequest? {
        guard let headEnd = try findHeadEnd() else { return nil }
        let head = String(decoding: buffer[0..<headEnd], as: UTF8.self)
        buffer.removeSubrange(0..<(headEnd + 4))

        var request = try Self.parseHead(head)
        let chunked = request.header("transfer-encoding")?.lowercased().contains("chunked") ?? false
        let length = try request.header("content-length").map(Self.parseLength)
        let hasBody = chunked || (length ?? 0) > 0
        if hasBody, request.header("expect")?.lowercased() == "100-continue" {
            sendContinue()
        }
        if chunked {
            request.body = try readChunkedBody()
        } else if let length {
            request.body = Data(try take(length))
        }
        return request
    }

    private static func parseHead(_ head: String) throws(HTTPReadError) -> HTTPRequest {
        let lines = head.components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
            throw .malformed("bad request line")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw .malformed("bad header line") }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers.append((name, value))
        }
        return HTTPRequest(method: String(parts[0]), target: String(parts[1]), version: String(parts[2]),
                           headers: headers, body: Data())
    }

    private static func parseLength(_ text: String) throws(HTTPReadError) -> Int {
        guard let length = Int(text), length >= 0 else { throw .malformed("bad Content-Length") }
        guard length <= maxBodyBytes else { throw .tooLarge }
        return length
    }

    /// Reads until the buffer holds a complete head; returns the offset of its blank line,
    /// or `nil` when the peer closed before sending anything.
    private func findHeadEnd() throws(HTTPReadError) -> Int? {
        var searchFrom = 0
        while true {
            if let end = Self.find([13, 10, 13, 10], in: buffer, from: searchFrom) { return end }
            guard buffer.count <= Self.maxHeadBytes else { throw .tooLarge }
            searchFrom = max(0, buffer.count - 3)
            if try !fill() {
                if buffer.isEmpty { return nil }
                throw .closed
            }
        }
    }

    private func readChunkedBody() throws(HTTPReadError) -> Data {
        var body = Data()
        while true {
            let sizeLine = try readLine()
            let sizeText = sizeLine.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size >= 0 else {
                throw .malformed("bad chunk size")
            }
            if size == 0 {
                while try !readLine().isEmpty {}  // trailer fields, ignored
                return body
            }
            guard body.count + size <= Self.maxBodyBytes else { throw .tooLarge }
            body.append(contentsOf: try take(size))
            guard try readLine().isEmpty else { throw .malformed("chunk not followed by CRLF") }
        }
    }

    private func readLine() throws(HTTPReadError) -> String {
        var searchFrom = 0
        while true {
            if let end = Self.find([13, 10], in: buffer, from: searchFrom) {
                let line = String(decoding: buffer[0..<end], as: UTF8.self)
                buffer.removeSubrange(0..<(end + 2))
                return line
            }
            guard buffer.count <= 8192 else { throw .tooLarge }
            searchFrom = max(0, buffer.count - 1)
            guard try fill() else { throw .closed }
        }
    }

    private func take(_ count: Int) throws(HTTPReadError) -> [UInt8] {
        while buffer.count < count {
            guard try fill() else { throw .closed }
        }
        let bytes = Array(buffer[0..<count])
        buffer.removeSubrange(0..<count)
        return bytes
    }

    /// Appends what `recv(2)` returns; `false` at end of stream.
    private func fill() throws(HTTPReadError) -> Bool {
        while true {
            let count = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                buffer.append(contentsOf: scratch[0..<count])
                return true
            }
            if count == 0 { return false }
            if errno == EINTR { continue }
            throw .closed
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count - needle.count >= start else { return nil }
        return (start...(haystack.count - needle.count)).first { index in
            haystack[index..<(index + needle.count)].elementsEqual(needle)
        }
    }
}
