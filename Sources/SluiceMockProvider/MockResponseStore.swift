import Foundation
import Synchronization

/// The Responses API's stored responses (`store` not false), in memory, cleared by
/// `POST /_mock/reset`.
///
/// Each response belongs to the API key that created it (the `Authorization: Bearer`
/// token, or Azure's `api-key`; `""` without one), as a real one belongs to its OpenAI
/// project: asked for with another key, it does not exist. Entries keep JSON text, so
/// the store holds only `Sendable` values.
final class MockResponseStore: Sendable {
    struct Entry: Sendable {
        /// The API key that created the response.
        var owner: String
        /// The Response object as the create call answered it.
        var response: Data
        /// The request's own input items, as `input_items` lists them (a JSON array).
        var inputItems: Data
        /// Every item the model saw: the previous response's context and output, then
        /// this request's input (a JSON array).
        var context: Data
        /// The response's output items (a JSON array).
        var output: Data
        /// Created with `background: true`, so `cancel` applies to it.
        var background: Bool

        var responseObject: [String: Any] { Self.decode(response) as? [String: Any] ?? [:] }
        var inputItemList: [[String: Any]] { Self.decode(inputItems) as? [[String: Any]] ?? [] }
        /// The items a response that continues this one starts from.
        var continuation: [[String: Any]] {
            (Self.decode(context) as? [[String: Any]] ?? []) + (Self.decode(output) as? [[String: Any]] ?? [])
        }

        private static func decode(_ data: Data) -> Any? {
            try? JSONSerialization.jsonObject(with: data)
        }
    }

    private let entries = Mutex<[String: Entry]>([:])

    func save(_ entry: Entry, id: String) {
        entries.withLock { $0[id] = entry }
    }

    /// The response `id` if `owner` created it.
    func entry(id: String, owner: String) -> Entry? {
        entries.withLock { $0[id] }.flatMap { $0.owner == owner ? $0 : nil }
    }

    /// Deletes the response `id` if `owner` created it; `false` when there is none.
    func delete(id: String, owner: String) -> Bool {
        entries.withLock {
            guard $0[id]?.owner == owner else { return false }
            $0[id] = nil
            return true
        }
    }

    func reset() {
        entries.withLock { $0 = [:] }
    }
}
