/// An error a client can see. Every one maps to exactly one HTTP status and one
/// OpenAI-shaped body (`{"error": {"message", "type", "param", "code"}}`), in
/// `GatewayError+Response.swift` — nowhere else.
///
/// `message` is written for the client: it never carries a secret, a gateway key or
/// a request payload.
public struct GatewayError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as a closed set so the status mapping is exhaustive.
    public enum Code: String, Sendable, CaseIterable {
        case invalidJSON = "invalid_json"
        case invalidRequest = "invalid_request"
        case missingCredential = "missing_api_key"
        case invalidCredential = "invalid_api_key"
        case routeNotAllowed = "route_not_allowed"
        case identityNotAllowed = "identity_not_allowed"
        case routeNotFound = "model_not_found"
        case routeWrongType = "route_type_mismatch"
        case notFound = "not_found"
        case methodNotAllowed = "method_not_allowed"
        case requestTooLarge = "request_too_large"
        case upstreamUnavailable = "upstream_unavailable"
        case upstreamTimeout = "upstream_timeout"
        case upstreamError = "upstream_error"
        case upstreamStatus = "upstream_status"
        case backendUnavailable = "backend_unavailable"
        case internalError = "internal_error"
        case missingTag = "missing_required_tag"
        case rateLimited = "rate_limit_exceeded"
        case budgetExceeded = "budget_exceeded"
    }

    public let code: Code
    public let message: String
    /// The request field at fault, when there is one (OpenAI's `param`).
    public let param: String?
    /// For `upstreamStatus`: the provider's status, kept for the client.
    public let upstreamStatus: Int?
    /// For `upstreamStatus`: the provider's own error type and code, when safe to show.
    public let upstreamType: String?
    public let upstreamCode: String?
    /// Seconds the client should wait before retrying, when known.
    public let retryAfter: Int?

    public init(_ code: Code, _ message: String, param: String? = nil, retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.param = param
        self.upstreamStatus = nil
        self.upstreamType = nil
        self.upstreamCode = nil
        self.retryAfter = retryAfter
    }

    /// An error the provider returned, passed on with its status.
    public init(upstreamStatus status: Int, message: String, type: String?, code: String?, param: String?, retryAfter: Int?) {
        self.code = .upstreamStatus
        self.message = message
        self.param = param
        self.upstreamStatus = status
        self.upstreamType = type
        self.upstreamCode = code
        self.retryAfter = retryAfter
    }

    /// A limit refused the call: OpenAI's shape, with `type` `requests` or `tokens`.
    public init(rateLimited message: String, type: String, retryAfter: Int?) {
        self.code = .rateLimited
        self.message = message
        self.param = nil
        self.upstreamStatus = nil
        self.upstreamType = type
        self.upstreamCode = nil
        self.retryAfter = retryAfter
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

extension GatewayError {
    public static func invalidRequest(_ message: String, param: String? = nil) -> GatewayError {
        GatewayError(.invalidRequest, message, param: param)
    }
}
