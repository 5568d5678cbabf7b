import Foundation
import SluiceCore

/// Authenticates a Bedrock request the way AWS does in front of Bedrock Runtime, with
/// AWS's error types and texts (all 403):
///
/// - With an access key pair in ``MockBedrockOptions``: `Authorization: AWS4-HMAC-SHA256 …`
///   checked by `SigV4.verify` for the service `bedrock` and the configured region, with
///   `x-amz-date` within ``MockBedrockOptions/maxSkew`` of the mock's clock. No header:
///   `MissingAuthenticationTokenException`; an unknown key id or a wrong
///   `x-amz-security-token`: `UnrecognizedClientException`; an unreadable header:
///   `IncompleteSignatureException`; any other mismatch: `InvalidSignatureException`, whose
///   message quotes the canonical request and string to sign the mock expected, as AWS's does.
/// - `Authorization: Bearer <key>` (a Bedrock API key) is accepted when it equals
///   ``MockProviderOptions/apiKey``; any other bearer token gets `AccessDeniedException`.
/// - With neither configured, every request passes; the outcome says it was not checked.
enum MockBedrockAuth {
    /// How one request authenticated, for ``MockBedrockAuthLog``.
    struct Outcome: Sendable, Equatable {
        /// `sigv4`, `bearer`, or `none` (no `Authorization` header).
        var scheme: String
        /// Whether the credential was checked and found good.
        var verified: Bool
        /// The error type of a refusal.
        var error: String?
    }

    static func check(_ request: HTTPRequest, options: MockBedrockOptions, apiKey: String?,
                      now: Int) -> (Outcome, MockBedrockError?) {
        let authorization = request.header("authorization")
        let scheme = authorization.map { $0.hasPrefix("Bearer ") ? "bearer" : "sigv4" } ?? "none"
        guard options.verifiesSignatures || apiKey != nil else {
            return (Outcome(scheme: scheme, verified: false), nil)
        }
        let error: MockBedrockError?
        if let authorization, authorization.hasPrefix("Bearer ") {
            error = apiKey.map { "Bearer " + $0 } == authorization ? nil : denied(
                "AccessDeniedException", "Authentication failed: Please make sure your API Key is valid.")
        } else if authorization == nil {
            error = denied("MissingAuthenticationTokenException", "Missing Authentication Token")
        } else if !options.verifiesSignatures {
            error = denied("UnrecognizedClientException", "The security token included in the request is invalid.")
        } else {
            error = verifySignature(request, options: options, now: now)
        }
        return (Outcome(scheme: scheme, verified: error == nil, error: error?.type), error)
    }

    private static func verifySignature(_ request: HTTPRequest, options: MockBedrockOptions,
                                        now: Int) -> MockBedrockError? {
        let query = request.target.firstIndex(of: "?").map { String(request.target[request.target.index(after: $0)...]) } ?? ""
        let body = Array(request.body)
        let result = SigV4.verify(method: request.method, rawPath: request.path, rawQuery: query, headers: request.headers,
                                  body: body, region: options.region, service: "bedrock", now: now,
                                  maxSkew: options.maxSkew) { $0 == options.accessKeyID ? options.secretAccessKey : nil }
        switch result {
        case .success:
            guard request.header("x-amz-security-token") == options.sessionToken else {
                return denied("UnrecognizedClientException", "The security token included in the request is invalid.")
            }
            return nil
        case .failure(.malformedAuthorization):
            return denied("IncompleteSignatureException",
                          "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters "
                              + "(\(SigV4.algorithm) Credential=…, SignedHeaders=…, Signature=…).")
        case .failure(.unknownAccessKey):
            return denied("UnrecognizedClientException", "The security token included in the request is invalid.")
        case .failure(.wrongScope):
            let credential = request.header("authorization") ?? ""
            return denied("InvalidSignatureException", credential.contains("/\(options.region)/")
                              ? "Credential should be scoped to correct service: 'bedrock'. "
                              : "Credential should be scoped to a valid region. ")
        case .failure(.badDate):
            return badDate(request)
        case .failure(.expired):
            return expired(request.header("x-amz-date") ?? "", now: now, maxSkew: options.maxSkew)
        case .failure(.missingSignedHeader("host")):
            return denied("InvalidSignatureException", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
        case .failure(.missingSignedHeader), .failure(.signatureMismatch):
            return mismatch(request, query: query, body: body)
        }
    }

    private static func badDate(_ request: HTTPRequest) -> MockBedrockError {
        guard let date = request.header("x-amz-date") else {
            return denied("IncompleteSignatureException",
                          "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        }
        let credential = request.header("authorization")?.components(separatedBy: "Credential=").dropFirst().first ?? ""
        let scope = credential.split(separator: "/").dropFirst().first.map(String.init) ?? ""
        return denied("InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                          + "version of date from HTTP: '\(scope)' != '\(date.prefix(8))', from '\(date)'.")
    }

    private static func expired(_ date: String, now: Int, maxSkew: Int) -> MockBedrockError {
        let minutes = "\(maxSkew / 60) min."
        let message = if let sent = SigV4.unixTime(fromAmzDate: date), sent > now {
            "Signature not yet current: \(date) is still later than \(SigV4.amzDate(now + maxSkew)) "
                + "(\(SigV4.amzDate(now)) + \(minutes))"
        } else {
            "Signature expired: \(date) is now earlier than \(SigV4.amzDate(now - maxSkew)) "
                + "(\(SigV4.amzDate(now)) - \(minutes))"
        }
        return denied("InvalidSignatureException", message)
    }

    private static func mismatch(_ request: HTTPRequest, query: String, body: [UInt8]) -> MockBedrockError {
        var message = "The request signature we calculated does not match the signature you provided. Check your AWS "
            + "Secret Access Key and signing method. Consult the service documentation for details."
        if let expected = SigV4.expectedSigning(method: request.method, rawPath: request.path, rawQuery: query,
                                                headers: request.headers, body: body) {
            message += "\n\nThe Canonical String for this request should have been\n'\(expected.canonicalRequest)'"
                + "\n\nThe String-to-Sign should have been\n'\(expected.stringToSign)'\n"
        }
        return denied("InvalidSignatureException", message)
    }

    private static func denied(_ type: String, _ message: String) -> MockBedrockError {
        MockBedrockError(status: 403, type: type, message: message)
    }
}
