/// What an upstream call is signed with: AWS Signature Version 4
/// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html).
///
/// Carried on `UpstreamRequest`; the HTTP client signs when it sends, so the signature's
/// timestamp is the moment of sending, also for a retry. The secret never leaves the
/// signer: only the derived signature goes on the wire.
public struct AWSSigV4: Sendable, Equatable, CustomStringConvertible {
    /// The region in the credential scope (`us-east-1`).
    public var region: String
    /// The signing name of the service (`bedrock` for Bedrock Runtime, from botocore's
    /// `bedrock-runtime` model: `"signingName": "bedrock"`).
    public var service: String
    public var accessKeyID: String
    public var secretAccessKey: String
    /// The session token of temporary credentials, sent (and signed) as `x-amz-security-token`.
    public var sessionToken: String?

    public init(region: String, service: String, accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.region = region
        self.service = service
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    /// Names the scope and key id only, never the secret or the token.
    public var description: String { "AWSSigV4(\(accessKeyID)/\(region)/\(service))" }
}
