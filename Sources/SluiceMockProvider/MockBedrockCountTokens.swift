import Foundation

/// `POST /model/{modelId}/count-tokens` (botocore's `CountTokens`): the body is
/// `{"input": {"converse": {"messages", "system", "toolConfig", "additionalModelRequestFields"}}}`
/// or `{"input": {"invokeModel": {"body": "<base64 of an InvokeModel body>"}}}`, and the
/// answer `{"inputTokens": N}`, counted as the same request would be billed:
///
/// - `converse`: checked and counted as Converse checks and counts it
///   (``MockBedrockConverseRequest/inputTokens``, tools included);
/// - `invokeModel`: an Anthropic Messages body (`anthropic_version`, `messages`, …) counts
///   as ``MockMessagesRequest/inputTokens``; a Titan `inputText` or a `prompt` by its words.
///
/// Anything else is a `ValidationException`. The prompt cache is not touched.
enum MockBedrockCountTokens {
    /// Keys of an InvokeModel body for Anthropic that play no part in counting.
    private static let invokeOnlyFields = ["anthropic_version", "anthropic_beta", "max_tokens", "stop_sequences",
                                           "temperature", "top_p", "top_k", "stream", "metadata", "service_tier"]

    static func reply(to body: [String: Any], modelID: String) throws(MockBedrockError) -> [String: Any] {
        guard let raw = body["input"], !(raw is NSNull) else {
            throw .constraint("input", value: nil, "Member must not be null")
        }
        guard let input = raw as? [String: Any] else { throw .validation("input must be a CountTokensInput object.") }
        let set = ["converse", "invokeModel"].filter { input[$0] != nil && !(input[$0] is NSNull) }
        guard set.count == 1 else {
            throw .validation("input: a CountTokensInput must set exactly one of converse, invokeModel; "
                              + (set.isEmpty ? "it sets none." : "it sets converse, invokeModel."))
        }
        if set[0] == "converse" {
            guard let converse = input["converse"] as? [String: Any] else {
                throw .validation("input.converse must be a ConverseTokensRequest object.")
            }
            return ["inputTokens": try MockBedrockConverseRequest(body: converse).inputTokens]
        }
        guard let invoke = input["invokeModel"] as? [String: Any] else {
            throw .validation("input.invokeModel must be an InvokeModelTokensRequest object.")
        }
        guard let encoded = invoke["body"] as? String else {
            throw .constraint("input.invokeModel.body", value: nil, "Member must not be null")
        }
        guard let data = Data(base64Encoded: encoded),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .validation("input.invokeModel.body must be a base64-encoded JSON object.")
        }
        return ["inputTokens": try invokeTokens(object, modelID: modelID)]
    }

    private static func invokeTokens(_ body: [String: Any], modelID: String) throws(MockBedrockError) -> Int {
        if body["messages"] != nil {
            var messages = body
            for key in invokeOnlyFields { messages[key] = nil }
            messages["model"] = modelID
            do throws(MockAPIError) {
                return try MockMessagesRequest(body: messages, countTokens: true).inputTokens
            } catch {
                throw .validation(error.message)
            }
        }
        if let text = (body["inputText"] ?? body["prompt"]) as? String {
            return MockAnswer.words(of: text).count
        }
        throw .validation("The provided InvokeModel body is not one the mock can count: it needs messages, "
                          + "inputText or prompt.")
    }
}
