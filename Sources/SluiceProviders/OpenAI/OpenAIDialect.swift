import SluiceCore

/// How a provider that speaks OpenAI's bodies is addressed: data, not code.
public enum OpenAIDialect: Sendable, Equatable {
    /// `{base}/chat/completions`, `/completions`, `/embeddings`; `model` in the body.
    case openai
    /// Azure OpenAI: `{base}/openai/deployments/{deployment}/chat/completions?api-version=…`
    /// (also `/completions`, `/embeddings`); the endpoint's `model` is the deployment name.
    /// The `api-key` header carries the key (the loader's default for this kind).
    case azure
    /// Databricks Model Serving: `{base}/serving-endpoints/{name}/invocations` for every
    /// operation, `Authorization: Bearer` token; the endpoint's `model` is the serving
    /// endpoint's name, and the body carries no `model` (the URL names it).
    case databricks

    /// The URL of `operation` for the endpoint's `model`.
    func url(for operation: APIOperation, model: String, provider: ProviderConfig) -> String {
        switch self {
        case .openai:
            return provider.baseURL + operation.upstreamPath
        case .azure:
            let version = URLPath.segment(provider.apiVersion ?? "")
            return "\(provider.baseURL)/openai/deployments/\(URLPath.segment(model))\(operation.upstreamPath)?api-version=\(version)"
        case .databricks:
            return "\(provider.baseURL)/serving-endpoints/\(URLPath.segment(model))/invocations"
        }
    }

    /// Whether the body keeps its `model` member (set to the endpoint's model).
    var bodyNamesModel: Bool { self != .databricks }

    /// Whether a stream may ask for `stream_options.include_usage`. Azure OpenAI accepts it
    /// from api-version 2024-09-01-preview on (earlier versions refuse unknown fields);
    /// Databricks reports usage in a stream only when asked this way.
    func streamsUsage(_ provider: ProviderConfig) -> Bool {
        switch self {
        case .openai, .databricks: return true
        case .azure: return (provider.apiVersion ?? "") >= "2024-09-01"
        }
    }
}
