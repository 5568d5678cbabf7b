/// The OpenAI-compatible operations the gateway serves, and the route type each needs.
public enum APIOperation: String, Sendable, CaseIterable {
    case chatCompletions = "chat/completions"
    case completions = "completions"
    case embeddings = "embeddings"

    /// The route type that can serve this operation.
    public var routeType: RouteType {
        switch self {
        case .chatCompletions: return .chat
        case .completions: return .completions
        case .embeddings: return .embeddings
        }
    }

    /// Whether the operation may stream its answer.
    public var canStream: Bool { self != .embeddings }

    /// The path under the provider's base URL (`/chat/completions`, …).
    public var upstreamPath: String { "/" + rawValue }
}
