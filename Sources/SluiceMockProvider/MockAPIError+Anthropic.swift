import Foundation

/// Anthropic's error shape (docs.anthropic.com, "Errors"):
/// `{"type": "error", "error": {"type", "message"}, "request_id"}`, with the error type
/// fixed by the status. This is the one place that maps a status to Anthropic's type.
extension MockAPIError {
    /// Anthropic's error type for ``status``: 400 `invalid_request_error` (also other
    /// 4xx), 401 `authentication_error`, 402 `billing_error`, 403 `permission_error`, 404
    /// `not_found_error`, 413 `request_too_large`, 429 `rate_limit_error`, 500 `api_error`
    /// (also other 5xx), 504 `timeout_error`, 529 `overloaded_error`.
    var anthropicType: String {
        switch status {
        case 401: "authentication_error"
        case 402: "billing_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 413: "request_too_large"
        case 429: "rate_limit_error"
        case 504: "timeout_error"
        case 529: "overloaded_error"
        case ..<500: "invalid_request_error"
        default: "api_error"
        }
    }

    /// The error object Anthropic sends, in a body or in a stream's `error` event.
    var anthropicObject: [String: Any] {
        ["type": "error", "error": ["type": anthropicType, "message": message]]
    }

    /// An error in Anthropic's terms; only the status and message matter to its shape.
    static func anthropic(_ status: Int, _ message: String) -> MockAPIError {
        MockAPIError(status: status, type: "", code: nil, param: nil, message: message)
    }

    /// A 400 `invalid_request_error` with Anthropic's `field: problem` message.
    static func anthropicInvalid(_ message: String) -> MockAPIError {
        anthropic(400, message)
    }

    /// The error the `status` / `quota` faults ask for, worded the way Anthropic words it.
    /// `quota` is Anthropic's "credit balance is too low", a 400 unless `status` says otherwise.
    static func anthropicInjected(_ faults: MockFaults) -> MockAPIError? {
        var error: MockAPIError
        if faults.quota {
            error = anthropic(faults.status ?? 400, "Your credit balance is too low to access the Anthropic API. "
                + "Please go to Plans & Billing to upgrade or purchase credits.")
            if let retryAfter = faults.retryAfter { error.headers.append(("retry-after", retryAfter)) }
            return error
        }
        guard let status = faults.status else { return nil }
        let message = switch status {
        case 401: "invalid x-api-key"
        case 403: "Your API key does not have permission to use the specified resource (mock fault)."
        case 404: "The requested resource could not be found (mock fault)."
        case 413: "Request exceeds the maximum allowed number of bytes (mock fault)."
        case 429: "This request would exceed the rate limit for your organization (mock fault)."
        case 500: "Internal server error (mock fault)."
        case 504: "Request timed out (mock fault)."
        case 529: "Overloaded"
        default: "Mock fault \(status)."
        }
        error = anthropic(status, message)
        if let retryAfter = faults.retryAfter ?? (status == 429 ? "1" : nil) {
            error.headers.append(("retry-after", retryAfter))
        }
        return error
    }
}

extension MockReply {
    /// `error` in Anthropic's shape, with its `request-id` header and `request_id` field.
    static func anthropicError(_ error: MockAPIError, requestID: String) -> MockReply {
        var body = error.anthropicObject
        body["request_id"] = requestID
        return MockReply(status: error.status, headers: error.headers + [("request-id", requestID)],
                         body: .json(MockJSON.encode(body)))
    }
}
