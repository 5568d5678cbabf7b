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
        /// No endpoint of the route has a context window the request fits in.
        case contextLengthExceeded = "context_length_exceeded"
        /// A guardrail blocked the request (400) or the answer (422).
        case contentBlocked = "content_blocked"
        case answerBlocked = "answer_blocked"
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
        self.message = Self.capped(message, at: Self.maxMessage)
        self.param = param.map { Self.capped($0, at: Self.maxParam) }
        self.upstreamStatus = nil
        self.upstreamType = nil
        self.upstreamCode = nil
        self.retryAfter = retryAfter
    }

    /// An error the provider returned, passed on with its status.
    public init(upstreamStatus status: Int, message: String, type: String?, code: String?, param: String?, retryAfter: Int?) {
        self.code = .upstreamStatus
        self.message = Self.capped(message, at: Self.maxMessage)
        self.param = param.map { Self.capped($0, at: Self.maxParam) }
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

    /// Longest message and `param` an error carries: whatever of the client's input (or a
    /// provider's text) they quote, an error stays small.
    public static let maxMessage = 1024
    public static let maxParam = 200

    static func capped(_ text: String, at limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        let kept = text.prefix(limit)
        return kept.endIndex == text.endIndex ? text : String(kept) + "…"
    }

    /// Client input quoted in an error message: at most 200 characters, and never a value
    /// shaped like a credential (a gateway key or a provider key sent in the wrong field).
    public static func quote(_ text: some StringProtocol) -> String {
        let value = String(text)
        return looksLikeCredential(value) ? "(a value shaped like a credential)" : capped(value, at: 200)
    }

    /// A gateway key, an OpenAI/Anthropic-style `sk-…` key, a bearer token or an AWS key id.
    /// Compares bytes, ASCII case folded, without lowercasing a copy: every tag value of
    /// every call passes here.
    public static func looksLikeCredential(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { bytes in
            let count = bytes.count
            func folded(_ at: Int) -> UInt8 { bytes[at] >= 65 && bytes[at] <= 90 ? bytes[at] | 0x20 : bytes[at] }
            func matches(_ pattern: StaticString, at start: Int, folding: Bool) -> Bool {
                let length = pattern.utf8CodeUnitCount
                guard start + length <= count else { return false }
                let expected = pattern.utf8Start
                for offset in 0..<length where (folding ? folded(start + offset) : bytes[start + offset]) != expected[offset] {
                    return false
                }
                return true
            }
            if matches("sk-", at: 0, folding: true) && count >= 20 { return true }
            if matches("bearer ", at: 0, folding: true) { return true }
            if count == 20 && (matches("AKIA", at: 0, folding: false) || matches("ASIA", at: 0, folding: false)) { return true }
            if count >= 10 {
                for start in 0...(count - 10) where matches("sk-sluice-", at: start, folding: true) { return true }
            }
            return false
        } || GatewayKeyFormat.looksValid(value)
    }
}

extension GatewayError {
    public static func invalidRequest(_ message: String, param: String? = nil) -> GatewayError {
        GatewayError(.invalidRequest, message, param: param)
    }
}
