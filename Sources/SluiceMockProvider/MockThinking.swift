import Foundation

/// The mock's extended thinking, the same for Anthropic (`thinking` blocks) and Bedrock
/// (`reasoningContent` blocks).
///
/// The thinking text is `"Let me think. The user wrote: <last user text>. Echoing it
/// answers the request."`; its words count as output tokens. Its signature is
/// `base64(HMAC-SHA256(key: "sluice-mock-thinking-v1", message: UTF-8 of the text))`, so a
/// test can compute it, and the mock can check a thinking block sent back in history
/// without remembering it: a signature that is not exactly the one for the block's text
/// is refused, as Anthropic refuses a tampered one.
enum MockThinking {
    /// The HMAC key of ``signature(for:)``.
    static let signingKey = "sluice-mock-thinking-v1"

    /// The thinking the mock "does" before answering `userText`.
    static func text(about userText: String) -> String {
        let words = MockAnswer.words(of: userText).joined(separator: " ")
        return "Let me think. The user wrote: \(words). Echoing it answers the request."
    }

    /// The signature issued with thinking `text`.
    static func signature(for text: String) -> String {
        Data(MockSHA256.hmac(key: Array(signingKey.utf8), message: Array(text.utf8))).base64EncodedString()
    }

    /// Whether `signature` is the one the mock issued for `text`.
    static func isValid(_ signature: String?, for text: String) -> Bool {
        signature == Self.signature(for: text)
    }

    /// The stream pieces of `text`: each word with the space after it, concatenating to `text`.
    static func pieces(of text: String) -> [String] {
        MockAnswer.deltas(of: MockAnswer.words(of: text))
    }

    /// Anthropic's refusal of a thinking block whose signature does not verify.
    static func invalidSignature(at path: String) -> String {
        "\(path): Invalid `signature` in `thinking` block"
    }

    /// Anthropic's refusal when thinking is on and the final assistant turn calls tools
    /// without starting with a thinking block; `found` is that turn's first block type.
    static func missingThinking(at path: String, found: String) -> String {
        "\(path).type: Expected `thinking` or `redacted_thinking`, but found `\(found)`. When `thinking` is enabled, "
            + "a final `assistant` message must start with a thinking block (preceeding the lastmost set of "
            + "`tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. "
            + "To avoid this requirement, disable `thinking`. Please consult our documentation at "
            + "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
    }

    /// Checks Anthropic's `thinking` config (`{"type": "enabled", "budget_tokens": N}`,
    /// `{"type": "disabled"}`, or `{"type": "adaptive"}`); returns whether thinking is on.
    /// `maxTokens` is `nil` for count_tokens, which has none to compare with.
    static func enabled(_ raw: Any?, maxTokens: Int?) throws(MockAPIError) -> Bool {
        guard let raw, !(raw is NSNull) else { return false }
        guard let config = raw as? [String: Any] else { throw .anthropicInvalid("thinking: Input should be a valid dictionary") }
        switch config["type"] as? String {
        case "disabled": return false
        case "adaptive": return true
        case "enabled":
            guard let rawBudget = config["budget_tokens"], !(rawBudget is NSNull) else {
                throw .anthropicInvalid("thinking.enabled.budget_tokens: Field required")
            }
            guard let budget = rawBudget as? Int else {
                throw .anthropicInvalid("thinking.enabled.budget_tokens: Input should be a valid integer")
            }
            guard budget >= 1024 else {
                throw .anthropicInvalid("thinking.budget_tokens: Input should be greater than or equal to 1024")
            }
            if let maxTokens, budget >= maxTokens {
                throw .anthropicInvalid("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
                    + "documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
                    + "#max-tokens-and-context-window-size")
            }
            return true
        default:
            let tag = (config["type"] as? String).map { "'\($0)'" } ?? "none"
            throw .anthropicInvalid("thinking: Input tag \(tag) found using 'type' does not match any of the expected "
                + "tags: 'enabled', 'disabled', 'adaptive'")
        }
    }
}
