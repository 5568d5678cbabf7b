import SluiceCore

/// OpenAI and every server that speaks its API. Requests pass through with only
/// `model` replaced; answers pass through unchanged.
public struct OpenAITranslator: ProviderTranslator {
    public init() {}

    public func upstreamRequest(for request: APIRequest, endpoint: EndpointConfig, provider: ProviderConfig,
                                limits: TransferLimits) throws(GatewayError) -> UpstreamRequest {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        if let key = provider.apiKey {
            headers.append((provider.authHeader, provider.authPrefix + key.exposedValue))
        }
        if request.stream { headers.append(("Accept", "text/event-stream")) }
        for header in provider.headers + endpoint.headers {
            headers.append((header.name, header.value.exposedValue))
        }
        return UpstreamRequest(method: .post, url: provider.baseURL + request.operation.upstreamPath, headers: headers,
                               body: request.upstreamBody(model: endpoint.model, params: endpoint.params), limits: limits)
    }

    public func clientError(status: Int, headers: [(name: String, value: String)], body: [UInt8],
                            provider: ProviderConfig) -> GatewayError {
        OpenAIErrorBody.clientError(status: status, headers: headers, body: body, provider: provider)
    }

    public func streamTranslator(for request: APIRequest) -> StreamTranslator {
        OpenAIStreamTranslator()
    }
}

/// OpenAI streams pass through event by event; the translator only watches for the
/// terminal `[DONE]` and for error events.
public struct OpenAIStreamTranslator: StreamTranslator {
    public init() {}

    public mutating func translate(event: ArraySlice<UInt8>) -> TranslatedEvent {
        guard let data = SSEFramer.data(of: event) else { return TranslatedEvent() }
        if data.elementsEqual("[DONE]".utf8) { return TranslatedEvent(isTerminal: true) }
        // An error object inside a stream (OpenAI sends `data: {"error": {...}}`).
        if data.count > 9, data.starts(with: Array("{\"error\"".utf8)) {
            let message = OpenAIErrorBody.message(in: Array(data)) ?? "The provider reported an error mid-stream."
            return TranslatedEvent(error: GatewayError(.upstreamError, message))
        }
        return TranslatedEvent()
    }
}
