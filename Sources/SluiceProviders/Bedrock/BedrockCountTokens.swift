import Foundation
import SluiceCore

/// Bedrock's `CountTokens` operation for Anthropic's `POST /v1/messages/count_tokens`
/// (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_CountTokens.html):
/// the request is `{"input": {"converse": {messages, system, toolConfig, …}}}` — the
/// Converse body the same Messages request would be sent as, less `inferenceConfig` —
/// and the answer `{"inputTokens": N}` becomes `{"input_tokens": N}`.
enum BedrockCountTokens {
    static func body(forMessages request: APIRequest) throws(GatewayError) -> [UInt8] {
        let chat = try APIRequest(operation: .chatCompletions,
                                  body: MessagesRequestBody.make(from: request.body, for: .anthropicFeatures, counting: true))
        let converse = try BedrockConverseRequest.body(for: chat, params: [])
        guard var object = JSONOutput.object(converse) else {
            throw GatewayError(.internalError, "The Converse body could not be read back.")
        }
        // CountTokens' ConverseTokensRequest has messages, system, toolConfig and
        // additionalModelRequestFields only.
        for key in object.keys where !["messages", "system", "toolConfig", "additionalModelRequestFields"].contains(key) {
            object[key] = nil
        }
        do {
            return try JSONOutput.bytes(["input": ["converse": object]])
        } catch {
            throw GatewayError(.internalError, "The CountTokens body could not be written.")
        }
    }

    static func clientBody(from body: [UInt8]) throws(GatewayError) -> [UInt8] {
        guard let answer = JSONOutput.object(body), let tokens = (answer["inputTokens"] as? NSNumber)?.intValue else {
            throw GatewayError(.upstreamError, "Amazon Bedrock answered CountTokens with a body that is not a count.")
        }
        return Array("{\"input_tokens\":\(tokens)}".utf8)
    }
}
