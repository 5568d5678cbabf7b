/// Durable storage that `AuditDrainer` moves audit entries to.
///
/// A destination is used by one thread. `write` returns only once every entry it was given
/// is durable (fsynced, or committed); only then does the drainer acknowledge the entries
/// in Redis. A crash between the two writes the entries again on the next delivery, so a
/// destination either tolerates duplicates (files: readers de-duplicate by `stream_id`) or
/// ignores them (PostgreSQL: `ON CONFLICT (request_id) DO NOTHING`).
public protocol AuditDestination: AnyObject {
    /// The destination for log lines, without any password.
    var displayName: String { get }

    /// Creates what the destination needs (a directory, a table). Called before the first
    /// `write` and again after `write` failed with `.unavailable`; must be idempotent.
    func prepare() throws(AuditDestinationError)

    /// Stores `entries` durably, all of them, or throws. Returns how many were new (not
    /// already stored by an earlier delivery), when the destination can tell.
    @discardableResult
    func write(_ entries: [AuditDrainer.Entry]) throws(AuditDestinationError) -> Int?
}

/// Why a destination could not store entries.
public struct AuditDestinationError: Error, Sendable, CustomStringConvertible {
    /// Whether trying again can help, and what to try again.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Sendable, Hashable {
            case unavailable, rejected, invalid
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The destination cannot store anything right now (unreachable, disk full): the
        /// same entries are tried again later, and do not count as failing deliveries.
        public static let unavailable = Code(.unavailable)
        /// The destination refused an entry's contents (a value it cannot store): the
        /// entry counts as a failed delivery, and goes to the dead letters after
        /// `--max-deliveries`.
        public static let rejected = Code(.rejected)

        /// The destination itself is wrong (a bad `--to`, a path that is not a directory):
        /// the drainer stops, since no retry can help.
        public static let invalid = Code(.invalid)

        public var description: String {
            switch base {
            case .unavailable: return "unavailable"
            case .rejected: return "rejected"
            case .invalid: return "invalid"
            }
        }
    }

    public let code: Code
    /// What went wrong; never a password, never a record's contents.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Parsing `--to`.
public enum AuditDestinations {
    /// The destination `text` names: `file:/path/dir` (or `file:relative/dir`), or a libpq
    /// URI `postgresql://…` / `postgres://…`. Opens nothing yet.
    public static func make(_ text: String) throws(AuditDestinationError) -> any AuditDestination {
        if text.hasPrefix("file:") {
            var path = String(text.dropFirst("file:".count))
            // `file:///var/audit` (URL style) means the absolute path /var/audit.
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else {
                throw AuditDestinationError(.invalid, "--to file: needs a directory, e.g. file:/var/lib/sluice/audit")
            }
            return FileAuditDestination(directory: path)
        }
        if text.hasPrefix("postgresql://") || text.hasPrefix("postgres://") {
            return PostgresAuditDestination(conninfo: text)
        }
        throw AuditDestinationError(.invalid, "--to must be file:/path/dir or postgresql://user@host:port/db")
    }
}
