import SluicePostgres

/// The table `sluice_audit` in PostgreSQL, through libpq.
///
/// One row per call, keyed by `request_id`: a batch is one transaction of one `INSERT …
/// ON CONFLICT (request_id) DO NOTHING`, so an entry delivered twice (a drainer died
/// between COMMIT and XACK) is stored once. The columns are read out of the record by
/// PostgreSQL itself: the batch travels as one JSON array parameter of the same documents
/// the file destination writes (`{"stream_id","hash","prev","record"}`), and `record`
/// keeps the whole record as `jsonb`.
///
/// A value the table cannot take (a non-numeric `status`, a `\u0000` in a string) is a
/// data error (SQLSTATE class 22 or 23): the drainer retries that batch's entries one by
/// one and only the offending entry is `.rejected`. Every other failure is `.unavailable`.
public final class PostgresAuditDestination: AuditDestination {
    private let conninfo: String
    private var connection: PostgresConnection?

    /// Libpq defaults; the URI overrides them.
    private static let connectionDefaults = [("connect_timeout", "10"), ("application_name", "sluice-audit-drain")]

    /// `conninfo` is a libpq URI (`postgresql://user@host:port/db?host=/socketdir`); a
    /// password is better left to `PGPASSWORD` or `~/.pgpass` than put in it.
    public init(conninfo: String) {
        self.conninfo = conninfo
    }

    public var displayName: String { Self.redacted(conninfo) }

    public func prepare() throws(AuditDestinationError) {
        do throws(PostgresError) {
            let connection = try connected()
            try connection.execute(Self.createTable)
            try connection.execute(Self.createIndex)
        } catch {
            // Not a record's fault, even with a class 23 SQLSTATE (two drainers creating the
            // table at once): try again later.
            throw classified(error, recordAtFault: false)
        }
    }

    @discardableResult
    public func write(_ entries: [AuditDrainer.Entry]) throws(AuditDestinationError) -> Int? {
        let batch = "[" + entries.map(\.document).joined(separator: ",") + "]"
        var opened: PostgresConnection?
        do throws(PostgresError) {
            let connection = try connected()
            opened = connection
            try connection.execute("BEGIN")
            let inserted = try connection.execute(Self.insert, [batch])
            try connection.execute("COMMIT")
            return inserted.affectedRows
        } catch {
            if let opened, opened.isOpen { _ = try? opened.execute("ROLLBACK") }
            throw classified(error, recordAtFault: true)
        }
    }

    private func connected() throws(PostgresError) -> PostgresConnection {
        if let connection, connection.isOpen { return connection }
        connection = nil
        let opened = try PostgresConnection(conninfo: conninfo, defaults: Self.connectionDefaults)
        connection = opened
        return opened
    }

    /// A data exception (class 22) or integrity violation (class 23) in a write is the
    /// record's fault; everything else is the server's, and passes.
    private func classified(_ error: PostgresError, recordAtFault: Bool) -> AuditDestinationError {
        if error.code == .connection { connection = nil }
        let rejected = recordAtFault && error.code == .server
            && (error.sqlStateClass == "22" || error.sqlStateClass == "23")
        return AuditDestinationError(rejected ? .rejected : .unavailable, error.description)
    }

    /// The URI without its password (in the user part or a `password=` parameter).
    static func redacted(_ uri: String) -> String {
        guard let scheme = uri.range(of: "://") else { return "postgresql" }
        var rest = uri[scheme.upperBound...]
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var out = String(uri[..<scheme.upperBound])
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            out += (userInfo.split(separator: ":", maxSplits: 1).first.map(String.init) ?? "")
                + (userInfo.contains(":") ? ":***" : "") + "@"
            rest = rest[rest.index(after: at)...]
        }
        out += rest
        if !query.isEmpty {
            out += "?" + query.split(separator: "&")
                .map { $0.hasPrefix("password=") ? "password=***" : String($0) }.joined(separator: "&")
        }
        return out
    }

    static let createTable = """
        CREATE TABLE IF NOT EXISTS sluice_audit (
            request_id        text PRIMARY KEY,
            stream_id         text NOT NULL,
            ts                timestamptz,
            principal         text,
            key_id            text,
            client_addr       text,
            path              text,
            route             text,
            endpoint          text,
            provider          text,
            provider_model    text,
            tags              jsonb,
            status            int,
            error_class       text,
            attempts          jsonb,
            latency_ms        int,
            ttfb_ms           int,
            upstream_ms       int,
            prompt_tokens     int,
            completion_tokens int,
            total_tokens      int,
            usage_source      text,
            cost              double precision,
            stream            bool,
            stream_completed  bool,
            hash              text,
            prev              text,
            record            jsonb NOT NULL
        )
        """

    static let createIndex = "CREATE INDEX IF NOT EXISTS sluice_audit_ts ON sluice_audit (ts)"

    /// `$1`: a JSON array of `{"stream_id","hash","prev","record"}` documents.
    static let insert = """
        INSERT INTO sluice_audit (
            request_id, stream_id, ts, principal, key_id, client_addr, path, route, endpoint,
            provider, provider_model, tags, status, error_class, attempts, latency_ms, ttfb_ms,
            upstream_ms, prompt_tokens, completion_tokens, total_tokens, usage_source, cost,
            stream, stream_completed, hash, prev, record)
        SELECT r->>'request_id', e->>'stream_id', to_timestamp((r->>'ts_ms')::double precision / 1000),
            r->>'principal', r->>'key_id', r->>'client_addr', r->>'path', r->>'route', r->>'endpoint',
            r->>'provider', r->>'provider_model', NULLIF(r->'tags', 'null'), (r->>'status')::int,
            r->>'error_class', NULLIF(r->'attempts', 'null'), (r->>'latency_ms')::int, (r->>'ttfb_ms')::int,
            (r->>'upstream_ms')::int, (r->>'prompt_tokens')::int, (r->>'completion_tokens')::int,
            (r->>'total_tokens')::int, r->>'usage_source', (r->>'cost')::double precision,
            (r->>'stream')::bool, (r->>'stream_completed')::bool, e->>'hash', e->>'prev', r
        FROM jsonb_array_elements($1::jsonb) AS e, LATERAL (SELECT e->'record' AS r) AS x
        ON CONFLICT (request_id) DO NOTHING
        """
}
