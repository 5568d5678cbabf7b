/// How a ``MockProviderServer`` listens and what it demands of every request.
public struct MockProviderOptions: Sendable, CustomStringConvertible {
    /// The address to bind: a numeric IPv4 or IPv6 address or a host name.
    public var host: String
    /// The TCP port to bind; `0` lets the kernel pick a free one (read it back from
    /// ``MockProviderServer/port``).
    public var port: Int
    /// When set, every request must carry this key the way its provider expects it:
    /// OpenAI and Databricks `Authorization: Bearer <apiKey>`, Anthropic `x-api-key`,
    /// Azure OpenAI `api-key` (or `Authorization: Bearer`); others get that provider's
    /// 401. The `/_mock` control endpoints never need it.
    public var apiKey: String?
    /// A pause before the response headers of every provider request that does not
    /// ask for its own `delay` fault.
    public var defaultDelay: Duration?
    /// What the Bedrock Runtime paths demand (SigV4 credentials); signatures are not checked by default.
    public var bedrock = MockBedrockOptions()

    /// Creates options; the defaults listen on a free loopback port with no key and no delay.
    public init(host: String = "127.0.0.1", port: Int = 0, apiKey: String? = nil, defaultDelay: Duration? = nil) {
        self.host = host
        self.port = port
        self.apiKey = apiKey
        self.defaultDelay = defaultDelay
    }

    /// A summary that never shows the API key.
    public var description: String {
        let key = apiKey == nil ? "none" : "set"
        let delay = defaultDelay.map { "\($0)" } ?? "none"
        return "MockProviderOptions(host: \(host), port: \(port), apiKey: \(key), defaultDelay: \(delay))"
    }
}
