/// The one place that turns a `GatewayError` into an HTTP status and an OpenAI-shaped body.
extension GatewayError {
    /// The HTTP status the client gets.
    public var httpStatus: Int {
        switch code {
        case .invalidJSON, .invalidRequest, .routeWrongType, .missingTag, .contextLengthExceeded, .contentBlocked: return 400
        case .answerBlocked: return 422
        case .rateLimited, .budgetExceeded: return 429
        case .missingCredential, .invalidCredential: return 401
        case .routeNotAllowed, .identityNotAllowed: return 403
        case .routeNotFound, .notFound: return 404
        case .methodNotAllowed: return 405
        case .requestTooLarge: return 413
        case .upstreamUnavailable, .upstreamError: return 502
        case .upstreamTimeout: return 504
        case .backendUnavailable: return 503
        case .internalError: return 500
        case .upstreamStatus: return upstreamStatus ?? 502
        }
    }

    /// OpenAI's `error.type` for this error.
    public var errorType: String {
        switch code {
        case .invalidJSON, .invalidRequest, .routeWrongType, .routeNotFound, .notFound, .methodNotAllowed,
             .requestTooLarge, .missingTag, .contextLengthExceeded, .contentBlocked, .answerBlocked:
            return "invalid_request_error"
        case .rateLimited: return upstreamType ?? "requests"
        case .budgetExceeded: return "insufficient_quota"
        case .missingCredential, .invalidCredential: return "authentication_error"
        case .routeNotAllowed, .identityNotAllowed: return "permission_error"
        case .upstreamUnavailable, .upstreamTimeout, .upstreamError: return "upstream_error"
        case .backendUnavailable: return "service_unavailable"
        case .internalError: return "server_error"
        case .upstreamStatus:
            if let upstreamType { return upstreamType }
            switch httpStatus {
            case 429: return "rate_limit_error"
            case 400..<500: return "invalid_request_error"
            default: return "server_error"
            }
        }
    }

    /// OpenAI's `error.code` for this error.
    public var errorCode: String? {
        code == .upstreamStatus ? upstreamCode : code.rawValue
    }

    /// The JSON body: `{"error":{"message":…,"type":…,"param":…,"code":…}}`.
    public var jsonBody: String {
        var out = "{\"error\":{\"message\":"
        JSONText.appendString(message, to: &out)
        out += ",\"type\":"
        JSONText.appendString(errorType, to: &out)
        out += ",\"param\":"
        if let param { JSONText.appendString(param, to: &out) } else { out += "null" }
        out += ",\"code\":"
        if let errorCode { JSONText.appendString(errorCode, to: &out) } else { out += "null" }
        out += "}}"
        return out
    }

    /// The same error as one server-sent event, to end a stream that already started.
    public var streamEvent: String { "data: \(jsonBody)\n\n" }
}
