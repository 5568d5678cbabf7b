import SluiceCore

/// A parsed JSON value, for the providers whose bodies must be re-shaped rather than
/// passed through (Anthropic). Objects keep their member order and numbers keep their
/// text, so a value re-encodes to the same JSON up to whitespace: `0.7` stays `0.7`
/// and `12` never becomes `12.0`.
enum JSONValue: Sendable {
    case object(JSONObject)
    case array([JSONValue])
    case string(String)
    /// The number exactly as written.
    case number(String)
    case bool(Bool)
    case null

    /// `bytes` as a JSON object (validated by `JSONScanner`), or `nil` if they are not one.
    static func parseObject(_ bytes: [UInt8]) -> JSONObject? {
        guard let members = try? JSONScanner.topLevelMembers(of: bytes) else { return nil }
        return JSONObject(members.map { ($0.key, value(kind: $0.kind, range: $0.range, in: bytes)) })
    }

    /// The text of a JSON object, or `nil` if it is not one.
    static func parseObject(_ text: String) -> JSONObject? { parseObject(Array(text.utf8)) }

    private static func value(kind: JSONScanner.Kind, range: Range<Int>, in bytes: [UInt8]) -> JSONValue {
        switch kind {
        case .object:
            return .object(JSONObject(JSONScanner.members(of: range, in: bytes).map {
                ($0.key, value(kind: $0.kind, range: $0.range, in: bytes))
            }))
        case .array:
            return .array(JSONScanner.elements(of: range, in: bytes).map { value(kind: $0.kind, range: $0.range, in: bytes) })
        case .string: return .string(JSONScanner.decodeString(at: range, in: bytes))
        case .number: return .number(String(decoding: bytes[range], as: UTF8.self))
        case .bool: return .bool(bytes[range.lowerBound] == UInt8(ascii: "t"))
        case .null: return .null
        }
    }

    /// An integer as a JSON number.
    static func int(_ value: Int) -> JSONValue { .number(String(value)) }

    // MARK: Reading

    var objectValue: JSONObject? { if case .object(let object) = self { return object } else { return nil } }
    var arrayValue: [JSONValue]? { if case .array(let array) = self { return array } else { return nil } }
    var stringValue: String? { if case .string(let string) = self { return string } else { return nil } }
    var boolValue: Bool? { if case .bool(let bool) = self { return bool } else { return nil } }
    var isNull: Bool { if case .null = self { return true } else { return false } }

    /// An integral number (`12`, `12.0`, `1.2e1`), or `nil`.
    /// A number's value as a `Double`.
    var number: Double? { if case .number(let text) = self { return Double(text) } else { return nil } }
    var intValue: Int? {
        guard case .number(let text) = self else { return nil }
        if let int = Int(text) { return int }
        guard let double = Double(text), double == double.rounded(), abs(double) < 9e15 else { return nil }
        return Int(double)
    }

    /// A token count: an integral number clamped by `TokenUsage.count`, or `nil`.
    var tokenCount: Int? { intValue.map(TokenUsage.count) }

    /// The member `key` of an object value.
    subscript(key: String) -> JSONValue? { objectValue?[key] }

    /// The JSON kind's name, for error messages.
    var kindName: String {
        switch self {
        case .object: return "object"
        case .array: return "array"
        case .string: return "string"
        case .number: return "number"
        case .bool: return "boolean"
        case .null: return "null"
        }
    }

    // MARK: Writing

    /// Compact JSON text.
    var encoded: String {
        var out = ""
        append(to: &out)
        return out
    }

    func append(to out: inout String) {
        switch self {
        case .object(let object): object.append(to: &out)
        case .array(let array):
            out.append("[")
            for (index, element) in array.enumerated() {
                if index > 0 { out.append(",") }
                element.append(to: &out)
            }
            out.append("]")
        case .string(let string): JSONText.appendString(string, to: &out)
        case .number(let text): out.append(text)
        case .bool(let bool): out.append(bool ? "true" : "false")
        case .null: out.append("null")
        }
    }
}

/// A JSON object whose members keep their order (first member wins on lookup, as in
/// `JSONScanner`'s readers).
struct JSONObject: Sendable {
    private(set) var members: [(key: String, value: JSONValue)]

    init(_ members: [(key: String, value: JSONValue)] = []) {
        self.members = members
    }

    /// The member's value; setting replaces it in place (or appends it), `nil` removes it.
    subscript(key: String) -> JSONValue? {
        get { members.first { $0.key == key }?.value }
        set {
            guard let newValue else {
                members.removeAll { $0.key == key }
                return
            }
            if let index = members.firstIndex(where: { $0.key == key }) {
                members[index].value = newValue
                // A duplicated key (legal JSON, ambiguous meaning) keeps only the new value.
                let later = members[(index + 1)...].filter { $0.key != key }
                members.replaceSubrange((index + 1)..., with: later)
            } else {
                members.append((key, newValue))
            }
        }
    }

    var isEmpty: Bool { members.isEmpty }

    /// Compact JSON text.
    var encoded: String {
        var out = ""
        append(to: &out)
        return out
    }

    /// The compact JSON text as bytes.
    var bytes: [UInt8] { Array(encoded.utf8) }

    func append(to out: inout String) {
        out.append("{")
        for (index, member) in members.enumerated() {
            if index > 0 { out.append(",") }
            JSONText.appendString(member.key, to: &out)
            out.append(":")
            member.value.append(to: &out)
        }
        out.append("}")
    }
}
