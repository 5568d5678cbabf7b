import Foundation
import Synchronization

/// Faults installed per model at run time with `POST /_mock/faults`, so a test can make
/// a model misbehave (and recover) without changing what the client sends:
///
/// ```json
/// {"model": "gpt-x", "fault": "status=500,retry_after=2"}   // install or replace
/// {"model": "gpt-x", "fault": ""}                           // clear
/// ```
/// `fault` has the syntax of a model suffix after `@` (see ``MockFaults``). The answer
/// is `200 {"ok": true}`; a malformed body or fault text gets OpenAI's 400.
///
/// A request's model matches an entry when it equals the entry's model exactly as the
/// client sent it (suffix included), or when it does once its `@…` suffix is removed;
/// the exact match wins. A matching entry replaces the request's suffix and `x-mock-*`
/// header faults entirely. `POST /_mock/reset` clears every entry.
final class MockRuntimeFaults: Sendable {
    private let table = Mutex<[String: MockFaults]>([:])

    /// Installs `faults` for `model`, or clears its entry when `faults` is `nil`.
    func set(_ faults: MockFaults?, for model: String) {
        table.withLock { $0[model] = faults }
    }

    /// The entry for a model as the client sent it, if any.
    func faults(for model: String) -> MockFaults? {
        let name = MockFaults.split(model: model).name
        return table.withLock { $0[model] ?? $0[name] }
    }

    func reset() {
        table.withLock { $0.removeAll() }
    }

    /// Handles the body of `POST /_mock/faults`.
    func configure(from body: Data) throws(MockAPIError) {
        let object = try MockJSON.object(from: body)
        let model = try Self.string("model", in: object)
        guard !model.isEmpty else { throw .invalidValue("model", "expected a non-empty model name.") }
        let text = try Self.string("fault", in: object).trimmingCharacters(in: .whitespaces)
        let faults: MockFaults? = if text.isEmpty { nil } else { try MockFaults.parse(text, param: "fault") }
        set(faults, for: model)
    }

    private static func string(_ key: String, in object: [String: Any]) throws(MockAPIError) -> String {
        guard let value = object[key], !(value is NSNull) else { throw .missing(key) }
        guard let string = value as? String else { throw .invalidType(key, expected: "a string") }
        return string
    }
}
