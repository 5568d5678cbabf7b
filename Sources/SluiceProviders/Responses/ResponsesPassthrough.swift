import SluiceCore

/// OpenAI's Responses API called natively on OpenAI-family providers: `POST /v1/responses`
/// goes upstream as the client's bytes with only `model` replaced; answers and every
/// stream event come back unchanged, the gateway reading the usage
/// (`input_tokens`, `input_tokens_details.cached_tokens`, `output_tokens`,
/// `output_tokens_details.reasoning_tokens`) and the response id (to pin it to the
/// endpoint, so follow-ups reach the account that holds it). Also serves
/// `GET|DELETE /v1/responses/{id}`, `POST …/cancel` and `GET …/input_items` on the
/// pinned endpoint.
///
/// URLs: OpenAI and OpenAI-compatible `{base}/responses`; Azure OpenAI's v1 API
/// `{base}/openai/v1/responses` (the body's `model` is the deployment).
public struct ResponsesPassthrough: ProviderTranslator {
    public let dialect: OpenAIDialect

    public init(dialect: OpenAIDialect) {
        self.dialect = dialect
    }

    /// `{base}/responses` or Azure's `{base}/openai/v1/responses`, plus `suffix`.
    public static func url(dialect: OpenAIDialect, provider: ProviderConfig, suffix: String = "") -> String {
        switch dialect {
        case .azure: return provider.baseURL + "/openai/v1/responses" + suffix
        case .openai, .databricks: return provider.baseURL + "/responses" + suffix
        }
    }

    /// The provider's credentials and configured headers.
    public static func headers(provider: ProviderConfig, endpoint: EndpointConfig?) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        if let key = provider.apiKey {
            headers.append((provider.authHeader, provider.authPrefix + key.exposedValue))
        }
        for header in provider.headers + (endpoint?.headers ?? []) {
            headers.append((header.name, header.value.exposedValue))
        }
        return headers
    }

    public func upstreamRequest(for request: APIRequest, endpoint: EndpointConfig, provider: ProviderConfig,
                                limits: TransferLimits) throws(GatewayError) -> UpstreamRequest {
        var headers = Self.headers(provider: provider, endpoint: endpoint)
        if request.stream { headers.append(("Accept", "text/event-stream")) }
        return UpstreamRequest(method: .post, url: Self.url(dialect: dialect, provider: provider), headers: headers,
                               body: request.upstreamBody(model: endpoint.model, params: endpoint.params), limits: limits)
    }

    public func clientError(status: Int, headers: [(name: String, value: String)], body: [UInt8],
                            provider: ProviderConfig) -> GatewayError {
        OpenAIErrorBody.clientError(status: status, headers: headers, body: body, provider: provider)
    }

    public func streamTranslator(for request: APIRequest) -> StreamTranslator {
        ResponsesPassthroughStream(outcome: nil)
    }

    public var answersInClientAPI: Bool { true }
}

/// Relays the Responses API's events unchanged, reading the response id from
/// `response.created`, the usage from the terminal `response.completed` /
/// `response.incomplete` / `response.failed` event, and failures from `error`.
public struct ResponsesPassthroughStream: StreamTranslator {
    public private(set) var usage: TokenUsage?
    public private(set) var generatedBytes = 0
    private let outcome: ResponsesStreamOutcome?

    /// `outcome` receives the response's id once `response.created` names it.
    public init(outcome: ResponsesStreamOutcome?) {
        self.outcome = outcome
    }

    public mutating func translate(event: ArraySlice<UInt8>) -> TranslatedEvent {
        let parsed = ServerSentEvent(parsing: event)
        guard let data = parsed.data else { return TranslatedEvent() }
        let type = parsed.name ?? ""
        switch type {
        case "response.output_text.delta", "response.function_call_arguments.delta", "response.reasoning_summary_text.delta":
            generatedBytes += max(0, data.count - 120)
            return TranslatedEvent()
        case "response.created", "response.completed", "response.incomplete", "response.failed":
            if let members = try? JSONScanner.topLevelMembers(of: data),
               let response = members.first(where: { $0.key == "response" && $0.kind == .object }) {
                let fields = JSONScanner.members(of: response.range, in: data)
                if let outcome, outcome.responseID == nil, let id = fields.first(where: { $0.key == "id" && $0.kind == .string }) {
                    outcome.responseID = JSONScanner.decodeString(at: id.range, in: data)
                }
                if let found = fields.first(where: { $0.key == "usage" && $0.kind == .object }) {
                    usage = TokenUsage.openAI(usageAt: found.range, in: data)
                }
            }
            return TranslatedEvent(isTerminal: type != "response.created")
        case "error":
            let message = OpenAIErrorBody.message(in: data) ?? Self.message(in: data)
                ?? "The provider reported an error mid-stream."
            return TranslatedEvent(error: GatewayError(.upstreamError, message))
        default:
            return TranslatedEvent()
        }
    }

    /// `message` of a Responses `error` event (`{"type":"error","code","message",…}`).
    private static func message(in data: [UInt8]) -> String? {
        guard let members = try? JSONScanner.topLevelMembers(of: data),
              let message = members.first(where: { $0.key == "message" && $0.kind == .string }) else { return nil }
        return JSONScanner.decodeString(at: message.range, in: data)
    }
}
