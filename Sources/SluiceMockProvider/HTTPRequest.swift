import Foundation

/// One HTTP/1.1 request as the mock received it, body already de-chunked.
struct HTTPRequest: Sendable {
    /// `GET`, `POST`, …
    var method: String
    /// The request target as sent, query included.
    var target: String
    /// `HTTP/1.1` or `HTTP/1.0`.
    var version: String
    /// Header fields in arrival order, names lowercased.
    var headers: [(name: String, value: String)]
    /// The body, after removing any chunked transfer coding.
    var body: Data

    /// The target without its query string.
    var path: String {
        target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? target
    }

    /// The first value of a header; `name` must be lowercase.
    func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }

    /// Whether the client asked to close the connection after this exchange.
    var wantsClose: Bool {
        let connection = header("connection")?.lowercased() ?? ""
        if version == "HTTP/1.0" { return !connection.contains("keep-alive") }
        return connection.contains("close")
    }

    /// The body as text, invalid UTF-8 replaced.
    var bodyText: String { String(decoding: body, as: UTF8.self) }
}
