/// Prices per million tokens, in US dollars: the defaults for well-known models and the
/// overrides of `prices:` in the config.
public struct ModelPrice: Sendable, Equatable {
    public var input: Double
    public var output: Double
    /// Prompt tokens served from the provider's cache (`nil`: charged as input).
    public var cachedInput: Double?
    /// Prompt tokens written to a 5-minute cache (`nil`: 1.25 × input, Anthropic's and
    /// Bedrock's published multiplier; providers that charge no writes report none).
    public var cacheWrite: Double?
    /// Prompt tokens written to a 1-hour cache (`nil`: 2 × input, as Anthropic publishes).
    public var cacheWrite1h: Double?
    /// Reasoning output tokens (`nil`: charged as output, as every provider does today).
    public var reasoning: Double?

    public init(input: Double, output: Double, cachedInput: Double? = nil, cacheWrite: Double? = nil,
                cacheWrite1h: Double? = nil, reasoning: Double? = nil) {
        self.input = input
        self.output = output
        self.cachedInput = cachedInput
        self.cacheWrite = cacheWrite
        self.cacheWrite1h = cacheWrite1h
        self.reasoning = reasoning
    }

    /// The cost of `usage` in nano-dollars (10⁻⁹ USD): a price per million tokens is
    /// exactly a thousand nano-dollars per token per dollar. Each part of the prompt and of
    /// the output is charged at its own price.
    public func costNanos(_ usage: TokenUsage) -> Int64 {
        let prompt = max(usage.prompt, 0)
        let cached = min(max(usage.cached, 0), prompt)
        let write = min(max(usage.cacheWrite, 0), prompt - cached)
        let write1h = min(max(usage.cacheWrite1h, 0), prompt - cached - write)
        let plain = prompt - cached - write - write1h
        let reasoningTokens = min(max(usage.reasoning, 0), max(usage.completion, 0))
        let perToken = Double(plain) * input + Double(cached) * (cachedInput ?? input)
            + Double(write) * (cacheWrite ?? input * 1.25) + Double(write1h) * (cacheWrite1h ?? input * 2)
            + Double(max(usage.completion, 0) - reasoningTokens) * output + Double(reasoningTokens) * (reasoning ?? output)
        // Bounded, so an absurd configured price times a huge (clamped) count cannot trap.
        let nanos = (perToken * 1000).rounded(.up)
        return nanos.isNaN ? 0 : Int64(min(max(nanos, 0), Self.maxNanos))
    }

    /// The most one call can cost, in nano-dollars (2^62, about 4.6 billion dollars).
    static let maxNanos = Double(Int64.max / 2)
}

/// Looks up a provider model's price: `provider/model` in the config first, else the
/// longest matching name prefix among the config's `model` entries and the defaults (so a
/// dated model such as `gpt-4o-mini-2024-07-18` gets `gpt-4o-mini`'s price, not
/// `gpt-4o`'s; on equal length the config wins). Region and vendor prefixes of Bedrock
/// model ids (`us.anthropic.`) are ignored.
public struct PriceTable: Sendable {
    /// `prices:` of the config, by `model` or `provider/model`.
    public var overrides: [String: ModelPrice]

    public init(overrides: [String: ModelPrice] = [:]) {
        self.overrides = overrides
    }

    public func price(provider: String, model: String) -> ModelPrice? {
        if let found = Self.longestPrefix(of: provider + "/" + model, in: overrides) { return found.price }
        let bare = Self.bareModel(model)
        let candidates = [Self.longestPrefix(of: model, in: overrides), Self.longestPrefix(of: bare, in: overrides),
                          Self.longestPrefix(of: bare, in: Self.defaults)].compactMap { $0 }
        // The most specific name wins; on a tie, the config's (listed first) wins.
        return candidates.max { $0.length < $1.length }.map { best in
            candidates.first { $0.length == best.length }!.price
        }
    }

    /// `us.anthropic.claude-3-5-sonnet-…` → `claude-3-5-sonnet-…`: leading all-letter
    /// segments that end in a dot are a region or vendor.
    static func bareModel(_ model: String) -> String {
        var rest = Substring(model)
        while let dot = rest.firstIndex(of: "."), dot > rest.startIndex, rest[..<dot].allSatisfy({ $0.isLetter }) {
            rest = rest[rest.index(after: dot)...]
        }
        return String(rest)
    }

    private static func longestPrefix(of name: String, in table: [String: ModelPrice]) -> (length: Int, price: ModelPrice)? {
        if let exact = table[name] { return (name.count, exact) }
        var best: (length: Int, price: ModelPrice)?
        for (key, price) in table where name.hasPrefix(key) && key.count > (best?.length ?? 0) {
            let next = name.dropFirst(key.count).first
            // `gpt-4` must not price `gpt-4o`: a prefix ends where the name does or at a separator.
            guard next == "-" || next == ":" || next == "@" || next == "." else { continue }
            best = (key.count, price)
        }
        return best
    }

    /// List prices (USD per million tokens) of well-known models, as published by their
    /// providers; override them in `prices:` when your contract differs.
    public static let defaults: [String: ModelPrice] = [
        "gpt-4o": ModelPrice(input: 2.50, output: 10.00, cachedInput: 1.25),
        "gpt-4o-mini": ModelPrice(input: 0.15, output: 0.60, cachedInput: 0.075),
        "gpt-4.1": ModelPrice(input: 2.00, output: 8.00, cachedInput: 0.50),
        "gpt-4.1-mini": ModelPrice(input: 0.40, output: 1.60, cachedInput: 0.10),
        "gpt-4.1-nano": ModelPrice(input: 0.10, output: 0.40, cachedInput: 0.025),
        "gpt-4-turbo": ModelPrice(input: 10.00, output: 30.00),
        "gpt-4": ModelPrice(input: 30.00, output: 60.00),
        "gpt-3.5-turbo": ModelPrice(input: 0.50, output: 1.50),
        "o1": ModelPrice(input: 15.00, output: 60.00, cachedInput: 7.50),
        "o3": ModelPrice(input: 2.00, output: 8.00, cachedInput: 0.50),
        "o3-mini": ModelPrice(input: 1.10, output: 4.40, cachedInput: 0.55),
        "o4-mini": ModelPrice(input: 1.10, output: 4.40, cachedInput: 0.275),
        "text-embedding-3-small": ModelPrice(input: 0.02, output: 0),
        "text-embedding-3-large": ModelPrice(input: 0.13, output: 0),
        "text-embedding-ada-002": ModelPrice(input: 0.10, output: 0),
        "gpt-5": ModelPrice(input: 1.25, output: 10.00, cachedInput: 0.125),
        "gpt-5-mini": ModelPrice(input: 0.25, output: 2.00, cachedInput: 0.025),
        "gpt-5-nano": ModelPrice(input: 0.05, output: 0.40, cachedInput: 0.005),
        "claude-opus-4": ModelPrice(input: 15.00, output: 75.00, cachedInput: 1.50),
        "claude-opus-4-5": ModelPrice(input: 5.00, output: 25.00, cachedInput: 0.50),
        "claude-haiku-4-5": ModelPrice(input: 1.00, output: 5.00, cachedInput: 0.10),
        "claude-sonnet-4": ModelPrice(input: 3.00, output: 15.00, cachedInput: 0.30),
        "claude-3-7-sonnet": ModelPrice(input: 3.00, output: 15.00, cachedInput: 0.30),
        "claude-3-5-sonnet": ModelPrice(input: 3.00, output: 15.00, cachedInput: 0.30),
        "claude-3-5-haiku": ModelPrice(input: 0.80, output: 4.00, cachedInput: 0.08),
        "claude-3-opus": ModelPrice(input: 15.00, output: 75.00, cachedInput: 1.50),
        "claude-3-haiku": ModelPrice(input: 0.25, output: 1.25, cachedInput: 0.03),
        "titan-embed-text": ModelPrice(input: 0.02, output: 0),
        "embed-english": ModelPrice(input: 0.10, output: 0),
        "embed-multilingual": ModelPrice(input: 0.10, output: 0),
    ]
}
