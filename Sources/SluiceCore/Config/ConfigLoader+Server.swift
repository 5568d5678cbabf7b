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

    /// `redis:`: `url` required; the URL may itself be a secret reference.
    func redisConfig(_ node: Node, at path: String) -> RedisConfig? {
        guard let fields = fields(node, at: path, allowed: ["url", "timeout", "key_prefix"]) else { return nil }
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
        guard let urlNode = required(fields, "url"), let url = redisURL(urlNode, at: fields.path("url")) else {
            return nil
        }
        return RedisConfig(url: url, timeout: timeout ?? .milliseconds(500), keyPrefix: keyPrefix ?? "sluice")
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
