import Yams

extension ConfigLoader.Reader {
    /// `guardrails:` — a list of `{name, detect, words, topics, patterns, kind: webhook, url,
    /// timeout, fail, action, restore, apply_to}`.
    func guardrails(_ node: Node, at path: String) -> [GuardrailConfig] {
        guard let items = sequence(node, at: path) else { return [] }
        var guardrails: [GuardrailConfig] = []
        var names = Set<String>()
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            let allowed = ["name", "detect", "words", "topics", "patterns", "kind", "url", "timeout", "fail", "action",
                           "restore", "apply_to"]
            guard let fields = fields(item, at: itemPath, allowed: allowed),
                  let name = required(fields, "name").flatMap({ nonEmptyString($0, at: fields.path("name")) }) else { continue }
            guard names.insert(name).inserted else {
                report("duplicate guardrail name '\(name)'", at: fields["name"], field: fields.path("name"))
                continue
            }
            var guardrail = GuardrailConfig(name: name)
            if let node = fields["detect"], let list = sequence(node, at: fields.path("detect")) {
                for (position, entry) in list.enumerated() {
                    let entryPath = "\(fields.path("detect"))[\(position)]"
                    guard let text = string(entry, at: entryPath) else { continue }
                    switch text {
                    case "pii": guardrail.detectors += [.email, .phone, .creditCard, .iban, .usSSN, .ipAddress]
                    case "secrets": guardrail.detectors += [.awsKey, .openAIKey, .anthropicKey, .githubToken, .slackToken, .privateKey]
                    default:
                        guard let detector = Detector(rawValue: text) else {
                            report("unknown detector '\(text)' (known: pii, secrets, "
                                   + Detector.allCases.map(\.rawValue).joined(separator: ", ") + ")", at: entry, field: entryPath)
                            continue
                        }
                        guardrail.detectors.append(detector)
                    }
                }
                var seen = Set<Detector>()
                guardrail.detectors = guardrail.detectors.filter { seen.insert($0).inserted }
            }
            if let node = fields["words"] { guardrail.words = phrases(node, at: fields.path("words")) }
            if let node = fields["topics"], let entries = entries(node, at: fields.path("topics")) {
                for entry in entries {
                    guardrail.topics.append((entry.key, phrases(entry.value, at: ConfigLoader.join(fields.path("topics"), entry.key))))
                }
            }
            if let node = fields["patterns"], let list = sequence(node, at: fields.path("patterns")) {
                for (position, entry) in list.enumerated() {
                    let entryPath = "\(fields.path("patterns"))[\(position)]"
                    guard let pattern = nonEmptyString(entry, at: entryPath) else { continue }
                    if let problem = LinearPattern.problem(pattern) {
                        report(problem, at: entry, field: entryPath)
                    } else {
                        guardrail.patterns.append(pattern)
                    }
                }
            }
            if let kindNode = fields["kind"], let kind = string(kindNode, at: fields.path("kind")) {
                if kind == "webhook" {
                    if let urlNode = required(fields, "url"), let url = nonEmptyString(urlNode, at: fields.path("url")) {
                        if url.hasPrefix("http://") || url.hasPrefix("https://") {
                            var webhook = GuardrailConfig.Webhook(url: url)
                            if let timeout = fields["timeout"].flatMap({ duration($0, at: fields.path("timeout")) }) {
                                webhook.timeout = timeout
                            }
                            if let failNode = fields["fail"], let fail = string(failNode, at: fields.path("fail")) {
                                if fail == "open" || fail == "closed" {
                                    webhook.failOpen = fail == "open"
                                } else {
                                    report("expected open or closed", at: failNode, field: fields.path("fail"))
                                }
                            }
                            guardrail.webhook = webhook
                        } else {
                            report("expected an http:// or https:// URL", at: urlNode, field: fields.path("url"))
                        }
                    }
                } else if kind != "builtin" {
                    report("expected builtin or webhook", at: kindNode, field: fields.path("kind"))
                }
            }
            if let action: GuardrailConfig.Action = fields["action"].flatMap({
                choice($0, at: fields.path("action"), what: "guardrail action")
            }) {
                guardrail.action = action
            }
            if let restore = fields["restore"].flatMap({ bool($0, at: fields.path("restore")) }) { guardrail.restore = restore }
            if let direction: GuardrailConfig.Direction = fields["apply_to"].flatMap({
                choice($0, at: fields.path("apply_to"), what: "guardrail direction")
            }) {
                guardrail.applyTo = direction
            }
            // A webhook classifies requests unless told otherwise: on answers it holds a
            // stream back until its end (the classifier reads the whole text).
            if guardrail.webhook != nil, fields["apply_to"] == nil { guardrail.applyTo = .request }
            let checks = ["detect", "words", "topics", "patterns", "kind"]
            if !checks.contains(where: { fields[$0] != nil }) {
                report("a guardrail needs detect, words, topics, patterns or kind: webhook", at: item, field: itemPath)
                continue
            }
            if guardrail.detectors.isEmpty && guardrail.words.isEmpty && guardrail.topics.isEmpty
                && guardrail.patterns.isEmpty && guardrail.webhook == nil {
                continue  // what it named was refused above
            }
            guardrails.append(guardrail)
        }
        return guardrails
    }

    /// A list of non-empty words or phrases.
    private func phrases(_ node: Node, at path: String) -> [String] {
        guard let list = sequence(node, at: path) else { return [] }
        return list.enumerated().compactMap { nonEmptyString($1, at: "\(path)[\($0)]") }
    }
}
