import SluiceCore

/// Anthropic's own Messages API, called natively: a `/v1/messages` (or
/// `/v1/messages/count_tokens`) request to a `kind: anthropic` endpoint goes upstream as
/// the client's bytes with only `model` replaced (and the endpoint's `params`), so
/// `cache_control` markers, `thinking`, signed thinking blocks and fields added after this
/// gateway was written all reach Anthropic as the client wrote them, and the provider's
/// prompt cache sees the same bytes every time. The answer and every stream event pass
/// back unchanged; the gateway only reads the usage from them.
///
/// Headers: the client's `anthropic-version` (else the provider's) and `anthropic-beta`
/// are forwarded (`forwardedHeaders`); nothing else the client sent is.
public struct AnthropicPassthrough: ProviderTranslator {
    /// The client headers a native Anthropic call forwards (lower-case).
    public static let forwardedHeaders = ["anthropic-version", "anthropic-beta"]

    public init() {}

    public func upstreamRequest(for request: APIRequest, endpoint: EndpointConfig, provider: ProviderConfig,
                                limits: TransferLimits) throws(GatewayError) -> UpstreamRequest {
        guard request.operation.isAnthropic else {
            throw GatewayError(.internalError, "A native Anthropic call needs a Messages request.")
        }
        var headers: [(name: String, value: String)] = [("content-type", "application/json")]
        if let key = provider.apiKey {
            headers.append((provider.authHeader, provider.authPrefix + key.exposedValue))
        }
        let version = request.clientHeaders.first { $0.name == "anthropic-version" }?.value
        headers.append(("anthropic-version", version ?? provider.anthropicVersion))
        for header in request.clientHeaders where header.name == "anthropic-beta" {
            headers.append(("anthropic-beta", header.value))
        }
        if request.stream { headers.append(("accept", "text/event-stream")) }
        for header in provider.headers + endpoint.headers {
            headers.append((header.name, header.value.exposedValue))
        }
        let path = request.operation == .countTokens ? "/messages/count_tokens" : "/messages"
        // count_tokens takes no generation parameters: the endpoint's params are for messages.
        let params = request.operation == .countTokens ? [] : endpoint.params
        return UpstreamRequest(method: .post, url: provider.baseURL + path, headers: headers,
                               body: request.upstreamBody(model: endpoint.model, params: params), limits: limits)
    }

    public func clientError(status: Int, headers: [(name: String, value: String)], body: [UInt8],
                            provider: ProviderConfig) -> GatewayError {
        AnthropicErrorBody.clientError(status: status, headers: headers, body: body, provider: provider)
    }

    public func streamTranslator(for request: APIRequest) -> StreamTranslator {
        AnthropicPassthroughStream()
    }

    public func usage(for request: APIRequest, in clientBody: [UInt8]) -> TokenUsage? {
        request.operation == .countTokens ? TokenUsage(prompt: 0, completion: 0) : TokenUsage.anthropic(in: clientBody)
    }

    /// A native answer is already in the client's API.
    public var answersInClientAPI: Bool { true }
}

/// Relays Anthropic's named events unchanged, reading the usage from `message_start` and
/// `message_delta` (cumulative), the end from `message_stop`, and failures from `error`.
public struct AnthropicPassthroughStream: StreamTranslator {
    private var counts = TokenUsage.AnthropicCounts()
    public private(set) var generatedBytes = 0

    public init() {}

    public var usage: TokenUsage? { counts.reported ? counts.usage : nil }

    public mutating func translate(event: ArraySlice<UInt8>) -> TranslatedEvent {
        let parsed = ServerSentEvent(parsing: event)
        guard let data = parsed.data else { return TranslatedEvent() }
        switch parsed.name {
        case "content_block_delta":
            // Only feeds the estimate of a cut stream's usage: the payload less its framing.
            generatedBytes += max(0, data.count - 60)
            return TranslatedEvent()
        case "message_start", "message_delta":
            guard let members = try? JSONScanner.topLevelMembers(of: data) else { return TranslatedEvent() }
            if parsed.name == "message_delta" {
                if let usage = members.first(where: { $0.key == "usage" && $0.kind == .object }) {
                    counts.update(usageAt: usage.range, in: data)
                }
            } else if let message = members.first(where: { $0.key == "message" && $0.kind == .object }),
                      let usage = JSONScanner.members(of: message.range, in: data).first(where: { $0.key == "usage" && $0.kind == .object }) {
                counts.update(usageAt: usage.range, in: data)
            }
            return TranslatedEvent()
        case "message_stop":
            return TranslatedEvent(isTerminal: true)
        case "error":
            return TranslatedEvent(error: AnthropicErrorBody.streamError(data: data, provider: nil))
        default:
            return TranslatedEvent()
        }
    }
}
