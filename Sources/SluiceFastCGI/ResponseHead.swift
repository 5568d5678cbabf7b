/// The status and headers of a response, written as a CGI-style header block.
public struct ResponseHead: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]

    public init(status: Int, headers: [(name: String, value: String)] = []) {
        self.status = status
        self.headers = headers
    }

    /// `Status: 200 OK\r\nName: value\r\n…\r\n`. Header values are stripped of CR/LF so
    /// a value can never start a new header.
    public var encoded: String {
        var out = "Status: "
        out.reserveCapacity(64 + headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 })
        out.append(String(status))
        out.append(" ")
        out.append(Self.reason(status))
        out.append("\r\n")
        for header in headers {
            out.append(header.name)
            out.append(": ")
            if header.value.utf8.contains(where: { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }) {
                out.append(String(header.value.unicodeScalars.filter { $0 != "\r" && $0 != "\n" }))
            } else {
                out.append(header.value)
            }
            out.append("\r\n")
        }
        out.append("\r\n")
        return out
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 413: return "Payload Too Large"
        case 422: return "Unprocessable Entity"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 529: return "Overloaded"
        default: return "Status"
        }
    }
}
