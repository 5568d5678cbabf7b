/// A failure talking to PostgreSQL.
///
/// `description` holds the server's primary message and SQLSTATE only: never the
/// connection string (it may carry a password) and never libpq's DETAIL line, which can
/// quote the row that failed.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure it was.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Sendable, Hashable {
            case connection, server, protocolMismatch
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Could not connect, or the connection broke: the outcome of the last statement
        /// is unknown.
        public static let connection = Code(.connection)
        /// The server refused the statement; `sqlState` says why.
        public static let server = Code(.server)
        /// The server answered in a way the caller did not expect.
        public static let protocolMismatch = Code(.protocolMismatch)

        public var description: String {
            switch base {
            case .connection: return "connection"
            case .server: return "server"
            case .protocolMismatch: return "protocol mismatch"
            }
        }
    }

    public let code: Code
    /// The five-character SQLSTATE of a server error (`23505`), when the server sent one.
    /// See https://www.postgresql.org/docs/current/errcodes-appendix.html.
    public let sqlState: String?
    public let message: String

    public init(_ code: Code, _ message: String, sqlState: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
    }

    /// The SQLSTATE's class, its first two characters (`22` data exception, `23` integrity
    /// constraint violation, `08` connection exception).
    public var sqlStateClass: String? { sqlState.map { String($0.prefix(2)) } }

    public var description: String {
        "postgresql: \(message)" + (sqlState.map { " (SQLSTATE \($0))" } ?? "")
    }
}
