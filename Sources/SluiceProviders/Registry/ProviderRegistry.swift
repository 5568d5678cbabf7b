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
