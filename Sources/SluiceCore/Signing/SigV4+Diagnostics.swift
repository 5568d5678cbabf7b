/// What a server that refuses a Signature Version 4 request tells the client, the way AWS
/// does in an `InvalidSignatureException`: the canonical request and the string to sign it
/// expected, and the request time read from `x-amz-date`.
extension SigV4 {
    /// The canonical request and string to sign that AWS would compute for a received request.
    public struct ExpectedSigning: Equatable, Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
    }

    /// The canonical request and string to sign for a received request, from the headers its
    /// `Authorization` names in `SignedHeaders` (absent ones count as empty) and the SHA-256
    /// of `body`; `nil` when the `Authorization` header or `x-amz-date` cannot be read.
    /// Arguments as for ``verify(method:rawPath:rawQuery:headers:body:region:service:now:maxSkew:secretAccessKey:)``.
    public static func expectedSigning(method: String, rawPath: String, rawQuery: String = "",
                                       headers: [(name: String, value: String)], body: [UInt8]) -> ExpectedSigning? {
        var received: [String: [String]] = [:]
        for header in headers { received[header.name.lowercased(), default: []].append(header.value) }
        guard let authorization = received["authorization"]?.first, let parsed = parseAuthorization(authorization),
              let timestamp = received["x-amz-date"]?.first else { return nil }
        var signed: [String: [String]] = [:]
        for name in parsed.signedHeaders { signed[name] = received[name] ?? [""] }
        let canonical = canonicalRequest(method: method, rawPath: rawPath, rawQuery: rawQuery, headers: signed,
                                         payloadHash: hexSHA256(body))
        let stringToSign = [algorithm, timestamp, parsed.scope.text, hexSHA256(Array(canonical.text.utf8))]
            .joined(separator: "\n")
        return ExpectedSigning(canonicalRequest: canonical.text, stringToSign: stringToSign)
    }

    /// Seconds since 1970 for an `x-amz-date` value (`YYYYMMDDTHHMMSSZ`), or `nil`.
    public static func unixTime(fromAmzDate text: String) -> Int? {
        unixTime(amzDate: text)
    }
}
