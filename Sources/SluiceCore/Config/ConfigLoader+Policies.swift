import Yams

extension ConfigLoader.Reader {
    /// `limits:`: `{per, window, requests and/or tokens[, tag][, value]}` items. With
    /// `implied`, `per` may be left out (a key's or principal's own limits).
    func limits(_ node: Node, at path: String, implied: LimitScope? = nil) -> [LimitConfig] {
        guard let items = sequence(node, at: path) else { return [] }
        var limits: [LimitConfig] = []
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            let allowed = ["per", "tag", "value", "requests", "tokens", "window"]
            guard let fields = fields(item, at: itemPath, allowed: allowed) else { continue }
            let scope: LimitScope?
            if let implied {
                scope = fields["per"].map { node -> LimitScope? in
                    guard let text = string(node, at: fields.path("per")) else { return nil }
                    guard text == implied.rawValue else {
                        report("a \(implied.rawValue)'s own limits count per \(implied.rawValue) (leave 'per' out)", at: node,
                               field: fields.path("per"))
                        return nil
                    }
                    return implied
                } ?? implied
            } else {
                scope = required(fields, "per").flatMap { choice($0, at: fields.path("per"), what: "limit scope") }
            }
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
            let value = fields["value"].flatMap { nonEmptyString($0, at: fields.path("value")) }
            if let scope, let window {
                limits.append(LimitConfig(per: scope, tag: tag, value: implied == nil ? value : nil, requests: requests,
                                          tokens: tokens, window: window))
            }
        }
        return limits
    }

    /// `health:` — `{window: 30s, min_calls: 5, failure_ratio: 0.5, cooldown: 5s, max_cooldown: 5m}`.
    func healthPolicy(_ node: Node, at path: String) -> HealthPolicy {
        var policy = HealthPolicy()
        let allowed = ["window", "min_calls", "failure_ratio", "cooldown", "max_cooldown"]
        guard let fields = fields(node, at: path, allowed: allowed) else { return policy }
        if let window = fields["window"].flatMap({ duration($0, at: fields.path("window")) }) { policy.window = window }
        if let minCalls = fields["min_calls"].flatMap({ int($0, at: fields.path("min_calls"), in: 1...1_000_000) }) {
            policy.minCalls = minCalls
        }
        if let node = fields["failure_ratio"] {
            if let ratio = Double(string(node, at: fields.path("failure_ratio")) ?? "x"),
               node.tag.rawValue != Tag.Name.str.rawValue, ratio > 0, ratio < 1 {
                policy.failureRatio = ratio
            } else {
                report("expected a number between 0 and 1 (exclusive), such as 0.5", at: node, field: fields.path("failure_ratio"))
            }
        }
        if let cooldown = fields["cooldown"].flatMap({ duration($0, at: fields.path("cooldown")) }) {
            policy.cooldown = cooldown
        }
        if let maxCooldown = fields["max_cooldown"].flatMap({ duration($0, at: fields.path("max_cooldown")) }) {
            policy.maxCooldown = maxCooldown
        }
        if policy.maxCooldown < policy.cooldown {
            report("max_cooldown must not be shorter than cooldown", at: fields["max_cooldown"] ?? node,
                   field: fields.path("max_cooldown"))
        }
        return policy
    }

    /// `audit:` — `{max_length: 1000000, spool_dir: /path, usage_days: 400, metric_tags: [team],
    /// metric_tag_values: 50}`.
    func auditConfig(_ node: Node, at path: String) -> AuditConfig {
        var audit = AuditConfig()
        guard let fields = fields(node, at: path, allowed: ["max_length", "spool_dir", "usage_days", "metric_tags",
                                                            "metric_tag_values"]) else { return audit }
        if let node = fields["metric_tags"] {
            for (index, name) in strings(node, at: fields.path("metric_tags")).enumerated() {
                // A Prometheus label value as written, and a tag name as the usage fields need it.
                guard name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)
                                                                     || "_-.:".unicodeScalars.contains($0)) }) else {
                    report("a metric tag name is letters, digits, '_', '-', '.' or ':'", at: node,
                           field: fields.path("metric_tags") + "[\(index)]")
                    continue
                }
                if !audit.metricTags.contains(name) { audit.metricTags.append(name) }
            }
        }
        if let values = fields["metric_tag_values"].flatMap({ int($0, at: fields.path("metric_tag_values"), in: 1...1000) }) {
            audit.metricTagValues = values
        }
        if let length = fields["max_length"].flatMap({ int($0, at: fields.path("max_length"), in: 1000...Int.max) }) {
            audit.maxLength = length
        }
        if let directory = fields["spool_dir"].flatMap({ nonEmptyString($0, at: fields.path("spool_dir")) }) {
            audit.spoolDirectory = directory
        }
        if let days = fields["usage_days"].flatMap({ int($0, at: fields.path("usage_days"), in: 1...3650) }) {
            audit.usageDays = days
        }
        return audit
    }

    /// `responses: {store_ttl, max_bytes}`.
    func responsesConfig(_ node: Node, at path: String) -> ResponsesConfig {
        var config = ResponsesConfig()
        guard let fields = fields(node, at: path, allowed: ["store_ttl", "max_bytes"]) else { return config }
        if let ttl = fields["store_ttl"].flatMap({ duration($0, at: fields.path("store_ttl")) }) { config.storeTTL = ttl }
        if let bytes = fields["max_bytes"].flatMap({ byteSize($0, at: fields.path("max_bytes")) }) { config.maxBytes = bytes }
        return config
    }

    /// `telemetry:`: `{otlp_endpoint, headers, service_name, max_queue, max_batch, interval, timeout}`.
    func telemetryConfig(_ node: Node, at path: String) -> TelemetryConfig? {
        let allowed = ["otlp_endpoint", "headers", "service_name", "max_queue", "max_batch", "interval", "timeout"]
        guard let fields = fields(node, at: path, allowed: allowed) else { return nil }
        guard let endpointNode = required(fields, "otlp_endpoint"),
              let endpoint = nonEmptyString(endpointNode, at: fields.path("otlp_endpoint")) else { return nil }
        guard endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://") else {
            report("expected an http:// or https:// URL (OTLP/HTTP, e.g. http://127.0.0.1:4318/v1/traces)",
                   at: endpointNode, field: fields.path("otlp_endpoint"))
            return nil
        }
        var config = TelemetryConfig(endpoint: endpoint)
        if let headersNode = fields["headers"], let entries = entries(headersNode, at: fields.path("headers")) {
            for entry in entries {
                let field = ConfigLoader.join(fields.path("headers"), entry.key)
                guard !entry.key.isEmpty, entry.key.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") }) else {
                    report("not a valid header name", at: entry.keyNode, field: field)
                    continue
                }
                if let value = secret(entry.value, at: field) { config.headers.append((entry.key, value)) }
            }
        }
        if let name = fields["service_name"].flatMap({ nonEmptyString($0, at: fields.path("service_name")) }) {
            config.serviceName = name
        }
        if let queue = fields["max_queue"].flatMap({ int($0, at: fields.path("max_queue"), in: 1...1_000_000) }) {
            config.maxQueue = queue
        }
        if let batch = fields["max_batch"].flatMap({ int($0, at: fields.path("max_batch"), in: 1...100_000) }) {
            config.maxBatch = batch
        }
        if let interval = fields["interval"].flatMap({ duration($0, at: fields.path("interval")) }) { config.interval = interval }
        if let timeout = fields["timeout"].flatMap({ duration($0, at: fields.path("timeout")) }) { config.timeout = timeout }
        return config
    }

    /// `principals:`: identity → `{routes, tags, client_tags, limits}`; `"*"` is the policy
    /// for everyone else.
    func principalPolicies(_ node: Node, at path: String, routeNames: [String], guardrailNames: Set<String>) -> PrincipalPolicies {
        var policies = PrincipalPolicies()
        guard let entries = entries(node, at: path) else { return policies }
        for entry in entries {
            let field = ConfigLoader.join(path, entry.key)
            guard !entry.key.isEmpty else {
                report("a principal name must not be empty", at: entry.keyNode, field: field)
                continue
            }
            guard let fields = fields(entry.value, at: field, allowed: ["routes", "tags", "client_tags", "limits",
                                                                       "guardrails_off"]) else {
                continue
            }
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
            if let tagsNode = fields["tags"] { policy.tags = tagValues(tagsNode, at: fields.path("tags")) }
            if let node = fields["client_tags"] { policy.clientTags = clientTagPolicy(node, at: fields.path("client_tags")) }
            if let node = fields["guardrails_off"], let items = sequence(node, at: fields.path("guardrails_off")) {
                for (index, item) in items.enumerated() {
                    let itemPath = "\(fields.path("guardrails_off"))[\(index)]"
                    guard let name = nonEmptyString(item, at: itemPath) else { continue }
                    // A misspelt name would turn nothing off, silently.
                    if guardrailNames.contains(name) {
                        policy.guardrailsOff.insert(name)
                    } else {
                        report("no route has a guardrail named \"\(name)\" (known: \(guardrailNames.sorted().joined(separator: ", ")))",
                               at: item, field: itemPath)
                    }
                }
            }
            if let node = fields["limits"] { policy.limits = limits(node, at: fields.path("limits"), implied: .principal) }
            if entry.key == "*" {
                policies.fallback = policy
            } else {
                policies.named[entry.key] = policy
            }
        }
        return policies
    }

    /// `tags: {team: support}` — forced tags.
    func tagValues(_ node: Node, at path: String) -> [String: String] {
        guard let entries = entries(node, at: path) else { return [:] }
        var tags: [String: String] = [:]
        for entry in entries {
            // As in the X-Sluice-Tags header, where a name ends at its `=` (the usage totals'
            // fields rely on it: `tag:<name>=<value>|…`).
            if entry.key.contains("=") || entry.key.contains(",") {
                report("a tag name cannot contain '=' or ','", at: entry.value, field: ConfigLoader.join(path, entry.key))
                continue
            }
            if let value = nonEmptyString(entry.value, at: ConfigLoader.join(path, entry.key)) { tags[entry.key] = value }
        }
        return tags
    }

    /// `client_tags: true | false | [project_id, user]`.
    func clientTagPolicy(_ node: Node, at path: String) -> ClientTagPolicy {
        if node.tag.rawValue == Tag.Name.bool.rawValue, let allowed = node.bool { return allowed ? .any : .none }
        guard let items = sequence(node, at: path) else { return .any }
        return .names(Set(items.enumerated().compactMap { index, item in nonEmptyString(item, at: "\(path)[\(index)]") }))
    }

    /// `required_tags: {team: [support, marketing], project_id: []}` (`[]` or `"*"`: any value).
    func requiredTags(_ node: Node, at path: String) -> RequiredTags {
        guard let entries = entries(node, at: path) else { return RequiredTags() }
        var allowed: [String: Set<String>] = [:]
        for entry in entries {
            let field = ConfigLoader.join(path, entry.key)
            if case .scalar(let scalar) = entry.value, scalar.string == "*" || scalar.string.isEmpty {
                allowed[entry.key] = []
                continue
            }
            if entry.value.tag.rawValue == Tag.Name.null.rawValue {
                allowed[entry.key] = []
                continue
            }
            guard let items = sequence(entry.value, at: field) else { continue }
            allowed[entry.key] = Set(items.enumerated().compactMap { index, item in nonEmptyString(item, at: "\(field)[\(index)]") })
        }
        return RequiredTags(allowed)
    }
}
