import Crypto

/// AWS Signature Version 4 for requests sent with headers (not presigned URLs), as the
/// IAM guide specifies (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).
///
/// Pure: the caller passes the time. The HTTP client signs with it, and a test server can
/// verify with it (`SigV4.verify`); both sides share one canonical form, checked against
/// AWS's published test-suite signatures.
///
/// libcurl's `CURLOPT_AWS_SIGV4` is not used: up to at least 7.88 it signs the path exactly
/// as sent, while every AWS service except S3 expects each path segment URI-encoded once
/// more, so a Bedrock model id such as `anthropic.claude-3-haiku-20240307-v1:0` (sent as
/// `…v1%3A0`, canonical `…v1%253A0`) fails with "signature does not match".
public enum SigV4 {
    /// The algorithm name in `Authorization` and the string to sign.
    public static let algorithm = "AWS4-HMAC-SHA256"

    /// The headers to add to a request so that it is signed: `Host`, `X-Amz-Date`,
    /// `x-amz-security-token` (temporary credentials) and `Authorization`.
    ///
    /// Signs `host`, `x-amz-date`, the token, `content-type` and every `x-amz-*` header among
    /// `headers`, and the SHA-256 of `body`. `unixTime` is seconds since 1970 (UTC).
    public static func signingHeaders(method: String, url: String, headers: [(name: String, value: String)],
                                      body: [UInt8], signer: AWSSigV4, unixTime: Int) -> [(name: String, value: String)] {
        let parts = URLParts(url)
        let timestamp = amzDate(unixTime)
        var added: [(name: String, value: String)] = [("Host", parts.authority), ("X-Amz-Date", timestamp)]
        if let token = signer.sessionToken { added.append(("x-amz-security-token", token)) }
        var signed: [String: [String]] = [:]
        for header in headers + added {
            let name = header.name.lowercased()
            guard name == "host" || name == "content-type" || name.hasPrefix("x-amz-") else { continue }
            signed[name, default: []].append(header.value)
        }
        let scope = CredentialScope(date: String(timestamp.prefix(8)), region: signer.region, service: signer.service)
        let canonical = canonicalRequest(method: method, rawPath: parts.path, rawQuery: parts.query, headers: signed,
                                         payloadHash: hexSHA256(body))
        let signature = self.signature(canonicalRequest: canonical.text, timestamp: timestamp, scope: scope,
                                       secretAccessKey: signer.secretAccessKey)
        let authorization = "\(algorithm) Credential=\(signer.accessKeyID)/\(scope.text), "
            + "SignedHeaders=\(canonical.signedHeaders), Signature=\(signature)"
        return added + [("Authorization", authorization)]
    }

    /// `date/region/service/aws4_request`.
    struct CredentialScope: Equatable {
        var date: String
        var region: String
        var service: String
        var text: String { "\(date)/\(region)/\(service)/aws4_request" }
    }

    /// The hex signature of a canonical request: HMAC chain `AWS4+secret → date → region →
    /// service → aws4_request`, then HMAC of the string to sign.
    static func signature(canonicalRequest: String, timestamp: String, scope: CredentialScope,
                          secretAccessKey: String) -> String {
        let stringToSign = [algorithm, timestamp, scope.text, hexSHA256(Array(canonicalRequest.utf8))].joined(separator: "\n")
        var key = SymmetricKey(data: Array(("AWS4" + secretAccessKey).utf8))
        for part in [scope.date, scope.region, scope.service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return hex(Array(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key)))
    }

    static func hexSHA256(_ bytes: [UInt8]) -> String { hex(Array(SHA256.hash(data: bytes))) }

    static func hex(_ bytes: [UInt8]) -> String { Hex.lower(bytes) }

    /// `YYYYMMDDTHHMMSSZ` for seconds since 1970 (UTC), without Foundation.
    public static func amzDate(_ unixTime: Int) -> String {
        let days = unixTime >= 0 ? unixTime / 86_400 : (unixTime - 86_399) / 86_400
        let seconds = unixTime - days * 86_400
        let (year, month, day) = CivilDate.fromDays(Int64(days))
        func two<N: BinaryInteger>(_ value: N) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)\(two(month))\(two(day))T\(two(seconds / 3600))\(two(seconds / 60 % 60))\(two(seconds % 60))Z"
    }
}
