import Yams

extension ConfigLoader.Reader {
    /// `server:`: every field optional, defaults from `ServerConfig.init`.
    func serverConfig(_ node: Node, at path: String) -> ServerConfig {
        var server = ServerConfig()
        let allowed = ["listen", "workers", "threads", "backlog", "max_body", "drain_timeout", "log_format"]
        guard let fields = fields(node, at: path, allowed: allowed) else { return server }
        if let node = fields["listen"], let listen = nonEmptyString(node, at: fields.path("listen")),
           isValidListenAddress(listen, at: node, field: fields.path("listen")) {
            server.listen = listen
        }
        if let node = fields["workers"], let value = int(node, at: fields.path("workers"), in: 1...256) {
            server.workers = value
        }
        if let node = fields["threads"], let value = int(node, at: fields.path("threads"), in: 1...1024) {
            server.threads = value
        }
        if let node = fields["backlog"], let value = int(node, at: fields.path("backlog"), in: 1...65_535) {
            server.backlog = value
        }
        if let node = fields["max_body"], let value = byteSize(node, at: fields.path("max_body")) {
            server.maxBodyBytes = value
        }
        if let node = fields["drain_timeout"],
           let value = duration(node, at: fields.path("drain_timeout"), allowZero: true) {
            server.drainTimeout = value
        }
        if let node = fields["log_format"],
           let format: ServerConfig.LogFormat = choice(node, at: fields.path("log_format"), what: "log format") {
            server.logFormat = format
        }
        return server
    }

    /// `unix:/path`, `/path`, `host:port` or `[v6]:port`.
    private func isValidListenAddress(_ listen: String, at node: Node, field: String) -> Bool {
        if listen.hasPrefix("/") { return true }
        if listen.hasPrefix("unix:") {
            if listen.dropFirst("unix:".count).hasPrefix("/") { return true }
            report("expected an absolute socket path after 'unix:', as in unix:/run/sluice.sock", at: node, field: field)
            return false
        }
        guard let colon = listen.lastIndex(of: ":"), colon != listen.startIndex,
              let port = DurationText.wholeNumber(listen[listen.index(after: colon)...]),
              (1...65_535).contains(port) else {
            report("invalid listen address '\(listen)' (expected host:port, unix:/path or /path)", at: node, field: field)
            return false
        }
        return true
    }

    /// `redis:`: either `url` (which may itself be a secret reference), or `sentinels` with
    /// `master_name` and the data nodes' `username` / `password` / `database` (and the
    /// Sentinels' own `sentinel_username` / `sentinel_password`).
    func redisConfig(_ node: Node, at path: String) -> RedisConfig? {
        guard let fields = fields(node, at: path, allowed: ["url", "timeout", "key_prefix", "sentinels", "master_name",
                                                            "username", "password", "database",
                                                            "sentinel_username", "sentinel_password",
                                                            "replica_acks", "replica_ack_timeout"]) else { return nil }
        var timeout: Duration?
        var keyPrefix: String?
        if let node = fields["timeout"] {
            timeout = duration(node, at: fields.path("timeout"))
        }
        if let node = fields["key_prefix"], let prefix = nonEmptyString(node, at: fields.path("key_prefix")) {
            if prefix.unicodeScalars.contains(where: { Self.isControl($0) || $0.properties.isWhitespace }) {
                report("must not contain whitespace or control characters", at: node, field: fields.path("key_prefix"))
            } else {
                keyPrefix = prefix
            }
        }
        let url: RedisURL?
        if fields["sentinels"] != nil {
            if let node = fields["url"] {
                report("give either url or sentinels, not both", at: node, field: fields.path("url"))
                return nil
            }
            url = sentinelURL(fields)
        } else {
            for key in ["master_name", "username", "password", "database", "sentinel_username", "sentinel_password"] {
                if let node = fields[key] {
                    report(key.hasPrefix("sentinel") || key == "master_name"
                           ? "only with sentinels: [host:port, ...]"
                           : "only with sentinels; with url, put it in the URL (redis://user:password@host:port/db)",
                           at: node, field: fields.path(key))
                }
            }
            guard let urlNode = required(fields, "url", because: " (or sentinels: [host:port, ...] with master_name)") else {
                return nil
            }
            url = redisURL(urlNode, at: fields.path("url"))
        }
        let replicaAcks = fields["replica_acks"].flatMap { int($0, at: fields.path("replica_acks"), in: 0...16) }
        let ackTimeout = fields["replica_ack_timeout"].flatMap { duration($0, at: fields.path("replica_ack_timeout")) }
        if let ackTimeout, ackTimeout >= (timeout ?? .milliseconds(500)) {
            report("must be shorter than redis.timeout (\(DurationText.format(timeout ?? .milliseconds(500))))",
                   at: fields["replica_ack_timeout"], field: fields.path("replica_ack_timeout"))
        }
        guard let url else { return nil }
        return RedisConfig(url: url, timeout: timeout ?? .milliseconds(500), keyPrefix: keyPrefix ?? "sluice",
                           replicaAcks: replicaAcks, replicaAckTimeout: ackTimeout ?? .milliseconds(100))
    }

    /// The `sentinels:` form of `redis:`.
    private func sentinelURL(_ fields: ConfigLoader.Fields) -> RedisURL? {
        var valid = true
        var nodes: [RedisSentinels.Node] = []
        if let list = fields["sentinels"].flatMap({ sequence($0, at: fields.path("sentinels")) }) {
            if list.isEmpty {
                report("must name at least one Sentinel (host:port)", at: fields["sentinels"], field: fields.path("sentinels"))
                valid = false
            }
            for (index, item) in list.enumerated() {
                let itemPath = fields.path("sentinels") + "[\(index)]"
                guard let text = nonEmptyString(item, at: itemPath) else { valid = false; continue }
                switch RedisURL.sentinelNode(Substring(text)) {
                case .success(let node): nodes.append(node)
                case .failure(let failure):
                    report("invalid Sentinel address '\(text)': \(failure.reason)", at: item, field: itemPath)
                    valid = false
                }
            }
        } else {
            valid = false
        }
        let masterName = required(fields, "master_name", because: " (the name the Sentinels monitor the primary by)")
            .flatMap { nonEmptyString($0, at: fields.path("master_name")) }
        func text(_ key: String) -> String? { fields[key].flatMap { nonEmptyString($0, at: fields.path(key)) } }
        func secret(_ key: String) -> Secret? { fields[key].flatMap { self.secret($0, at: fields.path(key)) } }
        let database = fields["database"].flatMap { int($0, at: fields.path("database"), in: 0...Int(Int32.max)) }
        if let name = masterName, !RedisURL.isMasterName(name) {
            report("a master name is letters, digits, '-', '_' and '.'", at: fields["master_name"], field: fields.path("master_name"))
            valid = false
        }
        guard valid, let masterName else { return nil }
        return RedisURL(address: .sentinel(RedisSentinels(masterName: masterName, nodes: nodes,
                                                          username: text("sentinel_username"),
                                                          password: secret("sentinel_password"))),
                        database: database ?? 0, username: text("username"), password: secret("password"))
    }

    /// A Redis URL, written out or behind `${env:…}` / `${file:…}`. Problems never quote
    /// the URL, which may carry a password.
    private func redisURL(_ node: Node, at path: String) -> RedisURL? {
        guard let written = nonEmptyString(node, at: path) else { return nil }
        var text = written
        var source = ""
        if written.hasPrefix("${") {
            guard let resolved = resolveSecret(written, at: node, field: path) else { return nil }
            text = resolved.exposedValue
            source = " (from \(resolved.origin))"
        }
        switch RedisURL.parse(text) {
        case .success(let url):
            return url
        case .failure(let failure):
            report("invalid Redis URL\(source): \(failure.reason)", at: node, field: path)
            return nil
        }
    }
}
