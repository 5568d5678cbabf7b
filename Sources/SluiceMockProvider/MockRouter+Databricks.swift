import Foundation

/// The Databricks Model Serving front: `POST /serving-endpoints/{name}/invocations`
/// with an OpenAI-style body: `messages` makes it a chat, `prompt` a completion,
/// `input` an embedding (in that order of precedence). In order:
/// 1. with ``MockProviderOptions/apiKey`` set, `Authorization: Bearer <key>`: else 401
///    `UNAUTHENTICATED`;
/// 2. another path under the endpoint, or another method: 404 `ENDPOINT_NOT_FOUND`;
/// 3. the endpoint's faults (its `@` suffix, `x-mock-*` headers or a runtime fault
///    installed for it);
/// 4. the answer is OpenAI's (``MockChat``, ``MockCompletions``, ``MockEmbeddings``),
///    `model` the endpoint without its suffix; streams end with a usage chunk only when
///    `stream_options.include_usage` is set, as OpenAI's do.
///
/// Errors have Databricks' shape, `{"error_code", "message", "details"}` (`details`
/// holds a `RequestInfo` with `request_id`), the code fixed by the status as the
/// Databricks SDKs map it: 400 `BAD_REQUEST`, 401 `UNAUTHENTICATED`, 403
/// `PERMISSION_DENIED`, 404 `RESOURCE_DOES_NOT_EXIST` (`Endpoint with name '…' does not
/// exist.`), 409 `RESOURCE_CONFLICT`, 429 `REQUEST_LIMIT_EXCEEDED`, 499 `CANCELLED`,
/// 500 `INTERNAL_ERROR`, 501 `NOT_IMPLEMENTED`, 503 `TEMPORARILY_UNAVAILABLE`, 504
/// `DEADLINE_EXCEEDED`; other 4xx `BAD_REQUEST`, other 5xx `INTERNAL_ERROR`.
extension MockRouter {
    func databricksReply(to request: HTTPRequest, endpoint: String, valid: Bool, serial: Int) -> MockReply {
        var faults = MockFaults()
        var reply: MockReply
        do throws(DatabricksError) {
            reply = try databricksAnswer(to: request, endpoint: endpoint, valid: valid, serial: serial,
                                         faults: &faults)
        } catch {
            reply = error.reply(requestID: Self.requestID(serial))
        }
        reply.apply(faults, defaultDelay: options.defaultDelay)
        return reply
    }

    private func databricksAnswer(to request: HTTPRequest, endpoint: String, valid: Bool, serial: Int,
                                  faults: inout MockFaults) throws(DatabricksError) -> MockReply {
        if let key = options.apiKey {
            guard let authorization = request.header("authorization"), authorization.hasPrefix("Bearer ") else {
                throw DatabricksError(401, "Credential was not sent or was of an unsupported type for this API.")
            }
            guard authorization == "Bearer \(key)" else { throw DatabricksError(401, "Invalid access token.") }
        }
        guard valid else {
            throw DatabricksError(404, "No API found for '\(request.method) \(request.path)'", code: "ENDPOINT_NOT_FOUND")
        }
        let (name, found) = try DatabricksError.wrapping(endpoint) { () throws(MockAPIError) in
            try self.faults(for: endpoint, request: request)
        }
        faults = found
        if let error = faults.injectedError { throw DatabricksError(error, endpoint: name) }
        return try DatabricksError.wrapping(name) { () throws(MockAPIError) in
            let body = try MockJSON.object(from: request.body)
            let operation: MockOperation
            if body["messages"] != nil {
                operation = .chat
            } else if body["prompt"] != nil {
                operation = .completions
            } else if body["input"] != nil {
                operation = .embeddings
            } else {
                throw .invalidRequest("The request body must contain one of 'messages' (chat), 'prompt' "
                    + "(completions) or 'input' (embeddings).", param: nil)
            }
            let call = MockCall(serial: serial, created: Int(Date().timeIntervalSince1970), model: name, faults: found)
            return MockReply(status: 200, body: try Self.generate(operation, body: body, call: call))
        }
    }
}

/// An error in Databricks' shape.
private struct DatabricksError: Error {
    var status: Int
    var code: String
    var message: String
    var headers: [(String, String)] = []

    init(_ status: Int, _ message: String, code: String? = nil) {
        self.status = status
        self.code = code ?? Self.code(for: status)
        self.message = message
    }

    /// An OpenAI-shaped error of the generators or faults, in Databricks' terms; a 404
    /// names the endpoint.
    init(_ error: MockAPIError, endpoint: String) {
        let message = switch error.status {
        case 401: "Invalid access token."
        case 404: "Endpoint with name '\(endpoint)' does not exist."
        default: error.message
        }
        self.init(error.status, message)
        headers = error.headers
    }

    /// Runs `body`, turning its OpenAI-shaped error into Databricks'.
    static func wrapping<T>(_ endpoint: String, _ body: () throws(MockAPIError) -> T) throws(DatabricksError) -> T {
        do {
            return try body()
        } catch {
            throw DatabricksError(error, endpoint: endpoint)
        }
    }

    static func code(for status: Int) -> String {
        switch status {
        case 401: "UNAUTHENTICATED"
        case 403: "PERMISSION_DENIED"
        case 404: "RESOURCE_DOES_NOT_EXIST"
        case 409: "RESOURCE_CONFLICT"
        case 429: "REQUEST_LIMIT_EXCEEDED"
        case 499: "CANCELLED"
        case 501: "NOT_IMPLEMENTED"
        case 503: "TEMPORARILY_UNAVAILABLE"
        case 504: "DEADLINE_EXCEEDED"
        case ..<500: "BAD_REQUEST"
        default: "INTERNAL_ERROR"
        }
    }

    func reply(requestID: String) -> MockReply {
        let details: [[String: Any]] = [["@type": "type.googleapis.com/google.rpc.RequestInfo",
                                         "request_id": requestID, "serving_data": ""]]
        return MockReply(status: status, headers: headers,
                         body: .json(MockJSON.encode(["error_code": code, "message": message, "details": details])))
    }
}
