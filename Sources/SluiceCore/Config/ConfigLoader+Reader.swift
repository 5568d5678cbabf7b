import Yams

extension ConfigLoader {
    /// Walks the YAML tree of one file, collecting issues instead of stopping at the
    /// first one. Each reader method reports what is wrong with its node and returns
    /// `nil` (or a default) so that its caller can carry on with the rest of the file.
    final class Reader {
        let fileName: String
        let secrets: any SecretResolving
        private(set) var issues: [ConfigIssue] = []
        var warnings: [String] = []

        init(fileName: String, secrets: any SecretResolving) {
            self.fileName = fileName
            self.secrets = secrets
        }

        /// All issues, in file order.
        var error: ConfigError {
            let ordered = issues.enumerated().sorted {
                ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset)
            }
            return ConfigError(issues: ordered.map(\.element))
        }

        /// Records a problem with `node` (the start of the file when `nil`).
        func report(_ message: String, at node: Node?, field: String) {
            let mark = node?.mark
            issues.append(ConfigIssue(file: fileName, line: mark?.line ?? 1, column: mark?.column ?? 1,
                                      field: field, message: message))
        }
    }

    /// The known keys of one YAML mapping, with the mapping's own node and path.
    struct Fields {
        let node: Node
        let path: String
        private let values: [String: Node]

        init(node: Node, path: String, values: [String: Node]) {
            self.node = node
            self.path = path
            self.values = values
        }

        subscript(key: String) -> Node? { values[key] }

        /// The dotted path of `key` inside this mapping.
        func path(_ key: String) -> String { ConfigLoader.join(path, key) }
    }

    /// `parent.key`, or just `key` at the top of the file.
    static func join(_ parent: String, _ key: String) -> String {
        parent.isEmpty ? key : "\(parent).\(key)"
    }
}

// MARK: - Structure

extension ConfigLoader.Reader {
    /// The entries of a mapping in file order, with string keys; reports anything else.
    func entries(_ node: Node, at path: String) -> [(key: String, keyNode: Node, value: Node)]? {
        guard case .mapping(let mapping) = node else {
            report("expected a mapping, found \(Self.describe(node))", at: node, field: path)
            return nil
        }
        var result: [(key: String, keyNode: Node, value: Node)] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                report("keys must be plain strings, found \(Self.describe(keyNode))", at: keyNode, field: path)
                continue
            }
            result.append((scalar.string, keyNode, value))
        }
        return result
    }

    /// A mapping whose keys must all be in `allowed`; unknown keys are reported with
    /// the nearest known key as a suggestion.
    func fields(_ node: Node, at path: String, allowed: [String]) -> ConfigLoader.Fields? {
        guard let entries = entries(node, at: path) else { return nil }
        var values: [String: Node] = [:]
        for entry in entries {
            guard allowed.contains(entry.key) else {
                let hint = ConfigLoader.closest(to: entry.key, among: allowed).map { " (did you mean '\($0)'?)" }
                    ?? " (known: \(allowed.joined(separator: ", ")))"
                report("unknown field '\(entry.key)'\(hint)", at: entry.keyNode, field: ConfigLoader.join(path, entry.key))
                continue
            }
            values[entry.key] = entry.value
        }
        return ConfigLoader.Fields(node: node, path: path, values: values)
    }

    /// `fields[key]`, reporting its absence at the enclosing mapping.
    func required(_ fields: ConfigLoader.Fields, _ key: String, because reason: String = "") -> Node? {
        if let value = fields[key] { return value }
        report("missing required field '\(key)'\(reason)", at: fields.node, field: fields.path(key))
        return nil
    }

    /// The items of a YAML sequence.
    func sequence(_ node: Node, at path: String) -> [Node]? {
        guard case .sequence(let sequence) = node else {
            report("expected a list, found \(Self.describe(node))", at: node, field: path)
            return nil
        }
        return Array(sequence)
    }

    /// A node's kind in words, without its value (which could be a misplaced secret).
    static func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar:
            switch node.tag.rawValue {
            case Tag.Name.null.rawValue: return "null"
            case Tag.Name.int.rawValue: return "an integer"
            case Tag.Name.float.rawValue: return "a number"
            case Tag.Name.bool.rawValue: return "a boolean"
            default: return "a string"
            }
        }
    }
}

// MARK: - Scalars

extension ConfigLoader.Reader {
    /// The text of any non-null scalar (numbers and booleans are taken as written).
    func string(_ node: Node, at path: String) -> String? {
        guard case .scalar(let scalar) = node, node.tag.rawValue != Tag.Name.null.rawValue else {
            report("expected a string, found \(Self.describe(node))", at: node, field: path)
            return nil
        }
        return scalar.string
    }

    /// A string that is not empty.
    func nonEmptyString(_ node: Node, at path: String) -> String? {
        guard let text = string(node, at: path) else { return nil }
        guard !text.isEmpty else {
            report("must not be empty", at: node, field: path)
            return nil
        }
        return text
    }

    /// A plain decimal integer in `range`; quoted numbers are strings, not integers.
    func int(_ node: Node, at path: String, in range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let scalar) = node, node.tag.rawValue == Tag.Name.int.rawValue,
              let value = Int(scalar.string) else {
            report("expected an integer, found \(Self.describe(node))", at: node, field: path)
            return nil
        }
        guard range.contains(value) else {
            let bounds = range.upperBound == .max ? "at least \(range.lowerBound)"
                : "between \(range.lowerBound) and \(range.upperBound)"
            report("must be \(bounds), found \(value)", at: node, field: path)
            return nil
        }
        return value
    }

    /// `true` or `false`.
    func bool(_ node: Node, at path: String) -> Bool? {
        guard node.tag.rawValue == Tag.Name.bool.rawValue, let value = node.bool else {
            report("expected true or false, found \(Self.describe(node))", at: node, field: path)
            return nil
        }
        return value
    }

    /// A duration such as `500ms` or `30s`; zero only when `allowZero`.
    func duration(_ node: Node, at path: String, allowZero: Bool = false) -> Duration? {
        guard let text = string(node, at: path) else { return nil }
        guard let duration = DurationText.parse(text) else {
            report("invalid duration '\(text)' (expected \(DurationText.examples))", at: node, field: path)
            return nil
        }
        guard allowZero || duration > .zero else {
            report("must be longer than zero", at: node, field: path)
            return nil
        }
        return duration
    }

    /// A positive byte size such as `8m`.
    func byteSize(_ node: Node, at path: String) -> Int? {
        guard let text = string(node, at: path) else { return nil }
        guard let bytes = ByteSizeText.parse(text) else {
            report("invalid size '\(text)' (expected \(ByteSizeText.examples))", at: node, field: path)
            return nil
        }
        guard bytes > 0 else {
            report("must be larger than zero", at: node, field: path)
            return nil
        }
        return bytes
    }

    /// One of an enumeration's raw values.
    func choice<T: RawRepresentable & CaseIterable>(_ node: Node, at path: String, what: String) -> T?
    where T.RawValue == String {
        guard let text = string(node, at: path) else { return nil }
        if let value = T(rawValue: text) { return value }
        let known = T.allCases.map(\.rawValue)
        report("unknown \(what) '\(text)' (known: \(known.joined(separator: ", ")))", at: node, field: path)
        return nil
    }

    /// A provider or route name: non-empty, letters, digits and `. _ : / -`.
    func isValidName(_ name: String, at node: Node, field: String, what: String) -> Bool {
        let allowed = name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "._:/-".unicodeScalars.contains(scalar))
        }
        if allowed && !name.isEmpty { return true }
        report("invalid \(what) name '\(name)' (use letters, digits and . _ : / -)", at: node, field: field)
        return false
    }
}
