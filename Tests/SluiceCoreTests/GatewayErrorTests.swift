import Foundation
import SluiceCore
import XCTest

/// Every client-visible error maps to one status and one OpenAI-shaped body.
final class GatewayErrorTests: XCTestCase {
    private let expectedStatus: [GatewayError.Code: Int] = [
        .invalidJSON: 400, .invalidRequest: 400, .routeWrongType: 400, .missingTag: 400,
        .rateLimited: 429, .budgetExceeded: 429,
        .missingCredential: 401, .invalidCredential: 401,
        .routeNotAllowed: 403, .identityNotAllowed: 403,
        .routeNotFound: 404, .notFound: 404,
        .methodNotAllowed: 405, .requestTooLarge: 413,
        .contextLengthExceeded: 400, .contentBlocked: 400, .answerBlocked: 422,
        .upstreamUnavailable: 502, .upstreamError: 502, .upstreamTimeout: 504,
        .backendUnavailable: 503, .internalError: 500,
        .upstreamStatus: 502,  // without an upstream status
    ]

    private let expectedType: [GatewayError.Code: String] = [
        .invalidJSON: "invalid_request_error", .invalidRequest: "invalid_request_error",
        .routeWrongType: "invalid_request_error", .routeNotFound: "invalid_request_error",
        .notFound: "invalid_request_error", .methodNotAllowed: "invalid_request_error",
        .requestTooLarge: "invalid_request_error", .missingTag: "invalid_request_error",
        .contextLengthExceeded: "invalid_request_error", .contentBlocked: "invalid_request_error",
        .answerBlocked: "invalid_request_error",
        .rateLimited: "requests", .budgetExceeded: "insufficient_quota",
        .missingCredential: "authentication_error", .invalidCredential: "authentication_error",
        .routeNotAllowed: "permission_error", .identityNotAllowed: "permission_error",
        .upstreamUnavailable: "upstream_error", .upstreamTimeout: "upstream_error", .upstreamError: "upstream_error",
        .backendUnavailable: "service_unavailable", .internalError: "server_error",
        .upstreamStatus: "server_error",
    ]

    func testEveryCodeHasAStatusTypeAndBody() throws {
        XCTAssertEqual(Set(expectedStatus.keys), Set(GatewayError.Code.allCases), "the table covers every code")
        for code in GatewayError.Code.allCases {
            let error = GatewayError(code, "Something about \(code.rawValue).", param: "p")
            XCTAssertEqual(error.httpStatus, expectedStatus[code], code.rawValue)
            XCTAssertEqual(error.errorType, expectedType[code], code.rawValue)

            let fields = try errorFields(error.jsonBody)
            XCTAssertEqual(fields["message"] as? String, "Something about \(code.rawValue).")
            XCTAssertEqual(fields["type"] as? String, expectedType[code])
            XCTAssertEqual(fields["param"] as? String, "p")
            if code == .upstreamStatus {
                XCTAssertTrue(fields["code"] is NSNull, "an upstream error without a code has code null")
            } else {
                XCTAssertEqual(fields["code"] as? String, code.rawValue)
            }
        }
    }

    func testBodyShapeIsExactlyOpenAIs() throws {
        let error = GatewayError(.routeNotFound, "The model 'x' does not exist.")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(error.jsonBody.utf8)) as? [String: Any])
        XCTAssertEqual(Array(object.keys), ["error"])
        let fields = try XCTUnwrap(object["error"] as? [String: Any])
        XCTAssertEqual(Set(fields.keys), ["message", "type", "param", "code"])
        XCTAssertTrue(fields["param"] is NSNull, "param is null, not missing")
        XCTAssertEqual(error.jsonBody,
                       #"{"error":{"message":"The model 'x' does not exist.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#)
    }

    func testMessagesNeedingEscapesStayValidJSON() throws {
        let message = "bad \"quote\" \\ back\nslash\t\u{1} é 😀"
        let fields = try errorFields(GatewayError.invalidRequest(message, param: "a\"b").jsonBody)
        XCTAssertEqual(fields["message"] as? String, message)
        XCTAssertEqual(fields["param"] as? String, "a\"b")
    }

    func testUpstreamErrorsKeepStatusTypeAndCode() throws {
        let limited = GatewayError(upstreamStatus: 429, message: "Rate limit reached.", type: "requests",
                                   code: "rate_limit_exceeded", param: nil, retryAfter: 7)
        XCTAssertEqual(limited.code, .upstreamStatus)
        XCTAssertEqual(limited.httpStatus, 429)
        XCTAssertEqual(limited.errorType, "requests")
        XCTAssertEqual(limited.errorCode, "rate_limit_exceeded")
        XCTAssertEqual(limited.retryAfter, 7)
        let fields = try errorFields(limited.jsonBody)
        XCTAssertEqual(fields["message"] as? String, "Rate limit reached.")
        XCTAssertEqual(fields["type"] as? String, "requests")
        XCTAssertEqual(fields["code"] as? String, "rate_limit_exceeded")
        XCTAssertTrue(fields["param"] is NSNull)

        let notFound = GatewayError(upstreamStatus: 404, message: "no such model", type: "invalid_request_error",
                                    code: "model_not_found", param: "model", retryAfter: nil)
        XCTAssertEqual(notFound.httpStatus, 404)
        XCTAssertEqual(try errorFields(notFound.jsonBody)["param"] as? String, "model")
    }

    func testUpstreamErrorTypeDefaultsByStatus() {
        func type(_ status: Int) -> String {
            GatewayError(upstreamStatus: status, message: "m", type: nil, code: nil, param: nil, retryAfter: nil).errorType
        }
        XCTAssertEqual(type(429), "rate_limit_error")
        XCTAssertEqual(type(400), "invalid_request_error")
        XCTAssertEqual(type(404), "invalid_request_error")
        XCTAssertEqual(type(500), "server_error")
        XCTAssertEqual(type(503), "server_error")
    }

    func testStreamEventFormat() throws {
        let error = GatewayError(.upstreamTimeout, "The provider stopped sending.")
        let event = error.streamEvent
        XCTAssertTrue(event.hasPrefix("data: {"), event)
        XCTAssertTrue(event.hasSuffix("}\n\n"), event)
        XCTAssertEqual(event.filter { $0 == "\n" }.count, 2, "one data line, then the blank line")
        let json = String(event.dropFirst("data: ".count).dropLast(2))
        XCTAssertEqual(json, error.jsonBody)
        XCTAssertEqual(try errorFields(json)["code"] as? String, "upstream_timeout")

        // A message with a newline must not break the event into two lines.
        let multiline = GatewayError(.upstreamError, "line one\nline two").streamEvent
        XCTAssertEqual(multiline.filter { $0 == "\n" }.count, 2, multiline)
    }

    func testDescriptionIsCodeAndMessage() {
        XCTAssertEqual(GatewayError(.notFound, "Nope.").description, "not_found: Nope.")
    }

    func testMessagesAndParamsAreCappedWhateverTheyQuote() {
        let huge = String(repeating: "m", count: 1 << 20)
        let error = GatewayError(.routeNotFound, "The model '\(huge)' does not exist.", param: huge)
        XCTAssertLessThanOrEqual(error.message.utf8.count, GatewayError.maxMessage + 3)
        XCTAssertTrue(error.message.hasSuffix("…"))
        XCTAssertLessThanOrEqual(error.param?.utf8.count ?? 0, GatewayError.maxParam + 3)
        XCTAssertEqual(GatewayError.quote(huge).count, 201)
        XCTAssertEqual(GatewayError.quote("gpt-4o"), "gpt-4o")
    }

    func testCredentialShapedInputIsNeverQuoted() {
        for value in ["sk-sluice-" + String(repeating: "a", count: 40), "sk-proj-abcdefghijklmnopqrstuvwxyz",
                      "sk-ant-api03-abcdefghijklmnop", "Bearer abc", "AKIAABCDEFGHIJKLMNOP"] {
            XCTAssertEqual(GatewayError.quote(value), "(a value shaped like a credential)", value)
            XCTAssertThrowsError(try RequestTags.parse(header: "team=\(value)"), value)
        }
        XCTAssertEqual(try RequestTags.parse(header: "team=search, sk=1"), ["team": "search", "sk": "1"])
    }

    func testCredentialShapesAreRecognisedWhateverTheirCase() {
        let key = "sk-sluice-" + String(repeating: "a", count: 40)
        let credentials = [key, "SK-proj-0123456789abcdefghij", "sk-ant-api03-abcdefghijklmnop", "Bearer abc", "bearer x",
                           "AKIAIOSFODNN7EXAMPLE", "ASIAIOSFODNN7EXAMPLE", "team sk-Sluice-xyz inside", "x sk-sluice-"]
        let others = ["", "sk-", "sk-short", "support", "bearer", "akiaIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPL",
                      "sk-sluic", "façade sk-sluice", "日本語のタグ"]
        for value in credentials { XCTAssertTrue(GatewayError.looksLikeCredential(value), value) }
        for value in others { XCTAssertFalse(GatewayError.looksLikeCredential(value), value) }
    }
}

/// The `error` object of an OpenAI-shaped error body.
private func errorFields(_ body: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
    let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any], body,
                               file: file, line: line)
    XCTAssertEqual(object.count, 1, body, file: file, line: line)
    return try XCTUnwrap(object["error"] as? [String: Any], body, file: file, line: line)

}
