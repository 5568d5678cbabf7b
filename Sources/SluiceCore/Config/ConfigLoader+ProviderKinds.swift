import Yams

/// The fields only some provider kinds have: Bedrock's region and AWS credentials, Azure
/// OpenAI's `api_version`.
extension ConfigLoader.Reader {
    /// Each kind-specific field and the kind it belongs to.
    static let kindSpecificFields: [(field: String, kind: ProviderKind)] = [
        ("region", .bedrock), ("access_key_id", .bedrock), ("secret_access_key", .bedrock),
        ("session_token", .bedrock), ("api_version", .azureOpenAI), ("anthropic_version", .anthropic),
    ]

    /// Reads the fields of `kind` into `provider` and reports fields of other kinds, or
    /// credentials a kind needs and lacks. `false` when something was reported.
    func kindSpecificFields(_ fields: ConfigLoader.Fields, kind: ProviderKind?, into provider: inout ProviderConfig) -> Bool {
        guard let kind else { return true }
        var valid = true
        for (field, owner) in Self.kindSpecificFields where owner != kind {
            if let node = fields[field] {
                report("'\(field)' applies only to providers of kind \(owner.rawValue)", at: node, field: fields.path(field))
                valid = false
            }
        }
        switch kind {
        case .bedrock:
            valid = awsCredentials(fields, into: &provider) && valid
        case .azureOpenAI:
            valid = azureAPIVersion(fields, into: &provider) && valid
            if provider.apiKey == nil, fields["api_key"] == nil, !provider.headers.contains(where: { $0.name.lowercased() == "authorization" }) {
                _ = required(fields, "api_key", because: " (sent as the api-key header; or set an Authorization header)")
                valid = false
            }
        case .databricks:
            if fields["api_key"] == nil {
                _ = required(fields, "api_key", because: " (a Databricks token, sent as Authorization: Bearer)")
                valid = false
            }
        case .openai, .openaiCompatible, .anthropic:
            break
        }
        return valid
    }

    /// `region:` of a Bedrock provider: required, lower-case letters, digits and dashes.
    func awsRegion(_ fields: ConfigLoader.Fields) -> String? {
        guard let node = required(fields, "region", because: " (kind bedrock signs every call for one AWS region)"),
              let region = nonEmptyString(node, at: fields.path("region")) else { return nil }
        let valid = region.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
        guard valid else {
            report("invalid AWS region '\(region)' (expected e.g. us-east-1)", at: node, field: fields.path("region"))
            return nil
        }
        return region
    }

    /// `access_key_id`, `secret_access_key` and optional `session_token`: secrets. A Bedrock
    /// provider needs the key pair unless `api_key` holds a Bedrock API key (bearer token).
    private func awsCredentials(_ fields: ConfigLoader.Fields, into provider: inout ProviderConfig) -> Bool {
        func secretField(_ name: String) -> Secret? {
            guard let node = fields[name], let value = secret(node, at: fields.path(name)),
                  isHeaderSafe(value, at: node, field: fields.path(name)) else { return nil }
            return value
        }
        let keyID = secretField("access_key_id")
        let secretKey = secretField("secret_access_key")
        let token = secretField("session_token")
        let declared = ["access_key_id", "secret_access_key", "session_token"].filter { fields[$0] != nil }
        if declared.isEmpty {
            guard fields["api_key"] == nil else { return true }
            _ = required(fields, "access_key_id", because: " (kind bedrock needs access_key_id and secret_access_key, or a Bedrock api_key)")
            return false
        }
        if fields["api_key"] != nil {
            report("set either api_key (a Bedrock API key) or access_key_id/secret_access_key, not both",
                   at: fields["api_key"], field: fields.path("api_key"))
            return false
        }
        var valid = true
        for name in ["access_key_id", "secret_access_key"] where fields[name] == nil {
            _ = required(fields, name, because: " (AWS credentials come in pairs)")
            valid = false
        }
        guard valid, let keyID, let secretKey, declared.contains("session_token") == (token != nil) else { return false }
        provider.awsCredentials = AWSCredentials(accessKeyID: keyID, secretAccessKey: secretKey, sessionToken: token)
        return true
    }

    /// `api_version:` of an Azure OpenAI provider: required, `YYYY-MM-DD` with an optional
    /// `-preview` suffix.
    private func azureAPIVersion(_ fields: ConfigLoader.Fields, into provider: inout ProviderConfig) -> Bool {
        guard let node = required(fields, "api_version", because: " (Azure OpenAI needs an api-version, e.g. 2024-10-21)"),
              let version = nonEmptyString(node, at: fields.path("api_version")) else { return false }
        let date = version.prefix(10)
        let shape = date.enumerated().allSatisfy { index, character in
            index == 4 || index == 7 ? character == "-" : character.isASCII && character.isNumber
        }
        guard date.count == 10, shape, version.count == 10 || version.dropFirst(10).hasPrefix("-") else {
            report("invalid api_version '\(version)' (expected a date such as 2024-10-21 or 2025-04-01-preview)",
                   at: node, field: fields.path("api_version"))
            return false
        }
        provider.apiVersion = version
        return true
    }
}
