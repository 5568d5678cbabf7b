/// What the Bedrock Runtime paths (`/model/{modelId}/…`) of a ``MockProviderServer``
/// demand of a caller.
///
/// With an access key pair, every Bedrock request must be signed with Signature Version 4
/// for the service `bedrock` and ``region`` (or carry `Authorization: Bearer <apiKey>`
/// when ``MockProviderOptions/apiKey`` is set, as a Bedrock API key); see ``MockBedrockAuth``.
/// Without one, only the API key is checked, if set.
public struct MockBedrockOptions: Sendable, CustomStringConvertible {
    /// The access key id requests must be signed with.
    public var accessKeyID: String?
    /// Its secret.
    public var secretAccessKey: String?
    /// When set, requests must also carry (and sign) it as `x-amz-security-token`, as with
    /// temporary credentials.
    public var sessionToken: String?
    /// The region of the credential scope.
    public var region: String
    /// How far `x-amz-date` may be from the mock's clock, in seconds (AWS allows 15 minutes).
    public var maxSkew: Int

    /// Creates options; the defaults verify nothing.
    public init(accessKeyID: String? = nil, secretAccessKey: String? = nil, sessionToken: String? = nil,
                region: String = "us-east-1", maxSkew: Int = 900) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.region = region
        self.maxSkew = maxSkew
    }

    /// Whether requests must be signed.
    var verifiesSignatures: Bool { accessKeyID != nil && secretAccessKey != nil }

    /// A summary that names the key id and region, never the secret or the token.
    public var description: String {
        guard let accessKeyID, verifiesSignatures else { return "MockBedrockOptions(signatures: off)" }
        return "MockBedrockOptions(accessKeyID: \(accessKeyID), region: \(region), sessionToken: "
            + "\(sessionToken == nil ? "none" : "set"))"
    }
}
