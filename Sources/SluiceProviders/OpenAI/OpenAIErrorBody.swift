import SluiceCore

/// Reading OpenAI-shaped error bodies from providers.
enum OpenAIErrorBody {
    /// The client-facing error for a provider's non-2xx answer: the provider's status and
    /// message where safe; the provider refusing *our* credentials becomes a 502, since
    /// it is the gateway's fault, not the caller's.
    static func clientError(status: Int, headers: [(name: String, value: String)], body: [UInt8],
                            provider: ProviderConfig) -> GatewayError {
        // A provider may echo the credential it was sent: never pass that on.
        let secrets = ([provider.apiKey] + provider.headers.map(\.value)).compactMap { $0?.exposedValue }.filter { !$0.isEmpty }
        let redact: (String?) -> String? = { text in
            text.map { secrets.reduce($0) { $1.count >= 4 ? $0.replacingAll($1, with: "[redacted]") : $0 } }
        }
        let raw = fields(in: body)
        let fields = (message: redact(raw.message), type: redact(raw.type), code: redact(raw.code), param: redact(raw.param))
        let message = fields.message ?? "The provider answered HTTP \(status)."
        if status == 401 || status == 403 {
            return GatewayError(.upstreamError,
                                "Provider '\(provider.name)' refused the gateway's credentials (HTTP \(status)).")
        }
        let retryAfter = headers.first { $0.name == "retry-after" }.flatMap { Int($0.value) }
        guard (400...599).contains(status) else {
            return GatewayError(.upstreamError, "Provider '\(provider.name)' answered with unexpected HTTP \(status).")
        }
        return GatewayError(upstreamStatus: status, message: message, type: fields.type, code: fields.code,
                            param: fields.param, retryAfter: retryAfter)
    }

    /// `error.message` of an OpenAI error body.
    static func message(in body: [UInt8]) -> String? { fields(in: body).message }

    private static func fields(in body: [UInt8]) -> (message: String?, type: String?, code: String?, param: String?) {
        guard let top = try? JSONScanner.topLevelMembers(of: body),
              let error = top.first(where: { $0.key == "error" }) else { return (nil, nil, nil, nil) }
        if error.kind == .string {
            return (JSONScanner.decodeString(at: error.range, in: body), nil, nil, nil)
        }
        guard error.kind == .object else { return (nil, nil, nil, nil) }
        var out: (message: String?, type: String?, code: String?, param: String?) = (nil, nil, nil, nil)
        for member in JSONScanner.members(of: error.range, in: body) {
            let text: String?
            switch member.kind {
            case .string: text = JSONScanner.decodeString(at: member.range, in: body)
            case .number: text = String(decoding: body[member.range], as: UTF8.self)
            default: text = nil
            }
            switch member.key {
            case "message": out.message = text
            case "type": out.type = text
            case "code": out.code = text
            case "param": out.param = text
            default: break
            }
        }
        return out
    }
}

extension String {
    /// Every occurrence of `target` replaced (no Foundation needed).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
