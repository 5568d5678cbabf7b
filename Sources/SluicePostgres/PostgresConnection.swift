import CPostgres
import Glibc

/// One synchronous connection to PostgreSQL through libpq, owned by one thread.
///
/// Statements go through `PQexecParams` with text parameters, so values never become SQL
/// text (https://www.postgresql.org/docs/current/libpq-exec.html). The connection is
/// opened in `init` and closed in `deinit`; after a connection failure (`isOpen` is false)
/// the owner makes a new one. A statement whose connection broke may or may not have been
/// applied.
public final class PostgresConnection {
    private let connection: OpaquePointer

    /// Connects with `conninfo`, a `postgresql://` URI or a `key=value …` string in libpq's
    /// syntax (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING).
    /// `defaults` (e.g. `connect_timeout`) are applied first, so `conninfo` overrides them;
    /// libpq's environment variables and `~/.pgpass` apply as usual.
    public init(conninfo: String, defaults: [(String, String)] = []) throws(PostgresError) {
        // PQconnectdbParams processes keywords in order and later ones win; `dbname` holding
        // a URI or key=value string is expanded in place (expand_dbname = 1).
        let pairs = defaults + [("dbname", conninfo)]
        let keywords = pairs.map { strdup($0.0) }
        let values = pairs.map { strdup($0.1) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let keywordArray: [UnsafePointer<CChar>?] = keywords.map { $0.map { UnsafePointer($0) } } + [nil]
        let valueArray: [UnsafePointer<CChar>?] = values.map { $0.map { UnsafePointer($0) } } + [nil]
        guard let opened = PQconnectdbParams(keywordArray, valueArray, 1) else {
            throw PostgresError(.connection, "cannot allocate a connection")
        }
        guard PQstatus(opened) == CONNECTION_OK else {
            // libpq's message names the host or socket and the user, never the password.
            let message = Self.trimmed(PQerrorMessage(opened))
            PQfinish(opened)
            throw PostgresError(.connection, message)
        }
        // NOTICEs (such as "relation already exists, skipping") would go to stderr by default.
        PQsetNoticeProcessor(opened, { _, _ in }, nil)
        connection = opened
    }

    deinit {
        PQfinish(connection)
    }

    /// Whether the connection is still usable; false after it broke.
    public var isOpen: Bool { PQstatus(connection) == CONNECTION_OK }

    /// The server's version as an integer (`150004` for 15.4).
    public var serverVersion: Int { Int(PQserverVersion(connection)) }

    /// Runs one statement with `$1…$n` bound to `parameters` as text (`nil` is SQL NULL) and
    /// returns its rows. A server error is thrown with its SQLSTATE; a broken connection
    /// as `.connection`.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> PostgresResult {
        let buffers = parameters.map { $0.flatMap { strdup($0) } }
        defer { buffers.forEach { free($0) } }
        let values: [UnsafePointer<CChar>?] = buffers.map { $0.map { UnsafePointer($0) } }
        guard let result = PQexecParams(connection, sql, Int32(parameters.count), nil, values, nil, nil, 0) else {
            throw PostgresError(.connection, Self.trimmed(PQerrorMessage(connection)))
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            try Self.failure(result, status: status, connection: connection)
        }
        return Self.copy(result)
    }

    private static func failure(_ result: OpaquePointer, status: ExecStatusType,
                                connection: OpaquePointer) throws(PostgresError) -> Never {
        let sqlState = field(result, diagnosticSQLState)
        // The primary message only: the DETAIL line can quote the row's values.
        let message = field(result, diagnosticPrimaryMessage) ?? trimmed(PQresultErrorMessage(result))
        if PQstatus(connection) != CONNECTION_OK {
            throw PostgresError(.connection, message.isEmpty ? trimmed(PQerrorMessage(connection)) : message,
                                sqlState: sqlState)
        }
        if status == PGRES_FATAL_ERROR || status == PGRES_NONFATAL_ERROR {
            throw PostgresError(.server, message, sqlState: sqlState)
        }
        throw PostgresError(.protocolMismatch, "unexpected result status \(String(cString: PQresStatus(status)))")
    }

    // postgres_ext.h defines the diagnostic field codes as character literals ('C', 'M'),
    // which Swift does not import.
    private static let diagnosticSQLState = Int32(UInt8(ascii: "C"))  // PG_DIAG_SQLSTATE
    private static let diagnosticPrimaryMessage = Int32(UInt8(ascii: "M"))  // PG_DIAG_MESSAGE_PRIMARY

    private static func copy(_ result: OpaquePointer) -> PostgresResult {
        let rowCount = PQntuples(result)
        let columnCount = PQnfields(result)
        let columns = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
        let rows: [[String?]] = (0..<rowCount).map { row in
            (0..<columnCount).map { column in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            }
        }
        let affected = String(cString: PQcmdTuples(result))
        return PostgresResult(columns: columns, rows: rows, affectedRows: Int(affected))
    }

    private static func field(_ result: OpaquePointer, _ code: Int32) -> String? {
        PQresultErrorField(result, code).map { String(cString: $0) }
    }

    /// libpq's message on one line (it spreads some over several, indented with tabs).
    private static func trimmed(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "" }
        return String(cString: text).split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
}

/// The rows of a statement, copied out of libpq's `PGresult` at once.
public struct PostgresResult: Sendable, Equatable {
    /// Column names, in order.
    public var columns: [String]
    /// Every row's values in text form; `nil` is SQL NULL.
    public var rows: [[String?]]
    /// Rows inserted, updated, deleted or returned (`PQcmdTuples`), when the statement says.
    public var affectedRows: Int?

    public init(columns: [String], rows: [[String?]], affectedRows: Int?) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
    }
}
