import Foundation
import SluiceCore

/// Anthropic's Messages API (`kind: anthropic`): the client's OpenAI chat-completions
/// request becomes `POST {base_url}/messages`, and the message, stream or error that
/// comes back becomes its OpenAI equivalent
/// (https://docs.anthropic.com/en/api/messages).
public struct AnthropicTranslator: ProviderTranslator {
    private let now: @Sendable () -> Int

    /// - Parameter now: Unix seconds for `created` (the wall clock unless a caller fixes it).
    public init(now: @escaping @Sendable () -> Int = { Int(Date().timeIntervalSince1970) }) {
        self.now = now
    }

    public func upstreamRequest(for request: APIRequest, endpoint: EndpointConfig, provider: ProviderConfig,
                                limits: TransferLimits) throws(GatewayError) -> UpstreamRequest {
        guard request.operation == .chatCompletions else {
            throw GatewayError(.routeWrongType,
                               "Provider '\(provider.name)' (Anthropic) serves chat completions only, not \(request.operation.rawValue).")
        }
        var headers: [(name: String, value: String)] = [("content-type", "application/json")]
        if let key = provider.apiKey {
            headers.append((provider.authHeader, provider.authPrefix + key.exposedValue))
        }
        headers.append(("anthropic-version", provider.anthropicVersion))
        if request.stream { headers.append(("accept", "text/event-stream")) }
        for header in provider.headers + endpoint.headers {
            headers.append((header.name, header.value.exposedValue))
        }
        let body = try AnthropicRequestBody.make(from: request.body, model: endpoint.model, params: endpoint.params)
        return UpstreamRequest(method: .post, url: provider.baseURL + "/messages", headers: headers, body: body,
                               limits: limits)
    }

    public func clientError(status: Int, headers: [(name: String, value: String)], body: [UInt8],
                            provider: ProviderConfig) -> GatewayError {
        AnthropicErrorBody.clientError(status: status, headers: headers, body: body, provider: provider)
    }

    /// The provider's credentials are not known here, so a stream error's message is
    /// passed on as Anthropic wrote it (Anthropic does not echo keys in stream errors).
    public func streamTranslator(for request: APIRequest) -> StreamTranslator {
        AnthropicStreamTranslator(model: request.model, created: now(), clientWantsUsage: request.includeUsage,
                                  structured: StructuredOutputTool.isRequested(by: request))
    }

    /// The `chat.completion` for a 2xx Anthropic `message`, naming the client's route as `model`.
    public func clientBody(for request: APIRequest, status: Int, body: [UInt8]) throws(GatewayError) -> [UInt8]? {
        try AnthropicResponseBody.make(from: body, model: request.model, created: now(),
                                       structured: StructuredOutputTool.isRequested(by: request))
    }
}
