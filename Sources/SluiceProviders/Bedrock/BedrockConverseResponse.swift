import Foundation
import SluiceCore

/// A Bedrock Converse answer as an OpenAI `chat.completion`
/// (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html#API_runtime_Converse_ResponseSyntax).
enum BedrockConverseResponse {
    static func chatCompletion(from body: [UInt8], model: String) throws(GatewayError) -> [UInt8] {
        guard let answer = JSONOutput.object(body),
              let message = (answer["output"] as? [String: Any])?["message"] as? [String: Any],
              let content = message["content"] as? [[String: Any]] else {
            throw GatewayError(.upstreamError, "Amazon Bedrock answered with a body that is not a Converse response.")
        }
        var text = ""
        var reasoning = ""
        var toolCalls: [[String: Any]] = []
        for block in content {
            if let piece = block["text"] as? String { text += piece }
            if let piece = ((block["reasoningContent"] as? [String: Any])?["reasoningText"] as? [String: Any])?["text"] as? String {
                reasoning += piece
            }
            if let use = block["toolUse"] as? [String: Any] {
                toolCalls.append(["id": use["toolUseId"] as? String ?? "", "type": "function",
                                  "function": ["name": use["name"] as? String ?? "",
                                               "arguments": JSONOutput.text(use["input"] ?? [String: Any]())]])
            }
        }
        var reply: [String: Any] = ["role": "assistant", "content": text.isEmpty && !toolCalls.isEmpty ? NSNull() : text]
        if !toolCalls.isEmpty { reply["tool_calls"] = toolCalls }
        if !reasoning.isEmpty { reply["reasoning_content"] = reasoning }
        var completion: [String: Any] = [
            "id": BedrockIDs.completionID(), "object": "chat.completion", "created": BedrockIDs.now(), "model": model,
            "choices": [["index": 0, "message": reply, "logprobs": NSNull(),
                         "finish_reason": finishReason(answer["stopReason"] as? String)]],
        ]
        if let usage = (answer["usage"] as? [String: Any]).flatMap(BedrockUsage.init) { completion["usage"] = usage.openAI }
        do {
            return try JSONOutput.bytes(completion)
        } catch {
            throw GatewayError(.upstreamError, "Amazon Bedrock's answer could not be translated.")
        }
    }

    /// Converse `stopReason` → OpenAI `finish_reason`.
    static func finishReason(_ stopReason: String?) -> String {
        switch stopReason {
        case "max_tokens", "model_context_window_exceeded": return "length"
        case "tool_use": return "tool_calls"
        case "guardrail_intervened", "content_filtered": return "content_filter"
        default: return "stop"  // end_turn, stop_sequence, and anything new
        }
    }
}

/// Converse `usage` (`inputTokens`, `outputTokens`, `totalTokens`, `cacheReadInputTokens`,
/// `cacheWriteInputTokens`) in OpenAI's terms: prompt tokens include the cached ones.
struct BedrockUsage {
    var prompt: Int
    var completion: Int
    var cached: Int?

    init?(_ usage: [String: Any]) {
        guard let input = (usage["inputTokens"] as? NSNumber)?.intValue,
              let output = (usage["outputTokens"] as? NSNumber)?.intValue else { return nil }
        let cacheRead = (usage["cacheReadInputTokens"] as? NSNumber)?.intValue
        let cacheWrite = (usage["cacheWriteInputTokens"] as? NSNumber)?.intValue ?? 0
        // `totalTokens` counts every input token, cached ones included, when it is given.
        let total = (usage["totalTokens"] as? NSNumber)?.intValue ?? input + output + (cacheRead ?? 0) + cacheWrite
        prompt = max(input, total - output)
        completion = output
        cached = cacheRead
    }

    var tokenUsage: TokenUsage { TokenUsage(prompt: prompt, completion: completion) }

    /// OpenAI's `usage` object.
    var openAI: [String: Any] {
        var out: [String: Any] = ["prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion]
        if let cached { out["prompt_tokens_details"] = ["cached_tokens": cached] }
        return out
    }
}

/// Ids and timestamps of translated answers (Bedrock's bodies carry neither).
enum BedrockIDs {
    /// `chatcmpl-` and 24 random hex digits.
    static func completionID() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return "chatcmpl-" + String((0..<24).map { _ in digits[Int(generator.next() % 16)] })
    }

    /// Seconds since 1970.
    static func now() -> Int { Int(Date().timeIntervalSince1970) }
}
