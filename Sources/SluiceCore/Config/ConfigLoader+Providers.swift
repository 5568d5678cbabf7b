import Yams

extension ConfigLoader.Reader {
    /// Provider kinds named in the design that a later version will support.

    /// `providers:`: at least one, by name. `names` lists every declared name, even of
    /// providers with problems, so that routes naming them do not report them again.
    ///
    /// Like every section reader, a field with a problem is reported and left at its
    /// default; the loader throws whenever anything was reported.
    func providerConfigs(_ node: Node, at path: String) -> (byName: [String: ProviderConfig], names: [String]) {
        var byName: [String: ProviderConfig] = [:]
        var names: [String] = []
        guard let entries = entries(node, at: path) else { return ([:], []) }
        if entries.isEmpty {
            report("at least one provider is required", at: node, field: path)
        }
        for entry in entries {
            let field = ConfigLoader.join(path, entry.key)
            guard isValidName(entry.key, at: entry.keyNode, field: field, what: "provider") else { continue }
            names.append(entry.key)
            if let provider = providerConfig(named: entry.key, entry.value, at: field) {
                byName[entry.key] = provider
            }
        }
        return (byName, names)
    }

    /// `providers.NAME:`.
    private func providerConfig(named name: String, _ node: Node, at path: String) -> ProviderConfig? {
        let allowed = ["kind", "base_url", "api_key", "auth_header", "auth_prefix", "headers", "timeouts"]
            + Self.kindSpecificFields.map(\.field)
        guard let fields = fields(node, at: path, allowed: allowed) else { return nil }
        let kind = required(fields, "kind").flatMap { providerKind($0, at: fields.path("kind")) }
        let region = kind == .bedrock ? awsRegion(fields) : nil
        let baseURL = baseURL(fields, kind: kind, region: region)
        // Read the other fields even without a kind or URL, to report their problems too.
        var provider = ProviderConfig(name: name, kind: kind ?? .openai, baseURL: baseURL ?? "", apiKey: nil)
        provider.region = region
        if kind == .anthropic {
            (provider.authHeader, provider.authPrefix) = ("x-api-key", "")
        }
        if kind == .azureOpenAI {
            provider.authHeader = "api-key"
            provider.authPrefix = ""
        }
        if let node = fields["api_key"], let key = secret(node, at: fields.path("api_key")),
           isHeaderSafe(key, at: node, field: fields.path("api_key")) {
            provider.apiKey = key
        }
        if let node = fields["auth_header"], let header = headerName(node, at: fields.path("auth_header")) {
            provider.authHeader = header
        }
        if let node = fields["auth_prefix"], let prefix = string(node, at: fields.path("auth_prefix")) {
            if prefix.unicodeScalars.contains(where: Self.isControl) {
                report("must not contain control characters", at: node, field: fields.path("auth_prefix"))
            }
            provider.authPrefix = prefix
        }
        if let node = fields["headers"] {
            provider.headers = extraHeaders(node, at: fields.path("headers"))
        }
        if let node = fields["timeouts"] {
            provider.timeouts = timeouts(node, at: fields.path("timeouts"))
        }
        if let node = fields["anthropic_version"], kind == .anthropic {
            if let version = nonEmptyString(node, at: fields.path("anthropic_version")) {
                if version.unicodeScalars.contains(where: { Self.isControl($0) || $0 == " " }) {
                    report("must not contain spaces or control characters", at: node, field: fields.path("anthropic_version"))
                }
                provider.anthropicVersion = version
            }
        }
        let kindFieldsValid = kindSpecificFields(fields, kind: kind, into: &provider)
        return kind != nil && baseURL != nil && kindFieldsValid && (kind != .bedrock || region != nil) ? provider : nil
    }

    /// `kind:`, one of `ProviderKind`.
    private func providerKind(_ node: Node, at path: String) -> ProviderKind? {
        guard let text = string(node, at: path) else { return nil }
        if let kind = ProviderKind(rawValue: text) { return kind }
        let supported = ProviderKind.allCases.map(\.rawValue).joined(separator: ", ")
        report("unknown provider kind '\(text)' (supported: \(supported))", at: node, field: path)
        return nil
    }

    /// `base_url:`, defaulted for `openai`, `anthropic` and `bedrock` (from `region`),
    /// required otherwise; one trailing slash removed.
    private func baseURL(_ fields: ConfigLoader.Fields, kind: ProviderKind?, region: String?) -> String? {
        guard let node = fields["base_url"] else {
            switch kind {
            case .openai: return "https://api.openai.com/v1"
            case .anthropic: return "https://api.anthropic.com/v1"
            case .bedrock: return region.map { "https://bedrock-runtime.\($0).amazonaws.com" }
            case .openaiCompatible, .azureOpenAI, .databricks:
                _ = required(fields, "base_url", because: " (kind \(kind?.rawValue ?? "") has no default)")
                return nil
            case nil: return nil
            }
        }
        guard let text = nonEmptyString(node, at: fields.path("base_url")) else { return nil }
        let schemes = ["http://", "https://"]
        guard let scheme = schemes.first(where: { text.lowercased().hasPrefix($0) }), text.count > scheme.count,
              !text.unicodeScalars.contains(where: { Self.isControl($0) || $0 == " " }) else {
            report("expected a URL starting with http:// or https://", at: node, field: fields.path("base_url"))
            return nil
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    /// `headers:`: header name → secret value, in file order.
    func extraHeaders(_ node: Node, at path: String) -> [(name: String, value: Secret)] {
        var headers: [(name: String, value: Secret)] = []
        guard let entries = entries(node, at: path) else { return [] }
        for entry in entries {
            let field = ConfigLoader.join(path, entry.key)
            guard isHeaderName(entry.key, at: entry.keyNode, field: field),
                  let value = secret(entry.value, at: field), isHeaderSafe(value, at: entry.value, field: field) else {
                continue
            }
            headers.append((entry.key, value))
        }
        return headers
    }

    /// A header name given as a value (`auth_header:`).
    private func headerName(_ node: Node, at path: String) -> String? {
        guard let name = string(node, at: path), isHeaderName(name, at: node, field: path) else { return nil }
        return name
    }

    /// An HTTP field name: one or more token characters (RFC 9110, section 5.6.2).
    private func isHeaderName(_ name: String, at node: Node, field: String) -> Bool {
        let token = "!#$%&'*+-.^_`|~"
        let valid = !name.isEmpty && name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || token.unicodeScalars.contains($0))
        }
        if !valid {
            report("invalid HTTP header name '\(name)'", at: node, field: field)
        }
        return valid
    }

    /// C0 controls and DEL.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7F
    }

    /// `timeouts:` with any of `connect`, `first_byte`, `idle`, `total`.
    func timeouts(_ node: Node, at path: String) -> Timeouts {
        var timeouts = Timeouts()
        guard let fields = fields(node, at: path, allowed: ["connect", "first_byte", "idle", "total"]) else {
            return timeouts
        }
        timeouts.connect = fields["connect"].flatMap { duration($0, at: fields.path("connect")) }
        timeouts.firstByte = fields["first_byte"].flatMap { duration($0, at: fields.path("first_byte")) }
        timeouts.idle = fields["idle"].flatMap { duration($0, at: fields.path("idle")) }
        timeouts.total = fields["total"].flatMap { duration($0, at: fields.path("total")) }
        return timeouts
    }
}
