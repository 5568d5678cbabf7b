import SluiceCore
import SluiceFastCGI

/// Writes responses to the client through nginx.
struct ClientWriter {
    let request: FastCGIRequest
    let requestId: String
    /// Notes what the client was sent, for the audit record.
    let call: CallRecord

    /// A complete response with a body and its length.
    func send(status: Int, contentType: String, body: [UInt8], extraHeaders: [(name: String, value: String)] = []) {
        var headers: [(name: String, value: String)] = [
            ("Content-Type", contentType), ("Content-Length", String(body.count)), ("X-Sluice-Request-Id", requestId),
        ]
        headers += extraHeaders + call.responseHeaders
        call.sent(status: status)
        request.write(ResponseHead(status: status, headers: headers).encoded)
        request.write(body)
        if call.redactor != nil { body.withUnsafeBytes { call.captureResponse($0) } }
    }

    /// A JSON response made by the gateway itself.
    func sendJSON(status: Int, _ json: String, extraHeaders: [(name: String, value: String)] = []) {
        send(status: status, contentType: "application/json", body: Array(json.utf8), extraHeaders: extraHeaders)
    }

    /// The OpenAI-shaped error response for `error`.
    func send(_ error: GatewayError, extraHeaders: [(name: String, value: String)] = []) {
        var headers = extraHeaders
        if let retryAfter = error.retryAfter { headers.append(("Retry-After", String(retryAfter))) }
        call.sent(status: error.httpStatus, error: error)
        sendJSON(status: error.httpStatus, error.jsonBody, extraHeaders: headers)
    }

    /// Starts a streamed response: headers only, flushed at once unless `flush` is false
    /// (the first event follows and is flushed with them).
    func startStream(contentType: String, extraHeaders: [(name: String, value: String)], flush: Bool = true) -> Bool {
        var headers: [(name: String, value: String)] = [
            ("Content-Type", contentType), ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"),
            ("X-Sluice-Request-Id", requestId),
        ]
        headers += extraHeaders + call.responseHeaders
        call.sent(status: 200)
        request.write(ResponseHead(status: 200, headers: headers).encoded)
        return flush ? request.flush() : true
    }
}
