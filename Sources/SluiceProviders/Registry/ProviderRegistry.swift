import SluiceCore

/// The one explicit list of providers: kind → translator.
public enum ProviderRegistry {
    /// The translator for `kind`.
    public static func translator(for kind: ProviderKind) -> ProviderTranslator {
        switch kind {
        case .openai, .openaiCompatible: return OpenAITranslator()
        case .anthropic: return AnthropicTranslator()
        case .azureOpenAI: return OpenAITranslator(dialect: .azure)
        case .databricks: return OpenAITranslator(dialect: .databricks)
        case .bedrock: return BedrockTranslator()
        }
    }
}

extension ProviderRegistry {
    /// The request as a provider of `kind` takes it, and its translator: the client's own
    /// request, natively, when the client's API is the provider's (`/v1/messages` to
    /// Anthropic; OpenAI's API to OpenAI-family providers); otherwise, for a Messages
    /// client, the canonical chat request made from it for that kind of provider
    /// (`conversions` keeps the ones made for this call). `nil` for a `count_tokens` call
    /// no API of the provider can answer (the gateway estimates it).
    public static func call(_ request: APIRequest, kind: ProviderKind,
                            conversions: inout [MessagesTarget: APIRequest]) throws(GatewayError) -> (APIRequest, ProviderTranslator)? {
        guard request.operation.isAnthropic else { return (request, translator(for: kind)) }
        if kind == .anthropic { return (request, AnthropicPassthrough()) }
        if request.operation == .countTokens { return kind == .bedrock ? (request, BedrockTranslator()) : nil }
        let target = AnthropicSurface.target(for: kind)
        if let made = conversions[target] { return (made, translator(for: kind)) }
        var chat = try APIRequest(operation: .chatCompletions,
                                  body: AnthropicSurface.chatRequest(fromMessages: request.body, for: target))
        chat.clientHeaders = request.clientHeaders
        conversions[target] = chat
        return (chat, translator(for: kind))
    }
}
