/// Tokens one call used, as OpenAI reports them (`usage.prompt_tokens`, `completion_tokens`).
public struct TokenUsage: Sendable, Equatable {
    public var prompt: Int
    public var completion: Int

    public init(prompt: Int, completion: Int) {
        self.prompt = prompt
        self.completion = completion
    }

    public var total: Int { prompt + completion }

    /// The `usage` object of an OpenAI-shaped JSON body (a response or one stream chunk);
    /// `nil` when the body has none (or `usage: null`).
    public static func openAI(in body: [UInt8]) -> TokenUsage? {
        guard let members = try? JSONScanner.topLevelMembers(of: body),
              let usage = members.first(where: { $0.key == "usage" }), usage.kind == .object else { return nil }
        var prompt: Int?
        var completion: Int?
        for member in JSONScanner.members(of: usage.range, in: body) where member.kind == .number {
            let value = Int(String(decoding: body[member.range], as: UTF8.self))
            switch member.key {
            case "prompt_tokens", "input_tokens": prompt = value
            case "completion_tokens", "output_tokens": completion = value
            default: break
            }
        }
        guard prompt != nil || completion != nil else { return nil }
        return TokenUsage(prompt: prompt ?? 0, completion: completion ?? 0)
    }

    /// A rough count for text the provider did not count: about four bytes per token.
    public static func estimate(bytes: Int) -> Int { bytes <= 0 ? 0 : max(1, (bytes + 3) / 4) }
}
