/// Checking a Signature Version 4 request the way an AWS service does, for test servers
/// (the mock provider) and for tests of the signing client.
extension SigV4 {
    /// Why a request's signature was refused.
    public enum VerificationFailure: Error, Equatable, Sendable {
        /// No `Authorization` header, or not `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
        case malformedAuthorization
        /// The access key id is not one the verifier knows.
        case unknownAccessKey(String)
        /// `x-amz-date` is missing, malformed, or not on the credential scope's date.
        case badDate
        /// The request time is further from `now` than the allowed skew.
        case expired
        /// A header named in `SignedHeaders` is not in the request, or `host` is not signed.
        case missingSignedHeader(String)
        /// The scope's region or service is not the expected one.
        case wrongScope(String)
        /// The signature does not match the request.
        case signatureMismatch
    }

    /// What a verified request was signed with.
    public struct VerifiedCredential: Equatable, Sendable {
        public var accessKeyID: String
        public var region: String
        public var service: String
        public var signedHeaders: [String]
    }

    /// Verifies a received request. `rawPath` and `rawQuery` are the request target exactly
    /// as received; `headers` are the received header fields (any case). `secretAccessKey`
    /// looks up the secret of an access key id. `now` (seconds since 1970) and `maxSkew`
    /// check the request time, as AWS does (5 minutes).
    public static func verify(method: String, rawPath: String, rawQuery: String = "",
                              headers: [(name: String, value: String)], body: [UInt8],
                              region: String? = nil, service: String? = nil,
                              now: Int? = nil, maxSkew: Int = 300,
                              secretAccessKey: (String) -> String?) -> Result<VerifiedCredential, VerificationFailure> {
        var received: [String: [String]] = [:]
        for header in headers { received[header.name.lowercased(), default: []].append(header.value) }
        guard let authorization = received["authorization"]?.first,
              let parsed = parseAuthorization(authorization) else { return .failure(.malformedAuthorization) }
        guard let secret = secretAccessKey(parsed.accessKeyID) else { return .failure(.unknownAccessKey(parsed.accessKeyID)) }
        if let region, parsed.scope.region != region { return .failure(.wrongScope(parsed.scope.region)) }
        if let service, parsed.scope.service != service { return .failure(.wrongScope(parsed.scope.service)) }
        guard let timestamp = received["x-amz-date"]?.first, timestamp.utf8.count == 16,
              timestamp.hasPrefix(parsed.scope.date) else { return .failure(.badDate) }
        if let now, let sent = unixTime(amzDate: timestamp), abs(now - sent) > maxSkew { return .failure(.expired) }
        guard parsed.signedHeaders.contains("host") else { return .failure(.missingSignedHeader("host")) }
        var signed: [String: [String]] = [:]
        for name in parsed.signedHeaders {
            guard let values = received[name] else { return .failure(.missingSignedHeader(name)) }
            signed[name] = values
        }
        let canonical = canonicalRequest(method: method, rawPath: rawPath, rawQuery: rawQuery, headers: signed,
                                         payloadHash: hexSHA256(body))
        let expected = signature(canonicalRequest: canonical.text, timestamp: timestamp, scope: parsed.scope,
                                 secretAccessKey: secret)
        guard constantTimeEqual(expected, parsed.signature) else { return .failure(.signatureMismatch) }
        return .success(VerifiedCredential(accessKeyID: parsed.accessKeyID, region: parsed.scope.region,
                                           service: parsed.scope.service, signedHeaders: parsed.signedHeaders))
    }

    static func parseAuthorization(_ value: String)
        -> (accessKeyID: String, scope: CredentialScope, signedHeaders: [String], signature: String)? {
        guard value.hasPrefix(algorithm + " ") else { return nil }
        var fields: [String: String] = [:]
        for item in value.dropFirst(algorithm.count + 1).split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { return nil }
            fields[trimmedValue(String(pair[0]))] = trimmedValue(String(pair[1]))
        }
        guard let credential = fields["Credential"], let signedHeaders = fields["SignedHeaders"],
              let signature = fields["Signature"] else { return nil }
        let parts = credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5, parts[4] == "aws4_request", parts[1].utf8.count == 8 else { return nil }
        return (parts[0], CredentialScope(date: parts[1], region: parts[2], service: parts[3]),
                signedHeaders.split(separator: ";").map(String.init), signature)
    }

    /// Seconds since 1970 for `YYYYMMDDTHHMMSSZ`.
    static func unixTime(amzDate text: String) -> Int? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? { Int(String(decoding: bytes[range], as: UTF8.self)) }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8), let hour = number(9..<11),
              let minute = number(11..<13), let second = number(13..<15), (1...12).contains(month) else { return nil }
        // Days since 1970-01-01 from a civil date (the inverse of `amzDate`).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return days * 86_400 + hour * 3600 + minute * 60 + second
    }

    private static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}
