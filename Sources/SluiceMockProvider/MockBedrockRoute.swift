import Foundation

/// A Bedrock Runtime request target, `/model/{modelId}/{operation}`, as botocore sends it:
/// the model id is one percent-encoded path segment (`anthropic.claude-3-5-sonnet-20240620-v1%3A0`,
/// an ARN's `/` as `%2F`, a fault suffix's `@`, `=` and `,` as `%40`, `%3D`, `%2C`).
struct MockBedrockRoute: Equatable {
    enum Operation: String {
        case converse
        case converseStream = "converse-stream"
        case invoke
        case countTokens = "count-tokens"
    }

    /// The model id, percent-decoded, fault suffix included.
    var modelID: String
    /// `nil` for an operation the mock does not serve (such as `invoke-with-response-stream`).
    var operation: Operation?

    /// The route of `path` (the target without its query), or `nil` when it is not under
    /// `/model/` or its model id is not one encoded segment.
    init?(path: String) {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        guard segments.count == 4, segments[0].isEmpty, segments[1] == "model", !segments[2].isEmpty,
              let modelID = String(segments[2]).removingPercentEncoding, !modelID.isEmpty else { return nil }
        self.modelID = modelID
        self.operation = Operation(rawValue: String(segments[3]))
    }
}
