import SluiceCore

/// A `GatewayError` as Anthropic writes errors: `{"type":"error","error":{"type":…,"message":…}}`
/// with the same HTTP status (https://docs.anthropic.com/en/api/errors).
enum MessagesErrorBody {
    /// Anthropic's error type for `error`: the provider's own Anthropic type when it gave
    /// one (an Anthropic upstream keeps it as the code), else the one for the status.
    static func errorType(for error: GatewayError) -> String {
        if let code = error.upstreamCode, AnthropicErrorBody.statusByType[code] != nil { return code }
        switch error.httpStatus {
        case 401: return "authentication_error"
        case 402: return "billing_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_error"
        case 503, 529: return "overloaded_error"
        case 504: return "timeout_error"
        case 400..<500: return "invalid_request_error"
        default: return "api_error"
        }
    }

    static func json(for error: GatewayError) -> String {
        let inner = JSONObject([("type", .string(errorType(for: error))), ("message", .string(error.message))])
        return JSONObject([("type", .string("error")), ("error", .object(inner))]).encoded
    }
}
