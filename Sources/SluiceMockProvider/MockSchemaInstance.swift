import Foundation

/// A JSON value whose object members keep their order, so generated tool arguments and
/// structured answers read the way a model writes them: `{"location": "Paris", "unit": "celsius"}`.
indirect enum MockJSONValue: Sendable, Equatable {
    struct Member: Sendable, Equatable {
        var key: String
        var value: MockJSONValue
    }

    case string(String)
    case integer(Int)
    case number(Double)
    case bool(Bool)
    case null
    case array([MockJSONValue])
    case object([Member])

    /// JSON text with `": "` and `", "` between members and items (as OpenAI's arguments
    /// read), so its whitespace-separated words are what the mock bills as tokens.
    var text: String {
        switch self {
        case .string(let string): Self.quoted(string)
        case .integer(let int): String(int)
        case .number(let double): double == double.rounded() && abs(double) < 1e15 ? String(Int(double)) : String(double)
        case .bool(let bool): bool ? "true" : "false"
        case .null: "null"
        case .array(let items): "[" + items.map(\.text).joined(separator: ", ") + "]"
        case .object(let members): "{" + members.map { Self.quoted($0.key) + ": " + $0.value.text }.joined(separator: ", ") + "}"
        }
    }

    /// The value as a `JSONSerialization` tree.
    var foundation: Any {
        switch self {
        case .string(let string): string
        case .integer(let int): int
        case .number(let double): double
        case .bool(let bool): bool
        case .null: NSNull()
        case .array(let items): items.map(\.foundation)
        case .object(let members): Dictionary(members.map { ($0.key, $0.value.foundation) }) { first, _ in first }
        }
    }

    /// A `JSONSerialization` value (a `const` or `enum` member) as a ``MockJSONValue``; object keys sorted.
    init(_ value: Any) {
        switch value {
        case let string as String: self = .string(string)
        case let bool as Bool where type(of: value) == Bool.self: self = .bool(bool)
        case let number as NSNumber where String(cString: number.objCType) == "c": self = .bool(number.boolValue)
        case let int as Int: self = .integer(int)
        case let double as Double: self = .number(double)
        case let list as [Any]: self = .array(list.map(MockJSONValue.init))
        case let object as [String: Any]:
            self = .object(object.keys.sorted().map { Member(key: $0, value: MockJSONValue(object[$0] as Any)) })
        default: self = .null
        }
    }

    private static func quoted(_ string: String) -> String {
        let array = String(decoding: MockJSON.encode([string]), as: UTF8.self)
        return String(array.dropFirst().dropLast())
    }
}

/// The smallest JSON value that validates against a JSON Schema (the subset tools and
/// structured outputs use), for forced tool calls and `json_schema` answers:
///
/// - `$ref` (`#/…` pointers into the root schema), then `const`, then the first `enum`
///   value; `anyOf` / `oneOf`: the first branch; `allOf`: object branches merged;
/// - `type` (the first non-`null` one of a list; inferred from `properties` / `items`);
/// - objects: every `required` property in order, plus `location` when the schema
///   declares it, or `{"location": <sample>}` for an object schema that declares no
///   properties (the mock's traditional arguments);
/// - arrays: `minItems` items (none by default);
/// - strings: the `format`'s example (`date-time`, `date`, `time`, `email`, `uri`, `uuid`)
///   or `sample`, padded to `minLength` and cut to `maxLength`;
/// - numbers and integers: `minimum` (or just above `exclusiveMinimum`), else 0, kept
///   under `maximum`; booleans: `false`.
enum MockSchemaInstance {
    static func instance(of schema: Any?, sample: String) -> MockJSONValue {
        Generator(root: schema, sample: sample).value(schema, depth: 0)
    }

    private struct Generator {
        var root: Any?
        var sample: String

        func value(_ raw: Any?, depth: Int) -> MockJSONValue {
            guard depth < 32, var schema = raw as? [String: Any] else { return .string(sample) }
            if let reference = schema["$ref"] as? String {
                return value(resolve(reference), depth: depth + 1)
            }
            if let constant = schema["const"] { return MockJSONValue(constant) }
            if let choices = schema["enum"] as? [Any], let first = choices.first { return MockJSONValue(first) }
            for key in ["anyOf", "oneOf"] {
                if let branches = schema[key] as? [Any], !branches.isEmpty {
                    let typed = branches.first { (($0 as? [String: Any])?["type"] as? String) != "null" } ?? branches[0]
                    return value(typed, depth: depth + 1)
                }
            }
            if let branches = schema["allOf"] as? [Any] {
                schema = merged(schema, branches)
            }
            switch type(of: schema) {
            case "object": return object(schema, depth: depth)
            case "array":
                let count = max(0, schema["minItems"] as? Int ?? 0)
                return .array((0..<count).map { _ in value(schema["items"], depth: depth + 1) })
            case "integer": return .integer(Int(number(schema)))
            case "number": return .number(number(schema))
            case "boolean": return .bool(false)
            case "null": return .null
            default: return .string(string(schema))
            }
        }

        private func type(of schema: [String: Any]) -> String {
            if let type = schema["type"] as? String { return type }
            if let types = schema["type"] as? [Any] {
                return types.compactMap { $0 as? String }.first { $0 != "null" } ?? "null"
            }
            if schema["properties"] != nil || schema["required"] != nil { return "object" }
            if schema["items"] != nil { return "array" }
            return "string"
        }

        private func object(_ schema: [String: Any], depth: Int) -> MockJSONValue {
            let properties = schema["properties"] as? [String: Any]
            var keys = (schema["required"] as? [Any] ?? []).compactMap { $0 as? String }
            if let properties {
                if properties["location"] != nil, !keys.contains("location") { keys.insert("location", at: 0) }
            } else if (schema["additionalProperties"] as? Bool) != false, !keys.contains("location") {
                keys.insert("location", at: 0)
            }
            var seen = Set<String>()
            let members = keys.filter { seen.insert($0).inserted }.map { key in
                MockJSONValue.Member(key: key, value: value(properties?[key], depth: depth + 1))
            }
            return .object(members)
        }

        private func string(_ schema: [String: Any]) -> String {
            var text = switch schema["format"] as? String {
            case "date-time": "2024-01-01T00:00:00Z"
            case "date": "2024-01-01"
            case "time": "00:00:00"
            case "email": "mock@example.com"
            case "uri", "url": "https://example.com"
            case "uuid": "00000000-0000-4000-8000-000000000000"
            default: sample
            }
            if let minimum = schema["minLength"] as? Int, text.count < minimum {
                text += String(repeating: "x", count: minimum - text.count)
            }
            if let maximum = schema["maxLength"] as? Int, text.count > maximum {
                text = String(text.prefix(max(0, maximum)))
            }
            return text
        }

        private func number(_ schema: [String: Any]) -> Double {
            var result = 0.0
            if let minimum = schema["minimum"] as? Double { result = minimum }
            if let exclusive = schema["exclusiveMinimum"] as? Double, result <= exclusive { result = exclusive + 1 }
            if let maximum = schema["maximum"] as? Double, result > maximum { result = maximum }
            if let exclusive = schema["exclusiveMaximum"] as? Double, result >= exclusive { result = exclusive - 1 }
            return result.rounded(.up)
        }

        private func merged(_ schema: [String: Any], _ branches: [Any]) -> [String: Any] {
            var result = schema
            result["allOf"] = nil
            var properties = result["properties"] as? [String: Any] ?? [:]
            var required = result["required"] as? [Any] ?? []
            let resolved = branches.map { branch -> Any? in
                guard let reference = (branch as? [String: Any])?["$ref"] as? String else { return branch }
                return resolve(reference)
            }
            for case let branch as [String: Any] in resolved {
                properties.merge(branch["properties"] as? [String: Any] ?? [:]) { current, _ in current }
                required += branch["required"] as? [Any] ?? []
                if result["type"] == nil, let type = branch["type"] { result["type"] = type }
            }
            if !properties.isEmpty { result["properties"] = properties }
            if !required.isEmpty { result["required"] = required }
            return result
        }

        /// A `#/a/b` JSON pointer into the root schema.
        private func resolve(_ reference: String) -> Any? {
            guard reference.hasPrefix("#") else { return nil }
            var node = root
            for part in reference.dropFirst().split(separator: "/") {
                let key = part.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
                if let object = node as? [String: Any] {
                    node = object[key]
                } else if let list = node as? [Any], let index = Int(key), list.indices.contains(index) {
                    node = list[index]
                } else {
                    return nil
                }
            }
            return node
        }
    }
}
