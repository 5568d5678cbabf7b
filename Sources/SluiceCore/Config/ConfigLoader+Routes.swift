import Yams

extension ConfigLoader.Reader {
    /// `routes:`: at least one, by name, in file order. `order` lists every declared
    /// name, even of routes with problems, so principals naming them are not reported again.
    func routeConfigs(_ node: Node, at path: String,
                      providerNames: [String]) -> (byName: [String: RouteConfig], order: [String]) {
        var byName: [String: RouteConfig] = [:]
        var order: [String] = []
        guard let entries = entries(node, at: path) else { return ([:], []) }
        if entries.isEmpty {
            report("at least one route is required", at: node, field: path)
        }
        for entry in entries {
            let field = ConfigLoader.join(path, entry.key)
            guard isValidName(entry.key, at: entry.keyNode, field: field, what: "route") else { continue }
            order.append(entry.key)
            if let route = routeConfig(named: entry.key, entry.value, at: field, providerNames: providerNames) {
                byName[entry.key] = route
            }
        }
        return (byName, order)
    }

    /// `routes.NAME:`.
    private func routeConfig(named name: String, _ node: Node, at path: String, providerNames: [String]) -> RouteConfig? {
        let allowed = ["type", "endpoints", "rules", "default", "timeouts", "limits", "retry", "prefer_warm", "capture",
                       "required_tags", "cache", "balance", "guardrails"]
        guard let fields = fields(node, at: path, allowed: allowed) else { return nil }
        let type: RouteType = fields["type"].flatMap { choice($0, at: fields.path("type"), what: "route type") } ?? .chat
        let endpoints = required(fields, "endpoints").map {
            self.endpoints($0, at: fields.path("endpoints"), providerNames: providerNames)
        }
        let rules = fields["rules"].map {
            self.rules($0, at: fields.path("rules"), endpointNames: endpoints?.names ?? [])
        }
        let timeouts = fields["timeouts"].map { self.timeouts($0, at: fields.path("timeouts")) }
        let limits = fields["limits"].map { self.limits($0, at: fields.path("limits")) }
        let defaultEndpoint = fields["default"].flatMap {
            endpointName($0, at: fields.path("default"), endpointNames: endpoints?.names ?? [])
        }
        let retry = fields["retry"].map { self.retry($0, at: fields.path("retry")) } ?? RetryConfig()
        let preferWarm = fields["prefer_warm"].flatMap { bool($0, at: fields.path("prefer_warm")) } ?? true
        let capture = fields["capture"].map { self.capture($0, at: fields.path("capture")) } ?? PayloadCaptureConfig()
        var route = RouteConfig(name: name, type: type, endpoints: endpoints?.endpoints ?? [], rules: rules ?? [],
                                timeouts: timeouts ?? Timeouts(), limits: limits ?? [], defaultEndpoint: defaultEndpoint,
                                retry: retry, preferWarm: preferWarm, capture: capture)
        if let node = fields["required_tags"] { route.requiredTags = requiredTags(node, at: fields.path("required_tags")) }
        if let node = fields["cache"] { route.cache = cache(node, at: fields.path("cache")) }
        if let node = fields["balance"], let balance = balance(node, at: fields.path("balance")) { route.balance = balance }
        if let node = fields["guardrails"] { route.guardrails = guardrails(node, at: fields.path("guardrails")) }
        return route
    }

    /// `balance:` — `weighted`, `latency`, `least_busy`, or `{by: latency, explore: 0.1}`.
    private func balance(_ node: Node, at path: String) -> Balance? {
        func named(_ text: String, explore: Double, at node: Node, field: String) -> Balance? {
            switch text {
            case "weighted": return .weighted
            case "latency": return .latency(explore: explore)
            case "least_busy": return .leastBusy
            default:
                report("expected weighted, latency or least_busy", at: node, field: field)
                return nil
            }
        }
        if case .scalar = node {
            return string(node, at: path).flatMap { named($0, explore: 0.1, at: node, field: path) }
        }
        guard let fields = fields(node, at: path, allowed: ["by", "explore"]), let byNode = required(fields, "by"),
              let by = string(byNode, at: fields.path("by")) else { return nil }
        var explore = 0.1
        if let node = fields["explore"] {
            if let share = Double(string(node, at: fields.path("explore")) ?? "x"), node.tag.rawValue != Tag.Name.str.rawValue,
               (0...1).contains(share) {
                explore = share
            } else {
                report("expected a share between 0 and 1, such as 0.1", at: node, field: fields.path("explore"))
            }
        }
        return named(by, explore: explore, at: byNode, field: fields.path("by"))
    }

    /// `cache:` — `{ttl: 10m, max_bytes: 256k, ignore_fields: [user], namespace: key|route|tag:NAME}`.
    private func cache(_ node: Node, at path: String) -> ResponseCacheConfig? {
        guard let fields = fields(node, at: path, allowed: ["ttl", "max_bytes", "ignore_fields", "namespace"]) else { return nil }
        var cache = ResponseCacheConfig()
        if let ttl = fields["ttl"].flatMap({ duration($0, at: fields.path("ttl")) }) { cache.ttl = ttl }
        if let bytes = fields["max_bytes"].flatMap({ byteSize($0, at: fields.path("max_bytes")) }) { cache.maxBytes = bytes }
        if let node = fields["ignore_fields"], let items = sequence(node, at: fields.path("ignore_fields")) {
            for (index, item) in items.enumerated() {
                guard let name = string(item, at: "\(fields.path("ignore_fields"))[\(index)]") else { continue }
                guard !["model", "stream"].contains(name) else {
                    report("'\(name)' changes the answer; it cannot be ignored", at: item,
                           field: "\(fields.path("ignore_fields"))[\(index)]")
                    continue
                }
                cache.ignoreFields.insert(name)
            }
        }
        if let node = fields["namespace"], let text = string(node, at: fields.path("namespace")) {
            switch text {
            case "key": cache.namespace = .key
            case "route": cache.namespace = .route
            case _ where text.hasPrefix("tag:") && text.count > 4: cache.namespace = .tag(String(text.dropFirst(4)))
            default: report("expected key, route or tag:NAME", at: node, field: fields.path("namespace"))
            }
        }
        return cache
    }

    /// A reference to one of the route's endpoints (`use:`, `default:`).
    private func endpointName(_ node: Node, at path: String, endpointNames: [String]) -> String? {
        guard let name = string(node, at: path) else { return nil }
        guard endpointNames.contains(name) else {
            report("unknown endpoint \"\(name)\" (endpoints of this route: \(endpointNames.joined(separator: ", ")))",
                   at: node, field: path)
            return nil
        }
        return name
    }

    /// `capture:` — `{enabled: true, sample: 0.1, max_bytes: 16k, redact_fields: [...], redact_patterns: [...]}`.
    private func capture(_ node: Node, at path: String) -> PayloadCaptureConfig {
        var capture = PayloadCaptureConfig(enabled: true)
        let allowed = ["enabled", "sample", "max_bytes", "redact_fields", "redact_patterns"]
        guard let fields = fields(node, at: path, allowed: allowed) else { return PayloadCaptureConfig() }
        if let enabled = fields["enabled"].flatMap({ bool($0, at: fields.path("enabled")) }) { capture.enabled = enabled }
        if let node = fields["sample"] {
            if let rate = Double(string(node, at: fields.path("sample")) ?? "x"), node.tag.rawValue != Tag.Name.str.rawValue,
               (0...1).contains(rate) {
                capture.sampleRate = rate
            } else {
                report("expected a share between 0 and 1, such as 0.1", at: node, field: fields.path("sample"))
            }
        }
        if let bytes = fields["max_bytes"].flatMap({ byteSize($0, at: fields.path("max_bytes")) }) { capture.maxBytes = bytes }
        capture.redactFields = fields["redact_fields"].map { strings($0, at: fields.path("redact_fields")) } ?? []
        capture.redactPatterns = fields["redact_patterns"].map { strings($0, at: fields.path("redact_patterns")) } ?? []
        do {
            _ = try PayloadRedactor(capture)
        } catch {
            report(error.reason, at: fields["redact_patterns"], field: fields.path("redact_patterns") + "[\(error.index)]")
        }
        return capture
    }

    /// A list of non-empty strings.
    func strings(_ node: Node, at path: String) -> [String] {
        guard let items = sequence(node, at: path) else { return [] }
        return items.enumerated().compactMap { nonEmptyString($1, at: "\(path)[\($0)]") }
    }

    /// `retry:` — `{on: [...], attempts: N, deadline: 60s, max_wait: 5s}`.
    private func retry(_ node: Node, at path: String) -> RetryConfig {
        var retry = RetryConfig()
        guard let fields = fields(node, at: path, allowed: ["on", "attempts", "deadline", "max_wait"]) else { return retry }
        if let on = fields["on"] { retry.on = fallbackConditions(on, at: fields.path("on")) }
        retry.attempts = fields["attempts"].flatMap { int($0, at: fields.path("attempts"), in: 1...20) }
        retry.deadline = fields["deadline"].flatMap { duration($0, at: fields.path("deadline")) }
        if let maxWait = fields["max_wait"].flatMap({ duration($0, at: fields.path("max_wait"), allowZero: true) }) {
            retry.maxWait = maxWait
        }
        return retry
    }

    /// `on:` — `connect`, `timeout`, `dropped`, `overloaded` (529), `5xx`, or a retryable status.
    private func fallbackConditions(_ node: Node, at path: String) -> FallbackConditions {
        var conditions = FallbackConditions(connect: false, timeout: false, dropped: false, statuses: [])
        guard let items = sequence(node, at: path) else { return .defaults }
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            guard let text = string(item, at: itemPath) else { continue }
            switch text {
            case "connect": conditions.connect = true
            case "timeout": conditions.timeout = true
            case "dropped": conditions.dropped = true
            case "overloaded": conditions.statuses.insert(529)
            case "5xx": conditions.statuses.formUnion(500...599)
            default:
                guard let status = Int(text), (100...599).contains(status) else {
                    report("unknown failure '\(text)' (known: connect, timeout, dropped, overloaded, 5xx, or a status "
                           + "such as 408, 429, 503)", at: item, field: itemPath)
                    continue
                }
                guard FallbackConditions.isRetryable(status: status) else {
                    let what = (400...499).contains(status) ? "a client error that another endpoint would answer the same way"
                        : "not a failure"
                    report("HTTP \(status) is \(what); only 408, 409, 425, 429 and 5xx statuses can move on",
                           at: item, field: itemPath)
                    continue
                }
                conditions.statuses.insert(status)
            }
        }
        return conditions
    }

    /// `endpoints:`: a non-empty list with unique names and at least one primary
    /// (not `fallback_only`) endpoint of positive weight. `names` includes endpoints
    /// with problems, for checking rules.
    private func endpoints(_ node: Node, at path: String,
                           providerNames: [String]) -> (endpoints: [EndpointConfig], names: [String]) {
        guard let items = sequence(node, at: path) else { return ([], []) }
        if items.isEmpty {
            report("at least one endpoint is required", at: node, field: path)
        }
        var endpoints: [EndpointConfig] = []
        var names: [String] = []
        var firstLines: [String: Int] = [:]
        var primaryWeights: [Int] = []
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            let allowed = ["name", "provider", "model", "weight", "fallback_only", "timeouts", "params", "headers",
                           "keep_warm", "cold_after", "context_window"]
            guard let fields = fields(item, at: itemPath, allowed: allowed) else { continue }
            let provider = required(fields, "provider").flatMap { node -> String? in
                guard let provider = string(node, at: fields.path("provider")) else { return nil }
                if !providerNames.contains(provider) {
                    report("unknown provider \"\(provider)\" (known: \(providerNames.joined(separator: ", ")))",
                           at: node, field: fields.path("provider"))
                }
                return provider
            }
            let model = required(fields, "model").flatMap { nonEmptyString($0, at: fields.path("model")) }
            let weight = fields["weight"].flatMap { int($0, at: fields.path("weight"), in: 0...1_000_000) } ?? 1
            let fallbackOnly = fields["fallback_only"].flatMap { bool($0, at: fields.path("fallback_only")) } ?? false
            let timeouts = fields["timeouts"].map { self.timeouts($0, at: fields.path("timeouts")) } ?? Timeouts()
            let params = fields["params"].map { self.params($0, at: fields.path("params")) } ?? []
            let headers = fields["headers"].map { extraHeaders($0, at: fields.path("headers")) } ?? []
            let keepWarm = fields["keep_warm"].flatMap { duration($0, at: fields.path("keep_warm")) }
            let coldAfter = fields["cold_after"].flatMap { duration($0, at: fields.path("cold_after")) }
            let contextWindow = fields["context_window"].flatMap {
                int($0, at: fields.path("context_window"), in: 1...100_000_000)
            }
            if !fallbackOnly { primaryWeights.append(weight) }

            let nameNode = fields["name"] ?? item
            let explicitName = fields["name"].flatMap { nonEmptyString($0, at: fields.path("name")) }
            guard let name = explicitName ?? provider.flatMap({ p in model.map { "\(p)/\($0)" } }) else { continue }
            if let firstLine = firstLines[name] {
                report("duplicate endpoint name '\(name)' (already used at line \(firstLine))",
                       at: nameNode, field: fields.path("name"))
            } else {
                firstLines[name] = nameNode.mark?.line ?? 0
                names.append(name)
            }
            guard let provider, let model else { continue }
            var endpoint = EndpointConfig(name: name, provider: provider, model: model, weight: weight,
                                          fallbackOnly: fallbackOnly, timeouts: timeouts, params: params,
                                          headers: headers, keepWarm: keepWarm, coldAfter: coldAfter)
            endpoint.contextWindow = contextWindow
            endpoints.append(endpoint)
        }
        if !items.isEmpty && primaryWeights.isEmpty {
            report("every endpoint is fallback_only; at least one must serve first", at: node, field: path)
        } else if !primaryWeights.isEmpty && primaryWeights.allSatisfy({ $0 == 0 }) {
            report("every endpoint that is not fallback_only has weight 0; at least one needs a positive weight",
                   at: node, field: path)
        }
        return (endpoints, names)
    }

    /// `rules:`: `{when: {tag: value, …}, use: endpoint}` items.
    private func rules(_ node: Node, at path: String, endpointNames: [String]) -> [RouteRule] {
        guard let items = sequence(node, at: path) else { return [] }
        var rules: [RouteRule] = []
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            guard let fields = fields(item, at: itemPath, allowed: ["when", "use"]) else { continue }
            let when = required(fields, "when").flatMap { tagConditions($0, at: fields.path("when")) }
            let use = required(fields, "use").flatMap {
                endpointName($0, at: fields.path("use"), endpointNames: endpointNames)
            }
            if let when, let use {
                rules.append(RouteRule(when: when, use: use))
            }
        }
        return rules
    }

    /// `params:`: request field → any YAML value, kept as JSON text. `model` and `stream`
    /// belong to the gateway and cannot be set here.
    private func params(_ node: Node, at path: String) -> [(name: String, json: String)] {
        guard let entries = entries(node, at: path) else { return [] }
        var params: [(name: String, json: String)] = []
        for entry in entries {
            let field = ConfigLoader.join(path, entry.key)
            guard !["model", "stream", "stream_options"].contains(entry.key), !entry.key.isEmpty else {
                report("'\(entry.key)' cannot be set per endpoint", at: entry.keyNode, field: field)
                continue
            }
            if let json = jsonText(entry.value, at: field) { params.append((entry.key, json)) }
        }
        return params
    }

    /// A YAML value as JSON text: plain scalars keep their YAML type, quoted ones are strings.
    func jsonText(_ node: Node, at path: String) -> String? {
        switch node {
        case .scalar(let scalar):
            switch node.tag.rawValue {
            case Tag.Name.null.rawValue: return "null"
            case Tag.Name.bool.rawValue: return node.bool.map { $0 ? "true" : "false" }
            case Tag.Name.int.rawValue: return node.int.map(String.init) ?? JSONText.quoted(scalar.string)
            case Tag.Name.float.rawValue:
                guard let value = node.float, value.isFinite else {
                    report("numbers must be finite", at: node, field: path)
                    return nil
                }
                return String(value)
            default: return JSONText.quoted(scalar.string)
            }
        case .sequence(let items):
            var parts: [String] = []
            for (index, item) in items.enumerated() {
                guard let text = jsonText(item, at: "\(path)[\(index)]") else { return nil }
                parts.append(text)
            }
            return "[" + parts.joined(separator: ",") + "]"
        case .mapping:
            guard let entries = entries(node, at: path) else { return nil }
            var parts: [String] = []
            for entry in entries {
                guard let text = jsonText(entry.value, at: ConfigLoader.join(path, entry.key)) else { return nil }
                parts.append(JSONText.quoted(entry.key) + ":" + text)
            }
            return "{" + parts.joined(separator: ",") + "}"
        case .alias:
            report("aliases are not supported here", at: node, field: path)
            return nil
        }
    }

    /// `when:`: a non-empty map of tag name → value; scalars are taken as written.
    private func tagConditions(_ node: Node, at path: String) -> [String: String]? {
        guard let entries = entries(node, at: path) else { return nil }
        guard !entries.isEmpty else {
            report("expected at least one tag condition, as in {priority: high}", at: node, field: path)
            return nil
        }
        var conditions: [String: String] = [:]
        for entry in entries {
            let field = ConfigLoader.join(path, entry.key)
            if entry.key.isEmpty {
                report("a tag name must not be empty", at: entry.keyNode, field: field)
            } else if let value = string(entry.value, at: field) {
                conditions[entry.key] = value
            }
        }
        return conditions
    }
}
