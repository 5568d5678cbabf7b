import Foundation
import SluiceCore

/// A Bedrock Converse answer as an OpenAI `chat.completion`
/// (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html#API_runtime_Converse_ResponseSyntax).
enum BedrockConverseResponse {
    static func chatCompletion(from body: [UInt8], model: String, structured: Bool = false) throws(GatewayError) -> [UInt8] {
        guard let answer = JSONOutput.object(body),
              let message = (answer["output"] as? [String: Any])?["message"] as? [String: Any],
              let content = message["content"] as? [[String: Any]] else {
            throw GatewayError(.upstreamError, "Amazon Bedrock answered with a body that is not a Converse response.")
        }
        var text = ""
        var reasoning = ""
        var toolCalls: [[String: Any]] = []
        var thinkingBlocks: [[String: Any]] = []
        var structuredAnswer = false
        for block in content {
            if let piece = block["text"] as? String { text += piece }
            if let reasoningContent = block["reasoningContent"] as? [String: Any] {
                if let reasoningText = reasoningContent["reasoningText"] as? [String: Any] {
                    let piece = reasoningText["text"] as? String ?? ""
                    reasoning += piece
                    var thinking: [String: Any] = ["type": "thinking", "thinking": piece]
                    if let signature = reasoningText["signature"] as? String { thinking["signature"] = signature }
                    thinkingBlocks.append(thinking)
                } else if let redacted = reasoningContent["redactedContent"] as? String {
                    thinkingBlocks.append(["type": "redacted_thinking", "data": redacted])
                }
            }
            if let use = block["toolUse"] as? [String: Any], structured, use["name"] as? String == StructuredOutputTool.name {
                text = JSONOutput.text(use["input"] ?? [String: Any]())
                structuredAnswer = true
            } else if let use = block["toolUse"] as? [String: Any] {
                toolCalls.append(["id": use["toolUseId"] as? String ?? "", "type": "function",
                                  "function": ["name": use["name"] as? String ?? "",
                                               "arguments": JSONOutput.text(use["input"] ?? [String: Any]())]])
            }
        }
        var reply: [String: Any] = ["role": "assistant", "content": text.isEmpty && !toolCalls.isEmpty ? NSNull() : text]
        if !toolCalls.isEmpty { reply["tool_calls"] = toolCalls }
        if !reasoning.isEmpty { reply["reasoning_content"] = reasoning }
        if !thinkingBlocks.isEmpty { reply["thinking_blocks"] = thinkingBlocks }
        // OpenAI's schema requires `refusal` (null when the model did not refuse).
        reply["refusal"] = NSNull()
        let finish = structuredAnswer && toolCalls.isEmpty ? "stop" : finishReason(answer["stopReason"] as? String)
        var completion: [String: Any] = [
            "id": BedrockIDs.completionID(), "object": "chat.completion", "created": BedrockIDs.now(), "model": model,
            "choices": [["index": 0, "message": reply, "logprobs": NSNull(), "finish_reason": finish]],
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
/// Cache writes, which OpenAI's usage has no field for, are added as Anthropic names them
/// (`cache_creation_input_tokens`), as for the Anthropic provider.
struct BedrockUsage {
    var prompt: Int
    var completion: Int
    var cached: Int?
    var cacheWrite: Int?
    /// The part of `cacheWrite` with the 1-hour lifetime (`cacheDetails`, by ttl).
    var cacheWrite1h = 0

    init?(_ usage: [String: Any]) {
        // Counts are clamped (`TokenUsage.count`) before they are added up: Foundation
        // reads `1e300` as a number whose `intValue` is Int.min.
        func count(_ key: String) -> Int? { (usage[key] as? NSNumber).map { TokenUsage.count($0.intValue) } }
        guard let input = count("inputTokens"), let output = count("outputTokens") else { return nil }
        let cacheRead = count("cacheReadInputTokens")
        let cacheWrite = count("cacheWriteInputTokens")
        // `totalTokens` counts every input token, cached ones included, when it is given.
        let total = count("totalTokens") ?? input + output + (cacheRead ?? 0) + (cacheWrite ?? 0)
        prompt = max(input + (cacheRead ?? 0) + (cacheWrite ?? 0), total - output)
        completion = output
        cached = cacheRead
        self.cacheWrite = cacheWrite
        for detail in usage["cacheDetails"] as? [[String: Any]] ?? [] where detail["ttl"] as? String == "1h" {
            cacheWrite1h += (detail["inputTokens"] as? NSNumber).map { TokenUsage.count($0.intValue) } ?? 0
        }
        cacheWrite1h = min(cacheWrite1h, cacheWrite ?? 0)
    }

    var tokenUsage: TokenUsage {
        TokenUsage(prompt: prompt, completion: completion, cached: cached ?? 0, cacheWrite: (cacheWrite ?? 0) - cacheWrite1h,
                   cacheWrite1h: cacheWrite1h)
    }

    /// OpenAI's `usage` object.
    var openAI: [String: Any] {
        var out: [String: Any] = ["prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion]
        if let cached { out["prompt_tokens_details"] = ["cached_tokens": cached] }
        if let cacheWrite, cacheWrite > 0 {
            out["cache_creation_input_tokens"] = cacheWrite
            out["cache_creation"] = ["ephemeral_5m_input_tokens": (cacheWrite ?? 0) - cacheWrite1h,
                                     "ephemeral_1h_input_tokens": cacheWrite1h]
        }
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
