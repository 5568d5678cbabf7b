import SluiceCore
import SluiceFastCGI
import SluiceProviders

/// Writes responses to the client through nginx.
struct ClientWriter {
    let request: any ClientConnection
    let requestId: String
    /// Notes what the client was sent, for the audit record.
    let call: CallRecord

    /// A complete response with a body and its length.
    func send(status: Int, contentType: String, body: [UInt8], extraHeaders: [(name: String, value: String)] = []) {
        var body = body
        if status == 200, let guardrails = call.guardrails, call.cache?.result != .hit {
            switch guardrails.checkAnswer(body) {
            case .pass(let checked): body = checked
            case .block(let error): return send(error, extraHeaders: extraHeaders)
            }
        }
        var headers: [(name: String, value: String)] = [
            ("Content-Type", contentType), ("Content-Length", String(body.count)), ("X-Sluice-Request-Id", requestId),
        ]
        headers += extraHeaders + call.responseHeaders
        call.sent(status: status)
        request.write(ResponseHead(status: status, headers: headers).encoded)
        request.write(body)
        if call.redactor != nil { body.withUnsafeBytes { call.captureResponse($0) } }
        if let cache = call.cache, status == 200 {
            cache.contentType = contentType
            body.withUnsafeBytes { cache.capture($0) }
        }
    }

    /// A JSON response made by the gateway itself.
    func sendJSON(status: Int, _ json: String, extraHeaders: [(name: String, value: String)] = []) {
        send(status: status, contentType: "application/json", body: Array(json.utf8), extraHeaders: extraHeaders)
    }

    /// The error response for `error`, in the shape of the client's API (OpenAI's
    /// `{"error": {...}}`, or Anthropic's `{"type": "error", "error": {...}}`).
    func send(_ error: GatewayError, extraHeaders: [(name: String, value: String)] = []) {
        var headers = extraHeaders
        if let retryAfter = error.retryAfter { headers.append(("Retry-After", String(retryAfter))) }
        call.sent(status: error.httpStatus, error: error)
        switch call.surface {
        case .openAI, .responses:
            sendJSON(status: error.httpStatus, error.jsonBody, extraHeaders: headers)
        case .anthropic:
            send(status: error.httpStatus, contentType: "application/json", body: AnthropicSurface.errorBody(for: error),
                 extraHeaders: headers)
        }
    }

    /// The event that ends a started stream with `error`, in the client's API's shape.
    func streamErrorEvent(_ error: GatewayError) -> [UInt8] {
        switch call.surface {
        case .openAI: return Array(error.streamEvent.utf8)
        case .anthropic: return AnthropicSurface.streamErrorEvent(for: error)
        case .responses: return ResponsesSurface.streamErrorEvent(for: error, sequence: call.responsesOutcome?.sequence ?? 0)
        }
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
        call.cache?.contentType = contentType
        request.write(ResponseHead(status: 200, headers: headers).encoded)
        return flush ? request.flush() : true
    }
}
