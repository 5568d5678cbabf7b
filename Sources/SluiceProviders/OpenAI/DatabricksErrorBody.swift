import SluiceCore

/// Reading Databricks' error bodies: `{"error_code": "BAD_REQUEST", "message": "…"}`
/// (https://docs.databricks.com/api/workspace/introduction, "Errors"). Endpoints that
/// serve external models may pass on the provider's OpenAI-shaped `{"error": {…}}`.
enum DatabricksErrorBody {
    /// The client-facing error: Databricks' status and message, `error_code` as OpenAI's
    /// `code`; a refused token is the gateway's fault (502), as for OpenAI.
    static func clientError(status: Int, headers: [(name: String, value: String)], body: [UInt8],
                            provider: ProviderConfig) -> GatewayError {
        guard let fields = fields(in: body), status != 401, status != 403, (400...599).contains(status) else {
            return OpenAIErrorBody.clientError(status: status, headers: headers, body: body, provider: provider)
        }
        let secrets = ([provider.apiKey] + provider.headers.map(\.value)).compactMap { $0?.exposedValue }.filter { $0.count >= 4 }
        let redact: (String) -> String = { text in secrets.reduce(text) { $0.replacingAll($1, with: "[redacted]") } }
        let retryAfter = headers.first { $0.name == "retry-after" }.flatMap { Int($0.value) }
        return GatewayError(upstreamStatus: status, message: redact(fields.message ?? "The provider answered HTTP \(status)."),
                            type: nil, code: fields.code.map(redact), param: nil, retryAfter: retryAfter)
    }

    /// `error_code` (a string; legacy integer codes count as absent) and `message`, or `nil`
    /// when the body is not Databricks' error shape.
    private static func fields(in body: [UInt8]) -> (code: String?, message: String?)? {
        guard let members = try? JSONScanner.topLevelMembers(of: body),
              members.contains(where: { $0.key == "error_code" }) else { return nil }
        var out: (code: String?, message: String?) = (nil, nil)
        for member in members where member.kind == .string {
            switch member.key {
            case "error_code": out.code = JSONScanner.decodeString(at: member.range, in: body)
            case "message": out.message = JSONScanner.decodeString(at: member.range, in: body)
            default: break
            }
        }
        return out
    }
}
