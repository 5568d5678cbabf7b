import Foundation

/// JSON in and out for the mock: `JSONSerialization`, keys sorted so output is stable.
enum MockJSON {
    /// Serializes a tree of dictionaries, arrays, strings, numbers, `Bool` and `NSNull`.
    static func encode(_ object: Any) -> Data {
        // Only the mock builds these trees, from JSON-compatible values; failure is a bug here.
        guard let data = try? JSONSerialization.data(withJSONObject: object,
                                                     options: [.sortedKeys, .withoutEscapingSlashes]) else {
            preconditionFailure("mock provider built a value JSONSerialization rejects")
        }
        return data
    }

    /// The request body as a JSON object, or OpenAI's 400 for anything else.
    static func object(from body: Data) throws(MockAPIError) -> [String: Any] {
        guard let value = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]),
              let object = value as? [String: Any] else {
            throw .invalidJSON
        }
        return object
    }
}
