import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SluicePostgres
import SluiceTestSupport
import XCTest

/// `PostgresConnection` (libpq) against a real PostgreSQL the test class starts.
final class PostgresConnectionTests: XCTestCase {
    nonisolated(unsafe) private static var shared: PostgresServerFixture?

    /// This class's server (XCTest keeps test instances alive, so they must not own it).
    private var server: PostgresServerFixture { Self.shared! }

    override func setUpWithError() throws {
        if Self.shared == nil { Self.shared = try PostgresServerFixture.start(port: try freeLoopbackPort()) }
    }

    override class func tearDown() {
        shared?.remove()
        shared = nil
        super.tearDown()
    }

    private func connect() throws -> PostgresConnection {
        try PostgresConnection(conninfo: server.conninfo)
    }

    func testQueriesReturnTextValuesNullsAndColumnNames() throws {
        let connection = try connect()
        XCTAssertTrue(connection.isOpen)
        XCTAssertGreaterThanOrEqual(connection.serverVersion, 100_000)
        let result = try connection.execute("SELECT 42::int AS answer, 'héllo'::text AS word, NULL::text AS nothing, true AS yes")
        XCTAssertEqual(result.columns, ["answer", "word", "nothing", "yes"])
        XCTAssertEqual(result.rows, [["42", "héllo", nil, "t"]])
        XCTAssertEqual(result.affectedRows, 1, "SELECT reports the rows it returned")
    }

    func testParametersAreBoundNeverSpliced() throws {
        let connection = try connect()
        try connection.execute("CREATE TEMP TABLE t (id int PRIMARY KEY, note text)")
        let hostile = "'); DROP TABLE t; --"
        let inserted = try connection.execute("INSERT INTO t VALUES ($1::int, $2), ($3::int, $4)", ["1", hostile, "2", nil])
        XCTAssertEqual(inserted.affectedRows, 2)
        let rows = try connection.execute("SELECT id, note FROM t WHERE note = $1 OR note IS NULL ORDER BY id", [hostile]).rows
        XCTAssertEqual(rows, [["1", hostile], ["2", nil]])
        let json = try connection.execute("SELECT ($1::jsonb)->>'k'", ["{\"k\": \"v ☃ \\u00e9\"}"]).rows
        XCTAssertEqual(json, [["v ☃ é"]])
    }

    func testServerErrorsCarryTheirSQLStateAndLeaveTheConnectionUsable() throws {
        let connection = try connect()
        try connection.execute("CREATE TEMP TABLE u (id text PRIMARY KEY)")
        try connection.execute("INSERT INTO u VALUES ($1)", ["a"])
        XCTAssertThrowsError(try connection.execute("INSERT INTO u VALUES ($1)", ["a"])) { error in
            let error = error as? PostgresError
            XCTAssertEqual(error?.code, .server)
            XCTAssertEqual(error?.sqlState, "23505")
            XCTAssertEqual(error?.sqlStateClass, "23")
            XCTAssertFalse(error?.description.contains("(id)=(a)") ?? true, "the DETAIL line (the row) stays out")
        }
        XCTAssertThrowsError(try connection.execute("SELECT $1::int", ["not a number"])) { error in
            XCTAssertEqual((error as? PostgresError)?.sqlState, "22P02")
        }
        XCTAssertThrowsError(try connection.execute("SELEC 1")) { error in
            XCTAssertEqual((error as? PostgresError)?.sqlState, "42601")
        }
        XCTAssertTrue(connection.isOpen)
        XCTAssertEqual(try connection.execute("SELECT count(*) FROM u").rows, [["1"]])
    }

    func testARolledBackTransactionLeavesNothing() throws {
        let connection = try connect()
        try connection.execute("CREATE TEMP TABLE v (id int)")
        try connection.execute("BEGIN")
        XCTAssertEqual(try connection.execute("INSERT INTO v SELECT generate_series(1, 3)").affectedRows, 3)
        XCTAssertThrowsError(try connection.execute("INSERT INTO v VALUES ($1::int)", ["x"]))
        XCTAssertThrowsError(try connection.execute("SELECT 1")) { error in
            XCTAssertEqual((error as? PostgresError)?.sqlState, "25P02", "a failed transaction refuses statements")
        }
        try connection.execute("ROLLBACK")
        XCTAssertEqual(try connection.execute("SELECT count(*) FROM v").rows, [["0"]])
    }

    func testAConnectionThatCannotBeMadeIsAConnectionErrorWithoutThePassword() throws {
        let missing = NSTemporaryDirectory() + "no-postgres-\(UUID().uuidString.prefix(8))"
        XCTAssertThrowsError(try PostgresConnection(conninfo: "postgresql://app:s3cr3t-pw@localhost:5432/db?host=\(missing)")) { error in
            let error = error as? PostgresError
            XCTAssertEqual(error?.code, .connection)
            XCTAssertFalse(error?.description.contains("s3cr3t-pw") ?? true, error?.description ?? "")
        }
        XCTAssertThrowsError(try PostgresConnection(conninfo: server.conninfo.replacingOccurrences(of: "/postgres?", with: "/nosuchdb?"))) { error in
            XCTAssertEqual((error as? PostgresError)?.code, .connection)
            XCTAssertTrue("\(error)".contains("nosuchdb"), "\(error)")
        }
    }

    func testABrokenConnectionShowsAsAConnectionError() throws {
        let victim = try connect()
        let pid = try XCTUnwrap(victim.execute("SELECT pg_backend_pid()").rows.first?.first ?? nil)
        let killer = try connect()
        XCTAssertEqual(try killer.execute("SELECT pg_terminate_backend($1::int)", [pid]).rows, [["t"]])
        XCTAssertThrowsError(try victim.execute("SELECT 1")) { error in
            XCTAssertEqual((error as? PostgresError)?.code, .connection, "\(error)")
        }
        XCTAssertFalse(victim.isOpen)
        XCTAssertEqual(try killer.execute("SELECT 1").rows, [["1"]])
    }
}
