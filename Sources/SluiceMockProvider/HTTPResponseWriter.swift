import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A write to the client failed: it went away.
struct HTTPWriteError: Error {}

/// Writes HTTP/1.1 responses to a connected socket it does not own.
///
/// Every call goes straight to `send(2)` with `MSG_NOSIGNAL`; with `TCP_NODELAY` on the
/// socket, each streamed event leaves at once.
struct HTTPResponseWriter {
    let fd: Int32

    /// The interim response a client waiting on `Expect: 100-continue` needs.
    func writeContinue() throws(HTTPWriteError) {
        try write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
    }

    /// The status line and header fields, then the blank line.
    func writeHead(status: Int, headers: [(String, String)]) throws(HTTPWriteError) {
        var head = "HTTP/1.1 \(status) \(Self.reason(for: status))\r\n"
        for (name, value) in headers {
            head += "\(name): \(value)\r\n"
        }
        head += "\r\n"
        try write(Array(head.utf8))
    }

    /// One chunk of a `Transfer-Encoding: chunked` body (RFC 9112 §7.1).
    func writeChunk(_ data: Data) throws(HTTPWriteError) {
        guard !data.isEmpty else { return }
        var bytes = Array("\(String(data.count, radix: 16))\r\n".utf8)
        bytes.append(contentsOf: data)
        bytes.append(contentsOf: [13, 10])
        try write(bytes)
    }

    /// The zero-length chunk that ends a chunked body, with no trailers.
    func writeLastChunk() throws(HTTPWriteError) {
        try write(Array("0\r\n\r\n".utf8))
    }

    /// All of `bytes`, retrying short writes and `EINTR`.
    func write<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(HTTPWriteError) {
        let array = Array(bytes)
        var offset = 0
        while offset < array.count {
            let sent = array.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent > 0 {
                offset += sent
            } else if sent < 0, errno == EINTR {
                continue
            } else {
                throw HTTPWriteError()
            }
        }
    }

    static func reason(for status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: status < 500 ? "Client Error" : "Server Error"
        }
    }
}
