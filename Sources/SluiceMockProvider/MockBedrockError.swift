import Foundation

/// An error in the shape of Bedrock Runtime's rest-json protocol: the status, the type in
/// an `x-amzn-ErrorType` header (`ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/`)
/// and the text in the body, `{"message": "…"}`. botocore reads the type from that header
/// (up to the `:`), the text from `message`.
///
/// This is the one place that maps a Bedrock error type to its status, from botocore's
/// `bedrock-runtime` 2023-09-30 model, and an injected status to a type.
struct MockBedrockError: Error, Sendable {
    var status: Int
    var type: String
    var message: String
    /// Extra response headers, such as `retry-after`.
    var headers: [(String, String)] = []

    /// Modelled errors of the service, with their statuses.
    static let statuses: [String: Int] = [
        "ValidationException": 400, "ServiceQuotaExceededException": 400, "AccessDeniedException": 403,
        "ResourceNotFoundException": 404, "ModelTimeoutException": 408, "ModelErrorException": 424,
        "ThrottlingException": 429, "ModelNotReadyException": 429, "InternalServerException": 500,
        "ServiceUnavailableException": 503,
    ]

    /// Errors of AWS's request authentication layer, in front of every service.
    static let authenticationStatuses: [String: Int] = [
        "InvalidSignatureException": 403, "IncompleteSignatureException": 403, "UnrecognizedClientException": 403,
        "MissingAuthenticationTokenException": 403, "UnknownOperationException": 404,
    ]

    /// The `x-amzn-ErrorType` value: the type and the namespace AWS appends.
    var errorTypeHeader: String {
        let namespace = Self.authenticationStatuses[type] == nil ? "com.amazon.bedrock" : "com.amazon.coral.service"
        return "\(type):http://internal.amazon.com/coral/\(namespace)/"
    }

    /// The error body, `{"message": "…"}`.
    var body: Data { MockJSON.encode(["message": message]) }

    var reply: MockReply {
        MockReply(status: status, headers: [("x-amzn-ErrorType", errorTypeHeader)] + headers, body: .json(body))
    }

    static func validation(_ message: String) -> MockBedrockError {
        MockBedrockError(status: 400, type: "ValidationException", message: message)
    }

    /// InvokeModel's answer to a body the model's JSON schema refuses.
    static func malformedInput(_ detail: String) -> MockBedrockError {
        validation("Malformed input request: \(detail), please reformat your input and try again.")
    }

    /// Coral's message for a member that breaks a constraint of the service model.
    static func constraint(_ path: String, value: Any?, _ rule: String) -> MockBedrockError {
        let shown = value.map { "'\($0)'" } ?? "null"
        return validation("1 validation error detected: Value \(shown) at '\(path)' failed to satisfy constraint: \(rule)")
    }

    static func unknownOperation(method: String, path: String) -> MockBedrockError {
        MockBedrockError(status: 404, type: "UnknownOperationException",
                         message: "Unknown operation \(method) \(path) (mock Bedrock serves converse, converse-stream, invoke and count-tokens).")
    }

    /// The error an `exception`, `status` or `quota` fault asks for, if any: `exception`
    /// names the type (its modelled status unless `status` gives one); otherwise the type
    /// is the one Bedrock uses for the status.
    static func injected(_ faults: MockFaults) -> MockBedrockError? {
        let named = faults.bedrock.exception ?? (faults.quota ? "ServiceQuotaExceededException" : nil)
        guard named != nil || faults.status != nil else { return nil }
        let type = named ?? faults.status.map(Self.type(forStatus:)) ?? "ValidationException"
        let status = faults.status ?? statuses[type] ?? authenticationStatuses[type] ?? 400
        var error = MockBedrockError(status: status, type: type, message: defaultMessage(type) + " (mock fault)")
        if let retryAfter = faults.retryAfter { error.headers.append(("retry-after", retryAfter)) }
        return error
    }

    private static func type(forStatus status: Int) -> String {
        switch status {
        case 403: "AccessDeniedException"
        case 404: "ResourceNotFoundException"
        case 408: "ModelTimeoutException"
        case 424: "ModelErrorException"
        case 429: "ThrottlingException"
        case 503, 529: "ServiceUnavailableException"
        case ..<500: "ValidationException"
        default: "InternalServerException"
        }
    }

    private static func defaultMessage(_ type: String) -> String {
        switch type {
        case "AccessDeniedException": "You don't have access to the model with the specified model ID."
        case "ResourceNotFoundException": "Could not resolve the foundation model from the provided model identifier."
        case "ModelTimeoutException": "Model has timed out in processing the request. Try your request again."
        case "ModelErrorException": "The model returned an error. Try your request again."
        case "ThrottlingException": "Too many requests, please wait before trying again."
        case "ModelNotReadyException": "The model is not ready to serve inference requests. Try your request again later."
        case "ServiceQuotaExceededException": "Your request exceeds the service quota for your account. Resubmit your request later."
        case "InternalServerException": "The system encountered an unexpected error during processing. Try your request again."
        case "ServiceUnavailableException": "Bedrock is unable to process your request."
        default: "The request failed with \(type)."
        }
    }
}
