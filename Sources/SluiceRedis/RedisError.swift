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

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "redis: \(message)" }
}
