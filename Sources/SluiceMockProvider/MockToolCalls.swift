/// The tool calls of a tool-call answer, the same for every wire format.
///
/// Call `i` (0-based) names the `i`-th tool of the request (wrapping around when it has
/// fewer) unless a tool is forced. Its arguments are the minimal instance of the tool's
/// input schema (``MockSchemaInstance``) with the call's city as every free string:
/// Paris, London, Tokyo, Berlin, Madrid, Rome, Oslo, Lima. A schema that declares no
/// properties (or no schema) gives `{"location": "<city i>"}`. One call unless the
/// `tools=N` fault asks for more. Argument "tokens" are the words of the arguments' JSON text.
struct MockToolCalls: Sendable, Equatable {
    struct Call: Sendable, Equatable {
        var name: String
        var location: String
        /// The arguments, members in order.
        var value: MockJSONValue

        init(name: String, location: String, schema: Any? = nil) {
            self.name = name
            self.location = location
            value = schema.map { MockSchemaInstance.instance(of: $0, sample: location) }
                ?? .object([.init(key: "location", value: .string(location))])
        }

        /// The arguments as JSON text, as OpenAI sends them: `{"location": "Paris"}`.
        var arguments: String { value.text }
        /// The arguments as a JSON object, as Anthropic sends them.
        var input: Any { value.foundation }
        /// The stream's argument pieces: the words of ``arguments``, each with the space
        /// after it, so they concatenate to ``arguments``.
        var argumentDeltas: [String] { MockAnswer.deltas(of: MockAnswer.words(of: arguments)) }
    }

    static let locations = ["Paris", "London", "Tokyo", "Berlin", "Madrid", "Rome", "Oslo", "Lima"]

    var calls: [Call]

    /// `count` calls over `tools` (which must not be empty), or of `forced` alone; `schemas`
    /// holds each tool's input schema by name.
    init(tools: [String], forced: String? = nil, count: Int?, schemas: [String: Any] = [:]) {
        let names = forced.map { [$0] } ?? tools
        calls = (0..<max(1, count ?? 1)).map { index in
            let name = names[index % names.count]
            return Call(name: name, location: Self.locations[index % Self.locations.count], schema: schemas[name])
        }
    }

    /// The completion tokens these calls are billed as.
    var tokens: Int {
        calls.reduce(0) { $0 + MockAnswer.words(of: $1.arguments).count }
    }
}
