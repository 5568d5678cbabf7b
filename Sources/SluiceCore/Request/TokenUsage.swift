/// Tokens one call used, in OpenAI's terms: `prompt` counts every input token (cache
/// reads and cache writes included), `completion` every output token (reasoning included).
/// The parts say what the provider charged differently.
public struct TokenUsage: Sendable, Equatable {
    /// Every input token: uncached, read from the prompt cache, written to it.
    public var prompt: Int
    /// Every output token, reasoning included.
    public var completion: Int
    /// Prompt tokens served from the provider's prompt cache (part of `prompt`).
    public var cached: Int
    /// Prompt tokens written to the cache with the 5-minute lifetime (part of `prompt`).
    public var cacheWrite: Int
    /// Prompt tokens written to the cache with the 1-hour lifetime (part of `prompt`).
    public var cacheWrite1h: Int
    /// Output tokens spent on reasoning (part of `completion`), where the provider says.
    public var reasoning: Int

    public init(prompt: Int, completion: Int, cached: Int = 0, cacheWrite: Int = 0, cacheWrite1h: Int = 0,
                reasoning: Int = 0) {
        self.prompt = prompt
        self.completion = completion
        self.cached = cached
        self.cacheWrite = cacheWrite
        self.cacheWrite1h = cacheWrite1h
        self.reasoning = reasoning
    }

    public var total: Int { prompt + completion }

    /// Prompt tokens neither read from nor written to the cache.
    public var uncachedPrompt: Int { max(0, prompt - cached - cacheWrite - cacheWrite1h) }

    /// The `usage` object of an OpenAI-shaped JSON body (a response or one stream chunk);
    /// `nil` when the body has none (or `usage: null`). Reads `prompt_tokens_details.cached_tokens`,
    /// `completion_tokens_details.reasoning_tokens`, and the cache writes the gateway adds
    /// for providers that charge them (`cache_creation_input_tokens`, `cache_creation`).
    /// The Responses API's names (`input_tokens`, `output_tokens`, `*_details`) are read too.
    public static func openAI(in body: [UInt8]) -> TokenUsage? {
        guard let members = try? JSONScanner.topLevelMembers(of: body),
              let usage = members.first(where: { $0.key == "usage" }), usage.kind == .object else { return nil }
        return openAI(usageAt: usage.range, in: body)
    }

    /// The OpenAI-shaped `usage` object at `range` of `body`.
    public static func openAI(usageAt range: Range<Int>, in body: [UInt8]) -> TokenUsage? {
        var prompt: Int?
        var completion: Int?
        var out = TokenUsage(prompt: 0, completion: 0)
        var cacheCreation: Int?
        var creation1h: Int?
        for member in JSONScanner.members(of: range, in: body) {
            switch (member.key, member.kind) {
            case ("prompt_tokens", .number), ("input_tokens", .number): prompt = int(member.range, body)
            case ("completion_tokens", .number), ("output_tokens", .number): completion = int(member.range, body)
            case ("prompt_tokens_details", .object), ("input_tokens_details", .object):
                out.cached = number(named: "cached_tokens", in: member.range, of: body) ?? 0
            case ("completion_tokens_details", .object), ("output_tokens_details", .object):
                out.reasoning = number(named: "reasoning_tokens", in: member.range, of: body) ?? 0
            case ("cache_creation_input_tokens", .number): cacheCreation = int(member.range, body)
            case ("cache_creation", .object):
                creation1h = number(named: "ephemeral_1h_input_tokens", in: member.range, of: body)
            default: break
            }
        }
        guard prompt != nil || completion != nil else { return nil }
        out.prompt = prompt ?? 0
        out.completion = completion ?? 0
        if let cacheCreation {
            out.cacheWrite1h = min(creation1h ?? 0, cacheCreation)
            out.cacheWrite = cacheCreation - out.cacheWrite1h
        }
        return out
    }

    /// The `usage` of an Anthropic `message` body (`input_tokens` excludes the cache reads
    /// and writes, which Anthropic counts apart).
    public static func anthropic(in body: [UInt8]) -> TokenUsage? {
        guard let members = try? JSONScanner.topLevelMembers(of: body),
              let usage = members.first(where: { $0.key == "usage" }), usage.kind == .object else { return nil }
        var counts = AnthropicCounts()
        counts.update(usageAt: usage.range, in: body)
        return counts.reported ? counts.usage : nil
    }

    /// Anthropic's usage counters as they arrive (a stream repeats them cumulatively in
    /// `message_start` and `message_delta`): every field seen replaces the one before.
    public struct AnthropicCounts: Sendable, Equatable {
        public var input = 0
        public var cacheRead = 0
        public var cacheCreation = 0
        public var cacheCreation1h: Int?
        public var output = 0
        public private(set) var reported = false
        /// The provider named its cache fields (so an OpenAI-shaped usage names `cached_tokens`).
        public private(set) var reportsCache = false

        public init() {}

        public mutating func update(usageAt range: Range<Int>, in body: [UInt8]) {
            for member in JSONScanner.members(of: range, in: body) {
                switch (member.key, member.kind) {
                case ("input_tokens", .number): input = TokenUsage.int(member.range, body) ?? input; reported = true
                case ("output_tokens", .number): output = TokenUsage.int(member.range, body) ?? output; reported = true
                case ("cache_read_input_tokens", .number):
                    cacheRead = TokenUsage.int(member.range, body) ?? cacheRead
                    reportsCache = true
                case ("cache_creation_input_tokens", .number):
                    cacheCreation = TokenUsage.int(member.range, body) ?? cacheCreation
                    reportsCache = true
                case ("cache_creation", .object):
                    cacheCreation1h = TokenUsage.number(named: "ephemeral_1h_input_tokens", in: member.range, of: body)
                default: break
                }
            }
        }

        public var usage: TokenUsage {
            let write1h = min(cacheCreation1h ?? 0, cacheCreation)
            return TokenUsage(prompt: input + cacheRead + cacheCreation, completion: output, cached: cacheRead,
                              cacheWrite: cacheCreation - write1h, cacheWrite1h: write1h)
        }
    }

    /// A rough count for text the provider did not count: about four bytes per token.
    public static func estimate(bytes: Int) -> Int { bytes <= 0 ? 0 : max(1, (bytes + 3) / 4) }

    /// The largest token count the gateway takes from a provider's answer or a client's
    /// cap: far beyond any model's, and small enough that adding up a few counts (and
    /// pricing them) cannot overflow.
    public static let maxCount = 1_000_000_000_000

    /// A count as written by a provider or client, clamped to `0...maxCount`: a negative
    /// or absurd number (`9223372036854775807`) must not trap the worker when added up.
    public static func count(_ value: Int) -> Int { min(max(value, 0), maxCount) }

    static func int(_ range: Range<Int>, _ body: [UInt8]) -> Int? {
        Int(String(decoding: body[range], as: UTF8.self)).map(count)
    }

    static func number(named name: String, in range: Range<Int>, of body: [UInt8]) -> Int? {
        JSONScanner.members(of: range, in: body).first { $0.key == name && $0.kind == .number }.flatMap { int($0.range, body) }
    }
}
