import struct Foundation.TimeZone
import Yams

extension ConfigLoader.Reader {
    /// The top-level governance sections: `limits`, `required_tags`, `admission`, `prices`,
    /// `budgets`, `budget_time_zone`.
    func governance(_ fields: ConfigLoader.Fields, routeNames: [String]) -> GovernanceConfig {
        var governance = GovernanceConfig()
        if let node = fields["limits"] { governance.limits = limits(node, at: "limits") }
        if let node = fields["required_tags"] { governance.requiredTags = requiredTags(node, at: "required_tags") }
        if let node = fields["admission"] { governance.admission = admission(node, at: "admission") }
        if let node = fields["prices"] { governance.prices = PriceTable(overrides: prices(node, at: "prices")) }
        if let node = fields["budget_time_zone"], let zone = timeZone(node, at: "budget_time_zone") {
            governance.budgetTimeZone = zone
        }
        if let node = fields["budgets"] { governance.budgets = budgets(node, at: "budgets", routeNames: routeNames) }
        return governance
    }

    /// `admission: {on_redis_error: fail_open, local_requests: 60, local_window: 1m, default_max_tokens: 4096}`.
    private func admission(_ node: Node, at path: String) -> AdmissionConfig {
        var admission = AdmissionConfig()
        let allowed = ["on_redis_error", "local_requests", "local_window", "default_max_tokens"]
        guard let fields = fields(node, at: path, allowed: allowed) else { return admission }
        if let mode: AdmissionConfig.OnRedisError = fields["on_redis_error"].flatMap({
            choice($0, at: fields.path("on_redis_error"), what: "mode")
        }) {
            admission.onRedisError = mode
        }
        if let count = fields["local_requests"].flatMap({ int($0, at: fields.path("local_requests"), in: 0...1_000_000) }) {
            admission.localRequests = count
        }
        if let window = fields["local_window"].flatMap({ duration($0, at: fields.path("local_window")) }) {
            admission.localWindow = window
        }
        if let tokens = fields["default_max_tokens"].flatMap({
            int($0, at: fields.path("default_max_tokens"), in: 1...10_000_000)
        }) {
            admission.defaultMaxTokens = tokens
        }
        return admission
    }

    /// `prices: {gpt-4o: {input: 2.5, output: 10, cached_input: 1.25}, openai/gpt-4o-mini: {...}}`
    /// (US dollars per million tokens); also `cache_write` (5-minute cache writes),
    /// `cache_write_1h` and `reasoning` (reasoning output tokens).
    private func prices(_ node: Node, at path: String) -> [String: ModelPrice] {
        guard let entries = entries(node, at: path) else { return [:] }
        var prices: [String: ModelPrice] = [:]
        for entry in entries {
            let field = ConfigLoader.join(path, entry.key)
            guard let fields = fields(entry.value, at: field, allowed: ["input", "output", "cached_input", "cache_write", "cache_write_1h", "reasoning"]) else { continue }
            let input = required(fields, "input").flatMap { dollars($0, at: fields.path("input")) }
            let output = fields["output"].map { dollars($0, at: fields.path("output")) } ?? 0
            func optional(_ name: String) -> Double? { fields[name].flatMap { dollars($0, at: fields.path(name)) } }
            if let input, let output {
                prices[entry.key] = ModelPrice(input: input, output: output, cachedInput: optional("cached_input"),
                                               cacheWrite: optional("cache_write"), cacheWrite1h: optional("cache_write_1h"),
                                               reasoning: optional("reasoning"))
            }
        }
        return prices
    }

    /// `budgets: {NAME: {per, tag, value, amount, period, thresholds, enforce, webhook, time_zone}}`.
    private func budgets(_ node: Node, at path: String, routeNames: [String]) -> [BudgetConfig] {
        guard let entries = entries(node, at: path) else { return [] }
        var budgets: [BudgetConfig] = []
        for entry in entries {
            let field = ConfigLoader.join(path, entry.key)
            guard isValidName(entry.key, at: entry.keyNode, field: field, what: "budget") else { continue }
            let allowed = ["per", "tag", "value", "amount", "period", "thresholds", "enforce", "webhook", "time_zone"]
            guard let fields = fields(entry.value, at: field, allowed: allowed) else { continue }
            let scope: BudgetConfig.Scope? = required(fields, "per").flatMap {
                choice($0, at: fields.path("per"), what: "budget scope")
            }
            let amount = required(fields, "amount").flatMap { dollars($0, at: fields.path("amount")) }
            let period: BudgetConfig.Period? = required(fields, "period").flatMap {
                choice($0, at: fields.path("period"), what: "budget period")
            }
            var tag: String?
            if scope == .tag {
                tag = required(fields, "tag", because: " (per: tag counts the values of one tag)").flatMap {
                    nonEmptyString($0, at: fields.path("tag"))
                }
            } else if let node = fields["tag"], scope != nil {
                report("'tag' applies only to budgets with per: tag", at: node, field: fields.path("tag"))
            }
            let value = fields["value"].flatMap { nonEmptyString($0, at: fields.path("value")) }
            if scope == .route, let value, let node = fields["value"], !routeNames.contains(value) {
                report("unknown route \"\(value)\" (known: \(routeNames.joined(separator: ", ")))", at: node,
                       field: fields.path("value"))
            }
            if scope == .gateway, let node = fields["value"] {
                report("'value' does not apply to per: gateway", at: node, field: fields.path("value"))
            }
            var thresholds = [50, 80, 100]
            if let node = fields["thresholds"], let items = sequence(node, at: fields.path("thresholds")) {
                thresholds = items.enumerated().compactMap { index, item in
                    int(item, at: "\(fields.path("thresholds"))[\(index)]", in: 1...1000)
                }.sorted()
            }
            let enforce = fields["enforce"].flatMap { bool($0, at: fields.path("enforce")) } ?? true
            var webhook: String?
            if let node = fields["webhook"], let url = nonEmptyString(node, at: fields.path("webhook")) {
                if url.hasPrefix("http://") || url.hasPrefix("https://") {
                    webhook = url
                } else {
                    report("expected an http:// or https:// URL", at: node, field: fields.path("webhook"))
                }
            }
            let zone = fields["time_zone"].flatMap { timeZone($0, at: fields.path("time_zone")) }
            if let scope, let amount, let period {
                budgets.append(BudgetConfig(name: entry.key, per: scope, tag: tag, value: value,
                                            amountNanos: Money.nanos(dollars: amount), period: period,
                                            thresholds: thresholds, enforce: enforce, webhook: webhook, timeZone: zone))
            }
        }
        return budgets
    }

    /// A non-negative amount of dollars (an integer or a decimal number).
    private func dollars(_ node: Node, at path: String) -> Double? {
        guard case .scalar(let scalar) = node,
              node.tag.rawValue == Tag.Name.int.rawValue || node.tag.rawValue == Tag.Name.float.rawValue,
              let value = Double(scalar.string), value >= 0, value.isFinite else {
            report("expected a non-negative number of US dollars, found \(Self.describe(node))", at: node, field: path)
            return nil
        }
        return value
    }

    /// An IANA time zone name (`Europe/Berlin`) or `UTC`.
    private func timeZone(_ node: Node, at path: String) -> String? {
        guard let name = nonEmptyString(node, at: path) else { return nil }
        guard TimeZone(identifier: name) != nil else {
            report("unknown time zone '\(name)' (use an IANA name such as UTC or Europe/Berlin)", at: node, field: path)
            return nil
        }
        return name
    }
}
