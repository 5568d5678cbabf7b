import Yams

extension ConfigLoader.Reader {
    /// `limits:`: `{per, window, requests and/or tokens[, tag]}` items.
    func limits(_ node: Node, at path: String) -> [LimitConfig] {
        guard let items = sequence(node, at: path) else { return [] }
        var limits: [LimitConfig] = []
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            let allowed = ["per", "tag", "requests", "tokens", "window"]
            guard let fields = fields(item, at: itemPath, allowed: allowed) else { continue }
            let scope: LimitScope? = required(fields, "per").flatMap { choice($0, at: fields.path("per"), what: "limit scope") }
            let window = required(fields, "window").flatMap { duration($0, at: fields.path("window")) }
            let requests = fields["requests"].flatMap { int($0, at: fields.path("requests"), in: 1...Int.max) }
            let tokens = fields["tokens"].flatMap { int($0, at: fields.path("tokens"), in: 1...Int.max) }
            if fields["requests"] == nil && fields["tokens"] == nil {
                report("a limit needs 'requests', 'tokens' or both", at: item, field: itemPath)
            }
            var tag: String?
            if scope == .tag {
                tag = required(fields, "tag", because: " (per: tag counts the values of one tag)").flatMap {
                    nonEmptyString($0, at: fields.path("tag"))
                }
            } else if let tagNode = fields["tag"], scope != nil {
                report("'tag' applies only to limits with per: tag", at: tagNode, field: fields.path("tag"))
            }
            if let scope, let window {
                limits.append(LimitConfig(per: scope, tag: tag, requests: requests, tokens: tokens, window: window))
            }
        }
        return limits
    }

    /// `principals:`: identity → `{routes: [...]}`; `"*"` is the policy for everyone else.
    func principalPolicies(_ node: Node, at path: String, routeNames: [String]) -> PrincipalPolicies {
        var policies = PrincipalPolicies()
        guard let entries = entries(node, at: path) else { return policies }
        for entry in entries {
            let field = ConfigLoader.join(path, entry.key)
            guard !entry.key.isEmpty else {
                report("a principal name must not be empty", at: entry.keyNode, field: field)
                continue
            }
            guard let fields = fields(entry.value, at: field, allowed: ["routes"]) else { continue }
            var policy = AccessPolicy()
            if let routesNode = fields["routes"], let items = sequence(routesNode, at: fields.path("routes")) {
                var routes: Set<String> = []
                for (index, item) in items.enumerated() {
                    let itemPath = "\(fields.path("routes"))[\(index)]"
                    guard let route = string(item, at: itemPath) else { continue }
                    if routeNames.contains(route) {
                        routes.insert(route)
                    } else {
                        report("unknown route \"\(route)\" (known: \(routeNames.joined(separator: ", ")))",
                               at: item, field: itemPath)
                    }
                }
                policy.routes = routes
            }
            if entry.key == "*" {
                policies.fallback = policy
            } else {
                policies.named[entry.key] = policy
            }
        }
        return policies
    }
}
