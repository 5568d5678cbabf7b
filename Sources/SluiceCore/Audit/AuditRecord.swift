/// One call's audit record, written to the audit stream after the call completed (also
/// when it failed, was cut, or the client went away). It never holds a key or a provider
/// credential: the caller is named by key id or principal.
///
/// JSON shape (snake_case, one object; absent values are `null`):
/// ```json
/// {"kind":"call","request_id":"…","time":"2026-11-26T12:00:00.123Z","ts_ms":1795…,
///  "principal":null,"key_id":"key_…","client_addr":"10.0.0.7","path":"/v1/chat/completions",
///  "route":"chat","endpoint":"primary","provider":"openai","provider_model":"gpt-4o",
///  "tags":{"team":"support"},"status":200,"error_class":null,
///  "attempts":[{"endpoint":"primary","provider":"openai","status":200,"error":"ok","latency_ms":812,"probe":false}],
///  "latency_ms":815,"ttfb_ms":120,"upstream_ms":812,
///  "prompt_tokens":12,"completion_tokens":40,"total_tokens":52,"cache_read_tokens":0,
///  "cache_write_tokens":0,"cache_write_1h_tokens":0,"reasoning_tokens":0,"usage_source":"provider",
///  "cost":null,"stream":true,"stream_completed":true,"writer":"host:123:1795…","seq":17}
/// ```
/// - `status`: what the client got; `error_class`: the gateway's error code, or the
///   provider's status for a provider error (`"429"`), or `stream_cut` / `client_gone`.
/// - `ttfb_ms`: time until the first byte went to the client; `upstream_ms`: time spent in
///   upstream calls, all attempts together.
/// - `prompt_tokens` counts every input token; `cache_read_tokens`, `cache_write_tokens`
///   (5-minute) and `cache_write_1h_tokens` are the parts of it the provider read from or
///   wrote to its prompt cache, `reasoning_tokens` the part of `completion_tokens` spent
///   reasoning (each `null` when there is no usage).
/// - `usage_source`: `provider` (reported by the provider), `estimated` (the provider said
///   nothing; from the text sizes), `partial` (a cut stream: what arrived), `none` (no call).
public struct AuditRecord: Sendable, Equatable {
    public struct Attempt: Sendable, Equatable {
        public var endpoint: String
        public var provider: String
        public var status: Int
        public var error: String
        public var latencyMs: Int
        public var probe: Bool

        /// The attempt counted against the endpoint's health (no connection, a timeout, a cut
        /// or malformed answer, 408, 429 or 5xx; not a 400, a guardrail's refusal or a client
        /// that left): the pipeline's own verdict, for the usage totals. Not in the JSON.
        public var failed: Bool

        public init(endpoint: String, provider: String, status: Int, error: String, latencyMs: Int, probe: Bool,
                    failed: Bool = false) {
            self.endpoint = endpoint
            self.provider = provider
            self.status = status
            self.error = error
            self.latencyMs = latencyMs
            self.probe = probe
            self.failed = failed
        }
    }

    public enum UsageSource: String, Sendable {
        case provider, estimated, partial, none
    }

    public var requestId: String
    public var timeMs: Int64
    public var principal: String?
    public var keyId: String?
    public var clientAddress: String?
    public var path: String
    public var route: String?
    public var endpoint: String?
    public var provider: String?
    public var providerModel: String?
    public var tags: [String: String]
    public var status: Int
    public var errorClass: String?
    public var attempts: [Attempt]
    public var latencyMs: Int
    public var ttfbMs: Int?
    public var upstreamMs: Int
    public var promptTokens: Int?
    public var completionTokens: Int?
    /// Parts of `promptTokens` read from / written to the prompt cache, and of
    /// `completionTokens` spent reasoning.
    public var cacheReadTokens: Int?
    public var cacheWriteTokens: Int?
    public var cacheWrite1hTokens: Int?
    public var reasoningTokens: Int?
    public var usageSource: UsageSource
    public var cost: Double?
    /// On a route with a response cache: `hit`, `miss` or `bypass` (the client's
    /// `Cache-Control: no-cache` / `no-store`); absent elsewhere.
    public var cache: String?
    /// What guardrails found, as JSON (`[{"name","direction","action","found":{kind: n}}]`);
    /// absent when none found anything.
    public var guardrails: String?
    public var stream: Bool
    public var streamCompleted: Bool?
    public var writer: String
    public var seq: Int
    /// Captured bodies, redacted and capped (routes with `capture`); `nil` otherwise.
    public var requestBody: String?
    public var responseBody: String?

    public init(requestId: String, timeMs: Int64, principal: String? = nil, keyId: String? = nil,
                clientAddress: String? = nil, path: String, route: String? = nil, endpoint: String? = nil,
                provider: String? = nil, providerModel: String? = nil, tags: [String: String] = [:], status: Int,
                errorClass: String? = nil, attempts: [Attempt] = [], latencyMs: Int, ttfbMs: Int? = nil,
                upstreamMs: Int = 0, promptTokens: Int? = nil, completionTokens: Int? = nil,
                usageSource: UsageSource = .none, cost: Double? = nil, stream: Bool = false,
                streamCompleted: Bool? = nil, writer: String = "", seq: Int = 0) {
        self.requestId = requestId
        self.timeMs = timeMs
        self.principal = principal
        self.keyId = keyId
        self.clientAddress = clientAddress
        self.path = path
        self.route = route
        self.endpoint = endpoint
        self.provider = provider
        self.providerModel = providerModel
        self.tags = tags
        self.status = status
        self.errorClass = errorClass
        self.attempts = attempts
        self.latencyMs = latencyMs
        self.ttfbMs = ttfbMs
        self.upstreamMs = upstreamMs
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.usageSource = usageSource
        self.cost = cost
        self.stream = stream
        self.streamCompleted = streamCompleted
        self.writer = writer
        self.seq = seq
    }

    public var totalTokens: Int? {
        guard promptTokens != nil || completionTokens != nil else { return nil }
        return (promptTokens ?? 0) + (completionTokens ?? 0)
    }

    /// The record as one line of JSON (the shape above), keys in a fixed order. Written as
    /// bytes into one buffer (it is made for every call, on the request's thread).
    public var json: String {
        var out = JSONBytes(capacity: 1280 + (requestBody?.utf8.count ?? 0) + (responseBody?.utf8.count ?? 0)
                                + (guardrails?.utf8.count ?? 0))
        func string(_ key: StaticString, _ value: String?) {
            out.raw(key)
            if let value { out.string(value) } else { out.raw("null") }
        }
        func int(_ key: StaticString, _ value: Int?) {
            out.raw(key)
            if let value { out.int(value) } else { out.raw("null") }
        }
        func bool(_ key: StaticString, _ value: Bool?) {
            out.raw(key)
            out.raw(value.map { $0 ? "true" : "false" } ?? "null")
        }
        out.raw("{\"kind\":\"call\"")
        string(",\"request_id\":", requestId)
        out.raw(",\"time\":\"")
        Self.appendISO8601(timeMs, to: &out)
        out.raw("\",\"ts_ms\":")
        out.int(timeMs)
        string(",\"principal\":", principal)
        string(",\"key_id\":", keyId)
        string(",\"client_addr\":", clientAddress)
        string(",\"path\":", path)
        string(",\"route\":", route)
        string(",\"endpoint\":", endpoint)
        string(",\"provider\":", provider)
        string(",\"provider_model\":", providerModel)
        out.raw(",\"tags\":{")
        for (index, tag) in tags.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { out.raw(",") }
            out.string(tag.key)
            out.raw(":")
            out.string(tag.value)
        }
        out.raw("}")
        int(",\"status\":", status)
        string(",\"error_class\":", errorClass)
        out.raw(",\"attempts\":[")
        for (index, attempt) in attempts.enumerated() {
            out.raw(index > 0 ? ",{\"endpoint\":" : "{\"endpoint\":")
            out.string(attempt.endpoint)
            out.raw(",\"provider\":")
            out.string(attempt.provider)
            out.raw(",\"status\":")
            out.int(attempt.status)
            out.raw(",\"error\":")
            out.string(attempt.error)
            out.raw(",\"latency_ms\":")
            out.int(attempt.latencyMs)
            out.raw(attempt.probe ? ",\"probe\":true}" : ",\"probe\":false}")
        }
        out.raw("]")
        int(",\"latency_ms\":", latencyMs)
        int(",\"ttfb_ms\":", ttfbMs)
        int(",\"upstream_ms\":", upstreamMs)
        int(",\"prompt_tokens\":", promptTokens)
        int(",\"completion_tokens\":", completionTokens)
        int(",\"total_tokens\":", totalTokens)
        int(",\"cache_read_tokens\":", cacheReadTokens)
        int(",\"cache_write_tokens\":", cacheWriteTokens)
        int(",\"cache_write_1h_tokens\":", cacheWrite1hTokens)
        int(",\"reasoning_tokens\":", reasoningTokens)
        string(",\"usage_source\":", usageSource.rawValue)
        out.raw(",\"cost\":")
        out.raw(cost.map { String($0) } ?? "null")
        bool(",\"stream\":", stream)
        bool(",\"stream_completed\":", streamCompleted)
        if let cache { string(",\"cache\":", cache) }
        if let guardrails {
            out.raw(",\"guardrails\":")
            out.raw(guardrails)
        }
        string(",\"writer\":", writer)
        int(",\"seq\":", seq)
        string(",\"request_body\":", requestBody)
        string(",\"response_body\":", responseBody)
        out.raw("}")
        return out.text
    }

    /// `2026-11-26T12:00:00.123Z` for milliseconds since the epoch (proleptic Gregorian, UTC).
    public static func iso8601(_ ms: Int64) -> String {
        var out = JSONBytes(capacity: 24)
        appendISO8601(ms, to: &out)
        return out.text
    }

    /// `2026-11-26` for milliseconds since the epoch (UTC): the day of `iso8601`.
    public static func day(_ ms: Int64) -> String {
        var out = JSONBytes(capacity: 24)
        appendISO8601(ms, to: &out, dateOnly: true)
        return out.text
    }

    private static func appendISO8601(_ ms: Int64, to out: inout JSONBytes, dateOnly: Bool = false) {
        let days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let inDay = ms - days * 86_400_000
        let (year, month, day) = CivilDate.fromDays(days)
        out.padded(year, width: 4)
        out.raw("-")
        out.padded(month, width: 2)
        out.raw("-")
        out.padded(day, width: 2)
        guard !dateOnly else { return }
        out.raw("T")
        out.padded(inDay / 3_600_000, width: 2)
        out.raw(":")
        out.padded(inDay / 60_000 % 60, width: 2)
        out.raw(":")
        out.padded(inDay / 1000 % 60, width: 2)
        out.raw(".")
        out.padded(inDay % 1000, width: 3)
        out.raw("Z")
    }
}
