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
        let allowed = ["type", "endpoints", "rules", "timeouts", "limits"]
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
        return RouteConfig(name: name, type: type, endpoints: endpoints?.endpoints ?? [], rules: rules ?? [],
                           timeouts: timeouts ?? Timeouts(), limits: limits ?? [])
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
            let allowed = ["name", "provider", "model", "weight", "fallback_only", "timeouts"]
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
            endpoints.append(EndpointConfig(name: name, provider: provider, model: model, weight: weight,
                                            fallbackOnly: fallbackOnly, timeouts: timeouts))
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
            let use = required(fields, "use").flatMap { node -> String? in
                guard let use = string(node, at: fields.path("use")) else { return nil }
                guard endpointNames.contains(use) else {
                    report("unknown endpoint \"\(use)\" (endpoints of this route: \(endpointNames.joined(separator: ", ")))",
                           at: node, field: fields.path("use"))
                    return nil
                }
                return use
            }
            if let when, let use {
                rules.append(RouteRule(when: when, use: use))
            }
        }
        return rules
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
