import Foundation

/// An error the mock answers with, in OpenAI's shape:
/// `{"error": {"message", "type", "param", "code"}}`.
///
/// This is the one place that maps a status to OpenAI's `type` and `code`.
struct MockAPIError: Error, Sendable {
    var status: Int
    var type: String
    var code: String?
    var param: String?
    var message: String
    /// Extra response headers, such as `retry-after`.
    var headers: [(String, String)] = []

    /// The error body, keys sorted.
    var body: Data {
        MockJSON.encode(["error": [
            "message": message,
            "type": type,
            "param": param ?? NSNull(),
            "code": code ?? NSNull(),
        ] as [String: Any]])
    }

    static func invalidRequest(_ message: String, param: String?, code: String? = nil) -> MockAPIError {
        MockAPIError(status: 400, type: "invalid_request_error", code: code, param: param, message: message)
    }

    static func missing(_ param: String) -> MockAPIError {
        invalidRequest("Missing required parameter: '\(param)'.", param: param, code: "missing_required_parameter")
    }

    static func invalidType(_ param: String, expected: String) -> MockAPIError {
        invalidRequest("Invalid type for '\(param)': expected \(expected).", param: param, code: "invalid_type")
    }

    static func invalidValue(_ param: String, _ detail: String) -> MockAPIError {
        invalidRequest("Invalid value for '\(param)': \(detail)", param: param, code: "invalid_value")
    }

    static let invalidJSON = invalidRequest(
        "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload.", param: nil)

    static func invalidURL(method: String, path: String) -> MockAPIError {
        MockAPIError(status: 404, type: "invalid_request_error", code: nil, param: nil,
                     message: "Invalid URL (\(method) \(path))")
    }

    static let invalidAPIKey = MockAPIError(
        status: 401, type: "invalid_request_error", code: "invalid_api_key", param: nil,
        message: "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.")

    static let tooLarge = MockAPIError(status: 413, type: "invalid_request_error", code: nil, param: nil,
                                       message: "Request too large.")

    /// The error a `status` fault asks for, typed the way OpenAI types that status.
    static func injected(status: Int, retryAfter: String?) -> MockAPIError {
        let (type, code, message): (String, String?, String) = switch status {
        case 401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided (mock fault).")
        case 403: ("invalid_request_error", "permission_denied", "You are not allowed to use this model (mock fault).")
        case 404: ("invalid_request_error", "model_not_found", "The model does not exist (mock fault).")
        case 408, 504: ("server_error", "timeout", "Request timed out (mock fault).")
        case 409: ("invalid_request_error", "conflict", "Conflicting request (mock fault).")
        case 429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests (mock fault).")
        case 500: ("server_error", nil, "The server had an error while processing your request (mock fault).")
        case 502: ("server_error", "bad_gateway", "Bad gateway (mock fault).")
        case 503, 529: ("server_error", "overloaded", "The engine is currently overloaded, please try again later (mock fault).")
        case ..<500: ("invalid_request_error", nil, "Invalid request (mock fault \(status)).")
        default: ("server_error", nil, "Server error (mock fault \(status)).")
        }
        var error = MockAPIError(status: status, type: type, code: code, param: nil, message: message)
        if let retryAfter = retryAfter ?? (status == 429 ? "1" : nil) {
            error.headers.append(("retry-after", retryAfter))
        }
        return error
    }

    /// OpenAI's answer when the account is out of credit (a `quota` fault): not a rate
    /// limit, so no `retry-after` unless the fault gives one.
    static func insufficientQuota(status: Int, retryAfter: String?) -> MockAPIError {
        var error = MockAPIError(
            status: status, type: "insufficient_quota", code: "insufficient_quota", param: nil,
            message: "You exceeded your current quota, please check your plan and billing details.")
        if let retryAfter {
            error.headers.append(("retry-after", retryAfter))
        }
        return error
    }
}
