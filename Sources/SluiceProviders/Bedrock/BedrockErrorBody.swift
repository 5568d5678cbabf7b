import SluiceCore

/// Bedrock's errors (rest-json protocol): the type in the `x-amzn-ErrorType` header
/// (`ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/`), else in
/// the body's `__type` or `code`; the text in the body's `message` (or `Message`).
/// Statuses from botocore's `bedrock-runtime` model: Validation 400, ServiceQuotaExceeded
/// 400, AccessDenied 403, ResourceNotFound 404, ModelTimeout 408, Throttling 429,
/// ModelNotReady 429, ModelError 424, InternalServer 500, ServiceUnavailable 503.
enum BedrockErrorBody {
    /// Types that mean AWS refused the gateway's own credentials or permissions.
    private static let credentialErrors: Set<String> = [
        "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch",
        "IncompleteSignatureException", "MissingAuthenticationTokenException", "ExpiredTokenException",
        "InvalidClientTokenId", "UnauthorizedException",
    ]

    /// The client-facing error for a non-2xx Bedrock answer: Bedrock's status, message and
    /// error type (as OpenAI's `code`); a credentials or permission refusal is the gateway's
    /// fault and becomes a 502 without Bedrock's text (it may quote the signed request).
    static func clientError(status: Int, headers: [(name: String, value: String)], body: [UInt8],
                            provider: ProviderConfig) -> GatewayError {
        let object = JSONOutput.object(body)
        let type = errorType(headers: headers, body: object)
        if status == 401 || status == 403 || type.map(credentialErrors.contains) == true {
            return GatewayError(.upstreamError, "Provider '\(provider.name)' refused the gateway's credentials "
                                + "(HTTP \(status)\(type.map { " " + $0 } ?? "")).")
        }
        guard (400...599).contains(status) else {
            return GatewayError(.upstreamError, "Provider '\(provider.name)' answered with unexpected HTTP \(status).")
        }
        let message = (object?["message"] as? String) ?? (object?["Message"] as? String)
            ?? "Amazon Bedrock answered HTTP \(status)\(type.map { " (\($0))" } ?? "")."
        let retryAfter = headers.first { $0.name == "retry-after" }.flatMap { Int($0.value) }
        return GatewayError(upstreamStatus: status, message: redact(message, provider), type: nil, code: type, param: nil,
                            retryAfter: retryAfter)
    }

    /// An exception frame inside a ConverseStream (`:exception-type` is the member name,
    /// e.g. `throttlingException`), with the status Bedrock gives that exception.
    static func streamError(exceptionType: String, payload: ArraySlice<UInt8>) -> GatewayError {
        let object = JSONOutput.object(payload)
        let message = (object?["message"] as? String) ?? (object?["Message"] as? String)
            ?? "Amazon Bedrock reported \(exceptionType) mid-stream."
        let statuses = ["internalServerException": 500, "modelStreamErrorException": 424, "validationException": 400,
                        "throttlingException": 429, "serviceUnavailableException": 503]
        guard let status = statuses[exceptionType] else {
            return GatewayError(.upstreamError, "Amazon Bedrock reported \(exceptionType) mid-stream: \(message)")
        }
        let code = exceptionType.prefix(1).uppercased() + exceptionType.dropFirst()
        return GatewayError(upstreamStatus: status, message: message, type: nil, code: code, param: nil, retryAfter: nil)
    }

    /// The error type without its namespace or URI: `ThrottlingException`.
    static func errorType(headers: [(name: String, value: String)], body: [String: Any]?) -> String? {
        let raw = headers.first { $0.name.lowercased() == "x-amzn-errortype" }?.value
            ?? (body?["__type"] as? String) ?? (body?["code"] as? String)
        guard let raw, !raw.isEmpty else { return nil }
        var type = raw[...]
        if let colon = type.firstIndex(of: ":") { type = type[..<colon] }
        if let hash = type.lastIndex(of: "#") { type = type[type.index(after: hash)...] }
        return type.isEmpty ? nil : String(type)
    }

    private static func redact(_ text: String, _ provider: ProviderConfig) -> String {
        let credentials = provider.awsCredentials
        let secrets = [provider.apiKey, credentials?.secretAccessKey, credentials?.sessionToken].compactMap { $0?.exposedValue }
            + provider.headers.map(\.value.exposedValue)
        return secrets.filter { $0.count >= 4 }.reduce(text) { $0.replacingAll($1, with: "[redacted]") }
    }
}
