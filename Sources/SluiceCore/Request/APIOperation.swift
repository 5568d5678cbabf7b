/// The operations the gateway serves (the path after `/v1/`), and the route type each needs:
/// OpenAI's, and Anthropic's Messages API (`messages`, `messages/count_tokens`).
public enum APIOperation: String, Sendable, CaseIterable {
    case chatCompletions = "chat/completions"
    case completions = "completions"
    case embeddings = "embeddings"
    /// Anthropic's `POST /v1/messages`.
    case messages = "messages"
    /// Anthropic's `POST /v1/messages/count_tokens`: counts, never generates.
    case countTokens = "messages/count_tokens"
    /// OpenAI's Responses API, `POST /v1/responses`.
    case responses = "responses"

    /// The route type that can serve this operation.
    public var routeType: RouteType {
        switch self {
        case .chatCompletions, .messages, .countTokens, .responses: return .chat
        case .completions: return .completions
        case .embeddings: return .embeddings
        }
    }

    /// Whether the client speaks Anthropic's Messages API.
    public var isAnthropic: Bool { self == .messages || self == .countTokens }

    /// Whether the operation may stream its answer.
    public var canStream: Bool { self != .embeddings && self != .countTokens }

    /// The path under the provider's base URL (`/chat/completions`, …).
    public var upstreamPath: String { "/" + rawValue }
}
