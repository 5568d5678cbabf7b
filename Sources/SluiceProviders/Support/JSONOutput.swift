import Foundation

/// Writing translated JSON bodies (Foundation's serializer: these bodies are built, not
/// passed through). Keys are sorted so the output is stable.
enum JSONOutput {
    static func bytes(_ object: Any) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    /// `object` as compact JSON text (tool call arguments).
    static func text(_ object: Any) -> String {
        guard JSONSerialization.isValidJSONObject([object]),
              let data = try? JSONSerialization.data(withJSONObject: [object], options: [.sortedKeys, .withoutEscapingSlashes])
        else { return "{}" }
        // Serialized inside an array so that scalars work too; strip the brackets.
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }

    /// A JSON document's bytes as an object, or `nil`.
    static func object(_ bytes: some Collection<UInt8>) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) as? [String: Any]
    }
}
