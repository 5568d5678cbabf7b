import Yams

extension ConfigLoader.Reader {
    /// A secret field: `${env:NAME}`, `${file:/path}` (trailing whitespace trimmed) or a
    /// literal. Issues name the reference, never the value it resolved to.
    func secret(_ node: Node, at path: String) -> Secret? {
        guard let text = string(node, at: path) else { return nil }
        return resolveSecret(text, at: node, field: path)
    }

    /// Resolves the text of a secret field; see `secret(_:at:)`.
    func resolveSecret(_ text: String, at node: Node, field: String) -> Secret? {
        if !secrets.resolvesProviderSecrets && (field.hasPrefix("providers.") || field.hasPrefix("telemetry."))
            && text.hasPrefix("${") {
            return Secret("unresolved", origin: "not read (\(field))")
        }
        guard text.hasPrefix("${"), text.hasSuffix("}"), text.count >= 3 else {
            guard !text.isEmpty else {
                report("must not be empty", at: node, field: field)
                return nil
            }
            return Secret(text, origin: "literal")
        }
        let reference = text.dropFirst(2).dropLast()
        guard let colon = reference.firstIndex(of: ":") else {
            report("a secret reference must be ${env:NAME} or ${file:/path}", at: node, field: field)
            return nil
        }
        let kind = String(reference[..<colon])
        let target = String(reference[reference.index(after: colon)...])
        switch kind {
        case "env": return environmentSecret(target, at: node, field: field)
        case "file": return fileSecret(target, at: node, field: field)
        default:
            let known = ["env", "file"]
            let hint = ConfigLoader.closest(to: kind, among: known).map { " (did you mean '\($0)'?)" } ?? ""
            report("unknown secret reference kind '\(kind)'\(hint); use ${env:NAME} or ${file:/path}",
                   at: node, field: field)
            return nil
        }
    }

    private func environmentSecret(_ name: String, at node: Node, field: String) -> Secret? {
        let isIdentifier = !name.isEmpty && name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_")
        }
        guard isIdentifier else {
            report("invalid environment variable name '\(name)' in ${env:…}", at: node, field: field)
            return nil
        }
        guard let value = secrets.environmentValue(name) else {
            report("environment variable \(name) is not set (referenced as ${env:\(name)})", at: node, field: field)
            return nil
        }
        guard !value.isEmpty else {
            report("environment variable \(name) is empty (referenced as ${env:\(name)})", at: node, field: field)
            return nil
        }
        return Secret(value, origin: "env:\(name)")
    }

    private func fileSecret(_ path: String, at node: Node, field: String) -> Secret? {
        guard !path.isEmpty else {
            report("${file:…} needs a path, e.g. ${file:/run/secrets/openai}", at: node, field: field)
            return nil
        }
        let contents: String
        do {
            contents = try secrets.fileContents(path)
        } catch {
            report("cannot read secret file \(path) (\(error))", at: node, field: field)
            return nil
        }
        var trimmed = contents[...]
        while trimmed.last?.isWhitespace == true { trimmed = trimmed.dropLast() }
        let value = String(trimmed)
        guard !value.isEmpty else {
            report("secret file \(path) is empty", at: node, field: field)
            return nil
        }
        return Secret(value, origin: "file:\(path)")
    }

    /// Reports a secret that would break an HTTP header (a line break or other control
    /// character), without showing it.
    func isHeaderSafe(_ secret: Secret, at node: Node, field: String) -> Bool {
        let unsafe = secret.exposedValue.unicodeScalars.contains { Self.isControl($0) && $0 != "\t" }
        if unsafe {
            report("the value from \(secret.origin) contains a line break or control character", at: node, field: field)
        }
        return !unsafe
    }
}
