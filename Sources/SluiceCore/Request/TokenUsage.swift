/// Tokens one call used, as OpenAI reports them (`usage.prompt_tokens`, `completion_tokens`).
public struct TokenUsage: Sendable, Equatable {
    public var prompt: Int
    public var completion: Int
    /// Prompt tokens served from the provider's prompt cache (part of `prompt`).
    public var cached: Int

    public init(prompt: Int, completion: Int, cached: Int = 0) {
        self.prompt = prompt
        self.completion = completion
        self.cached = cached
    }

    public var total: Int { prompt + completion }

    /// The `usage` object of an OpenAI-shaped JSON body (a response or one stream chunk);
    /// `nil` when the body has none (or `usage: null`).
    public static func openAI(in body: [UInt8]) -> TokenUsage? {
        guard let members = try? JSONScanner.topLevelMembers(of: body),
              let usage = members.first(where: { $0.key == "usage" }), usage.kind == .object else { return nil }
        var prompt: Int?
        var completion: Int?
        var cached = 0
        for member in JSONScanner.members(of: usage.range, in: body) {
            if member.key == "prompt_tokens_details", member.kind == .object {
                for detail in JSONScanner.members(of: member.range, in: body)
                where detail.key == "cached_tokens" && detail.kind == .number {
                    cached = Int(String(decoding: body[detail.range], as: UTF8.self)) ?? 0
                }
            }
            guard member.kind == .number else { continue }
            let value = Int(String(decoding: body[member.range], as: UTF8.self))
            switch member.key {
            case "prompt_tokens", "input_tokens": prompt = value
            case "completion_tokens", "output_tokens": completion = value
            default: break
            }
        }
        guard prompt != nil || completion != nil else { return nil }
        return TokenUsage(prompt: prompt ?? 0, completion: completion ?? 0, cached: cached)
    }

    /// A rough count for text the provider did not count: about four bytes per token.
    public static func estimate(bytes: Int) -> Int { bytes <= 0 ? 0 : max(1, (bytes + 3) / 4) }
}
