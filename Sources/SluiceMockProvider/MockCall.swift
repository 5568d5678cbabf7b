import Foundation

/// What every generator needs besides the request body.
struct MockCall: Sendable {
    /// A number unique to this request, for ids.
    var serial: Int
    /// Unix seconds, the same in every chunk of a stream.
    var created: Int
    /// The model name without its `@faults` suffix; responses echo it.
    var model: String
    var faults: MockFaults

    static let systemFingerprint = "fp_mock"

    /// OpenAI's `usage` object.
    static func usage(prompt: Int, completion: Int) -> [String: Any] {
        ["prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion]
    }
}

/// Reading typed parameters out of a request body, with OpenAI's 400s for wrong types.
extension Dictionary where Key == String, Value == Any {
    func optionalBool(_ key: String) throws(MockAPIError) -> Bool? {
        guard let value = self[key], !(value is NSNull) else { return nil }
        guard let bool = value as? Bool else { throw .invalidType(key, expected: "a boolean") }
        return bool
    }

    /// An integer of at least `minimum`, or `nil` when absent or null.
    func optionalInt(_ key: String, minimum: Int) throws(MockAPIError) -> Int? {
        guard let value = self[key], !(value is NSNull) else { return nil }
        guard let int = value as? Int else { throw .invalidType(key, expected: "an integer") }
        guard int >= minimum else {
            throw .invalidValue(key, "expected a value of at least \(minimum), got \(int).")
        }
        return int
    }

    /// `stream_options.include_usage`, which OpenAI allows only with `stream: true`.
    func includeUsage(streaming: Bool) throws(MockAPIError) -> Bool {
        guard let value = self["stream_options"], !(value is NSNull) else { return false }
        guard streaming else {
            throw .invalidRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                                  param: "stream_options")
        }
        guard let options = value as? [String: Any] else {
            throw .invalidType("stream_options", expected: "an object")
        }
        return try options.optionalBool("include_usage") ?? false
    }

    /// A string, or `nil` when absent or null; `param` names it in the error.
    func optionalString(_ key: String, param: String? = nil) throws(MockAPIError) -> String? {
        guard let value = self[key], !(value is NSNull) else { return nil }
        guard let string = value as? String else { throw .invalidType(param ?? key, expected: "a string") }
        return string
    }

    /// A boolean, or `nil` when absent or null; `param` names it in the error.
    func optionalBool(_ key: String, param: String) throws(MockAPIError) -> Bool? {
        guard let value = self[key], !(value is NSNull) else { return nil }
        guard let bool = value as? Bool else { throw .invalidType(param, expected: "a boolean") }
        return bool
    }

    /// A number in `range`, or `nil` when absent or null.
    func optionalNumber(_ key: String, in range: ClosedRange<Double>) throws(MockAPIError) -> Double? {
        guard let value = self[key], !(value is NSNull) else { return nil }
        guard let number = value as? Double else { throw .invalidType(key, expected: "a number") }
        guard range.contains(number) else {
            throw .invalidValue(key, "expected a value between \(range.lowerBound) and \(range.upperBound), got \(number).")
        }
        return number
    }
}
