extension RedisURL {
    /// Why a Redis URL was refused. `reason` never quotes the URL's user info.
    struct ParseFailure: Error, Equatable {
        let reason: String
    }

    /// A Redis URL given on the command line (`--redis`): written out, or `${env:NAME}` so
    /// a password need not appear in the process list. The error never quotes the URL.
    public static func fromCommandLine(_ text: String, environment: [String: String]) throws(ConfigError) -> RedisURL {
        var value = text
        if text.hasPrefix("${env:") && text.hasSuffix("}") {
            let name = String(text.dropFirst(6).dropLast())
            guard let resolved = environment[name], !resolved.isEmpty else {
                throw ConfigError(issues: [ConfigIssue(file: "--redis", line: 0, column: 0, field: "redis",
                                                       message: "environment variable \(name) is not set")])
            }
            value = resolved
        }
        switch parse(value) {
        case .success(let url): return url
        case .failure(let failure):
            throw ConfigError(issues: [ConfigIssue(file: "--redis", line: 0, column: 0, field: "redis", message: failure.reason)])
        }
    }

    /// The forms `sluice.yaml` accepts, for error messages.
    static let accepted = "redis://[[user]:password@]host[:port][/db], unix://[[user]:password@]/path/to/redis.sock[?db=N] "
        + "or redis+sentinel://[[user]:password@]sentinel[:port][,sentinel[:port]...]/master_name[/db]"

    /// Parses `redis://[[user]:password@]host[:port][/db][?db=N]` and
    /// `unix://[[user]:password@]/path/to/redis.sock[?db=N]`.
    ///
    /// User name and password are percent-decoded; the password becomes a `Secret`
    /// with origin `redis url`. The port defaults to 6379 and the database to 0.
    static func parse(_ text: String) -> Result<RedisURL, ParseFailure> {
        func fail(_ reason: String) -> Result<RedisURL, ParseFailure> { .failure(ParseFailure(reason: reason)) }
        guard let separator = text.range(of: "://") else { return fail("expected \(accepted)") }
        let scheme = text[..<separator.lowerBound].lowercased()
        let rest = text[separator.upperBound...]

        // Split off the user info first, at the last "@" for TCP (a password may hold
        // "@" or "/"), and at "@/" for sockets (a socket path may hold "@").
        var userInfo: Substring?
        var location = rest
        switch scheme {
        case "redis":
            if let at = rest.lastIndex(of: "@") {
                userInfo = rest[..<at]
                location = rest[rest.index(after: at)...]
            }
        case "redis+sentinel":
            if let at = rest.lastIndex(of: "@") {
                userInfo = rest[..<at]
                location = rest[rest.index(after: at)...]
            }
        case "unix":
            if !rest.hasPrefix("/"), let at = rest.range(of: "@/") {
                userInfo = rest[..<at.lowerBound]
                location = rest[rest.index(after: at.lowerBound)...]
            }
        case "rediss":
            return fail("TLS (rediss://) is not supported by this version; use redis:// or unix://")
        default:
            return fail("unsupported scheme '\(scheme)' (expected redis://, unix:// or redis+sentinel://)")
        }

        var username: String?
        var password: Secret?
        if let userInfo {
            let colon = userInfo.firstIndex(of: ":")
            guard let user = percentDecoded(userInfo[..<(colon ?? userInfo.endIndex)]),
                  let secret = percentDecoded(colon.map { userInfo[userInfo.index(after: $0)...] } ?? "") else {
                return fail("the user name or password has an invalid %-escape")
            }
            username = user.isEmpty ? nil : user
            password = secret.isEmpty ? nil : Secret(secret, origin: "redis url")
        }

        let query = location.firstIndex(of: "?")
        let queryDatabase: Int?
        switch databaseParameter(query.map { location[location.index(after: $0)...] } ?? "") {
        case .success(let value): queryDatabase = value
        case .failure(let failure): return .failure(failure)
        }
        location = location[..<(query ?? location.endIndex)]

        if scheme == "unix" {
            guard location.count > 1, location.hasPrefix("/") else {
                return fail("expected an absolute socket path, as in unix:///run/redis/redis.sock")
            }
            return .success(RedisURL(address: .unix(path: String(location)), database: queryDatabase ?? 0,
                                     username: username, password: password))
        }

        if scheme == "redis+sentinel" {
            // sentinel[:port][,sentinel[:port]...]/master_name[/db]
            let parts = location.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count >= 2, !parts[1].isEmpty else {
                return fail("expected the master name after the Sentinels, as in redis+sentinel://10.0.0.5:26379,10.0.0.6:26379/mymaster")
            }
            guard isMasterName(parts[1]) else { return fail("a master name is letters, digits, '-', '_' and '.'") }
            var database = queryDatabase ?? 0
            if parts.count == 3, !parts[2].isEmpty {
                guard let value = DurationText.wholeNumber(parts[2]) else {
                    return fail("the database must be a non-negative integer, as in redis+sentinel://host:26379/mymaster/0")
                }
                guard queryDatabase == nil else { return fail("the database is given twice (path and ?db=)") }
                database = value
            }
            var nodes: [RedisSentinels.Node] = []
            for text in parts[0].split(separator: ",", omittingEmptySubsequences: false) {
                switch sentinelNode(text) {
                case .success(let node): nodes.append(node)
                case .failure(let failure): return .failure(failure)
                }
            }
            return .success(RedisURL(address: .sentinel(RedisSentinels(masterName: String(parts[1]), nodes: nodes)),
                                     database: database, username: username, password: password))
        }

        let slash = location.firstIndex(of: "/")
        let hostPort = location[..<(slash ?? location.endIndex)]
        let databasePath = slash.map { location[location.index(after: $0)...] } ?? ""
        var database = queryDatabase ?? 0
        if !databasePath.isEmpty {
            guard let value = DurationText.wholeNumber(databasePath) else {
                return fail("the database must be a non-negative integer, as in redis://host:6379/0")
            }
            guard queryDatabase == nil else { return fail("the database is given twice (path and ?db=)") }
            database = value
        }
        switch hostAndPort(hostPort) {
        case .success(let address):
            return .success(RedisURL(address: address, database: database, username: username, password: password))
        case .failure(let failure):
            return .failure(failure)
        }
    }

    /// Whether `name` is a master name Sluice accepts (it appears in metrics labels).
    static func isMasterName<S: StringProtocol>(_ name: S) -> Bool {
        !name.isEmpty && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic
            || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }
    }

    /// A Sentinel's `host`, `host:port`, `[v6]` or `[v6]:port` (port 26379 by default).
    static func sentinelNode(_ text: Substring) -> Result<RedisSentinels.Node, ParseFailure> {
        switch hostAndPort(text, defaultPort: 26379) {
        case .success(.tcp(let host, let port)): return .success(RedisSentinels.Node(host: host, port: port))
        case .success: return .failure(ParseFailure(reason: "expected host:port"))
        case .failure(let failure): return .failure(failure)
        }
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`.
    private static func hostAndPort(_ text: Substring, defaultPort: Int = 6379) -> Result<Address, ParseFailure> {
        var host = text
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(ParseFailure(reason: "unterminated [IPv6] host")) }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return .failure(ParseFailure(reason: "unexpected text after the [IPv6] host")) }
                portText = after.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty else { return .failure(ParseFailure(reason: "missing host, as in redis://127.0.0.1:6379/0")) }
        var port = defaultPort
        if let portText {
            guard let value = DurationText.wholeNumber(portText), (1...65_535).contains(value) else {
                return .failure(ParseFailure(reason: "the port must be a number between 1 and 65535"))
            }
            port = value
        }
        return .success(.tcp(host: String(host), port: port))
    }

    /// The `db` query parameter, the only one accepted.
    private static func databaseParameter(_ query: Substring) -> Result<Int?, ParseFailure> {
        var database: Int?
        for parameter in query.split(separator: "&") {
            let parts = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts[0] == "db" else {
                return .failure(ParseFailure(reason: "unknown parameter '\(parts[0])' (only 'db' is supported)"))
            }
            guard parts.count == 2, let value = DurationText.wholeNumber(parts[1]) else {
                return .failure(ParseFailure(reason: "db must be a non-negative integer, as in ?db=0"))
            }
            database = value
        }
        return .success(database)
    }

    /// `text` with `%XX` escapes decoded, or `nil` for a broken escape or invalid UTF-8.
    private static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(ASCIIHex.value), let low = iterator.next().flatMap(ASCIIHex.value) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

}
