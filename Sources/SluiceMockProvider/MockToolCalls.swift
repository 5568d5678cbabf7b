/// The tool calls of a tool-call answer, the same for every wire format.
///
/// Call `i` (0-based) names the `i`-th tool of the request (wrapping around when it has
/// fewer) unless a tool is forced, and has the arguments `{"location": "<city i>"}`:
/// Paris, London, Tokyo, Berlin, Madrid, Rome, Oslo, Lima. One call unless the `tools=N`
/// fault asks for more. Argument "tokens" are the words of the arguments' JSON text.
struct MockToolCalls: Sendable, Equatable {
    struct Call: Sendable, Equatable {
        var name: String
        var location: String

        /// The arguments as JSON text, as OpenAI sends them: `{"location": "Paris"}`.
        var arguments: String { #"{"location": "\#(location)"}"# }
        /// The arguments as a JSON object, as Anthropic sends them.
        var input: [String: Any] { ["location": location] }
        /// The stream's argument pieces: the words of ``arguments``, each with the space
        /// after it, so they concatenate to ``arguments``.
        var argumentDeltas: [String] { MockAnswer.deltas(of: MockAnswer.words(of: arguments)) }
    }

    static let locations = ["Paris", "London", "Tokyo", "Berlin", "Madrid", "Rome", "Oslo", "Lima"]

    var calls: [Call]

    /// `count` calls over `tools` (which must not be empty), or of `forced` alone.
    init(tools: [String], forced: String? = nil, count: Int?) {
        let names = forced.map { [$0] } ?? tools
        calls = (0..<max(1, count ?? 1)).map { index in
            Call(name: names[index % names.count], location: Self.locations[index % Self.locations.count])
        }
    }

    /// The completion tokens these calls are billed as.
    var tokens: Int {
        calls.reduce(0) { $0 + MockAnswer.words(of: $1.arguments).count }
    }
}
