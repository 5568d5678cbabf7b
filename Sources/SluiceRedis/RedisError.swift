/// A failure talking to Redis. Messages name the server address, never a password.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Could not connect or the connection broke (timeouts included).
        case connection
        /// Redis answered with an error reply.
        case server
        /// The reply was not what the caller expected.
        case protocolMismatch
    }

    public let kind: Kind
    public let message: String
    /// Nothing reached Redis (no connection could be made, or a recent timeout held the
    /// command back): the command can be sent again without risk of applying it twice.
    public let notSent: Bool

    public init(_ kind: Kind, _ message: String, notSent: Bool = false) {
        self.kind = kind
        self.message = message
        self.notSent = notSent
    }

    public var description: String { "redis: \(message)" }
}
