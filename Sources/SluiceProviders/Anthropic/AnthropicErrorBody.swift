import SluiceCore

/// Reading Anthropic error bodies: `{"type":"error","error":{"type":…,"message":…},"request_id":…}`
/// (https://docs.anthropic.com/en/api/errors), answered with 400, 401, 403, 404, 413, 429,
/// 500 or 529, and sent as an `error` event inside a stream.
enum AnthropicErrorBody {
    /// The client-facing error for a non-2xx answer. The status is kept (529 included);
    /// the provider refusing *our* credentials (401/403) becomes a 502, since it is the
    /// gateway's fault, not the caller's. Anthropic's error type is kept as `code`.
    static func clientError(status: Int, headers: [(name: String, value: String)], body: [UInt8],
                            provider: ProviderConfig) -> GatewayError {
        if status == 401 || status == 403 {
            return GatewayError(.upstreamError,
                                "Provider '\(provider.name)' refused the gateway's credentials (HTTP \(status)).")
        }
        guard (400...599).contains(status) else {
            return GatewayError(.upstreamError, "Provider '\(provider.name)' answered with unexpected HTTP \(status).")
        }
        let retryAfter = headers.first { $0.name.lowercased() == "retry-after" }.flatMap { Int($0.value) }
        let (type, message) = fields(in: body)
        return GatewayError(upstreamStatus: status,
                            message: redact(message, provider: provider) ?? "The provider answered HTTP \(status).",
                            type: openAIType(anthropicType: type, status: status),
                            code: redact(type, provider: provider), param: nil, retryAfter: retryAfter)
    }

    /// The error an in-stream `error` event reports; its type gives the status it would
    /// have had outside a stream (`overloaded_error` → 529).
    static func streamError(data: [UInt8], provider: ProviderConfig?) -> GatewayError {
        let (type, message) = fields(in: data)
        let status = type.flatMap { statusByType[$0] } ?? 500
        let text = provider.map { redact(message, provider: $0) } ?? message
        return GatewayError(upstreamStatus: status, message: text ?? "The provider reported an error mid-stream.",
                            type: openAIType(anthropicType: type, status: status), code: type, param: nil,
                            retryAfter: nil)
    }

    /// The HTTP status of each documented Anthropic error type.
    static let statusByType: [String: Int] = [
        "invalid_request_error": 400, "authentication_error": 401, "billing_error": 402, "permission_error": 403,
        "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
        "timeout_error": 504, "overloaded_error": 529,
    ]

    /// OpenAI's `error.type` for an Anthropic error type (OpenAI names fewer kinds).
    private static func openAIType(anthropicType: String?, status: Int) -> String {
        switch anthropicType {
        case "invalid_request_error", "not_found_error", "request_too_large": return "invalid_request_error"
        case "authentication_error": return "authentication_error"
        case "permission_error": return "permission_error"
        case "rate_limit_error": return "rate_limit_error"
        case "billing_error": return "insufficient_quota"
        default: return status == 429 ? "rate_limit_error" : (status < 500 ? "invalid_request_error" : "server_error")
        }
    }

    /// `error.type` and `error.message`, when the body is an Anthropic (or OpenAI-shaped) error.
    private static func fields(in body: [UInt8]) -> (type: String?, message: String?) {
        guard let error = JSONValue.parseObject(body)?["error"]?.objectValue else { return (nil, nil) }
        return (error["type"]?.stringValue, error["message"]?.stringValue)
    }

    /// `text` without the provider's credentials (a provider may echo what it was sent).
    private static func redact(_ text: String?, provider: ProviderConfig) -> String? {
        let secrets = ([provider.apiKey] + provider.headers.map(\.value)).compactMap { $0?.exposedValue }
            .filter { $0.count >= 4 }
        return text.map { secrets.reduce($0) { $0.replacingAll($1, with: "[redacted]") } }
    }
}
