import SluiceCore
import SluiceHTTP
import SluiceProviders

/// What one upstream attempt is judged by: its time limits, the provider's requested wait,
/// whether a successful answer is what the provider's API sends, and the error a failed
/// transfer becomes; and the small parts around attempts (the wait between them, the
/// visibility headers, the token-count estimate, the cut-stream log line).
extension RequestPipeline {
    /// The endpoint's timeouts over the route's, the provider's and the defaults.
    static func limits(endpoint: EndpointConfig, route: RouteConfig, config: GatewayConfig) -> TransferLimits {
        let provider = config.providers[endpoint.provider]?.timeouts ?? Timeouts()
        let timeouts = endpoint.timeouts.overriding(route.timeouts).overriding(provider).overriding(.defaults)
        return TransferLimits(connect: timeouts.connect ?? .seconds(5), firstByte: timeouts.firstByte ?? .seconds(120),
                              idle: timeouts.idle ?? .seconds(120), total: timeouts.total ?? .seconds(600))
    }

    /// `retry-after-ms` (OpenAI, Azure) or `retry-after` in seconds, as milliseconds; 0 if absent.
    static func retryAfterMilliseconds(_ headers: [(name: String, value: String)]) -> Int {
        if let ms = headers.first(where: { $0.name == "retry-after-ms" }).flatMap({ Double($0.value) }), ms > 0 {
            return Int(min(ms, 86_400_000))
        }
        if let seconds = headers.first(where: { $0.name == "retry-after" }).flatMap({ Double($0.value.trimmingASCIIWhitespace()) }),
           seconds > 0 {
            return Int(min(seconds, 86_400) * 1000)
        }
        return 0
    }

    static func milliseconds(_ duration: Duration) -> Int { Int(duration.wholeMilliseconds) }

    /// Throws unless a successful buffered answer is what a provider's API sends: a JSON
    /// object with a JSON content type, and an event stream when one was asked for.
    static func checkConforms(_ relay: UpstreamRelay, stream: Bool, endpoint: EndpointConfig) throws(GatewayError) {
        let type = relay.contentType
        let what: String
        if stream {
            what = "a '\(type.prefix(100))' body where an event stream was asked for"
        } else if !(type.hasPrefix("application/json") || type.contains("+json")) {
            what = "a '\(type.prefix(100))' body where JSON was expected"
        } else if (try? JSONScanner.validateObject(relay.body, maxDepth: 512)) == nil {
            what = relay.body.isEmpty ? "an empty body" : "a body that is not a JSON object (malformed or truncated)"
        } else {
            return
        }
        throw GatewayError(.upstreamError, "The endpoint '\(endpoint.name)' answered with \(what).")
    }

    static func error(for failure: UpstreamFailure, endpoint: EndpointConfig) -> GatewayError {
        switch failure {
        case .connect:
            return GatewayError(.upstreamUnavailable, "The endpoint '\(endpoint.name)' could not be reached.")
        case .timeout(let kind):
            return GatewayError(.upstreamTimeout, "The endpoint '\(endpoint.name)' timed out (\(kind.rawValue) timeout).")
        case .transport:
            return GatewayError(.upstreamError, "The connection to the endpoint '\(endpoint.name)' failed.")
        case .aborted:
            return GatewayError(.upstreamError, "The call to the endpoint '\(endpoint.name)' was cancelled.")
        }
    }

    /// Counts this attempt in flight to its upstream, pool-wide, until the response is out
    /// (or, should this process die, until the attempt's time limit has passed).
    func markInFlight(_ endpoint: EndpointConfig, limits: TransferLimits) {
        let nowMs = clock.unixMs
        var random = ThreadRandom()
        let token = Hex.lower(TraceContext.randomId(bytes: 8, using: &random))
        if healthStore.markInFlight(endpoint.upstreamKey, token: token, expiresAtMs: nowMs + limits.total.wholeMilliseconds,
                                    lifetime: limits.total) {
            inFlightMarks.append((endpoint.upstreamKey, token))
        }
    }

    /// `count_tokens` on a route whose provider cannot count: the gateway's estimate (about
    /// four bytes a token), marked as one by `X-Sluice-Token-Count: estimate`. Nothing is
    /// generated or charged.
    func answerTokenCountEstimate(_ request: APIRequest, endpoint: EndpointConfig,
                                  headers: [(name: String, value: String)], writer: ClientWriter) {
        writer.call.endpoint = endpoint
        (writer.call.usage, writer.call.usageSource) = (TokenUsage(prompt: 0, completion: 0), .estimated)
        let tokens = TokenUsage.estimate(bytes: request.member("messages")?.count ?? 0)
            + TokenUsage.estimate(bytes: request.member("system")?.count ?? 0)
            + TokenUsage.estimate(bytes: request.member("tools")?.count ?? 0)
        writer.send(status: 200, contentType: "application/json", body: Array("{\"input_tokens\":\(tokens)}".utf8),
                    extraHeaders: headers + [("X-Sluice-Token-Count", "estimate")])
    }

    /// Waits before another attempt; `false` if the client left meanwhile.
    func pause(_ wait: Duration, writer: ClientWriter) -> Bool {
        let end = clock.now + wait
        while case let now = clock.now, now < end {
            if writer.request.peerClosed() { return false }
            clock.sleep(min(end - now, .milliseconds(50)))
        }
        return true
    }

    /// `x-sluice-route`, `x-sluice-endpoint` (a name, never a URL) and `x-sluice-attempts`.
    func visibility(_ route: RouteConfig, _ endpoint: EndpointConfig, _ attempts: Int) -> [(name: String, value: String)] {
        [("X-Sluice-Route", route.name), ("X-Sluice-Endpoint", endpoint.name), ("X-Sluice-Attempts", String(attempts))]
    }

    func logIncomplete(_ route: RouteConfig, _ endpoint: EndpointConfig, reason: String) {
        context.logger.warning("stream cut after the first byte; the call is incomplete",
                               metadata: ["route": "\(route.name)", "endpoint": "\(endpoint.name)", "reason": "\(reason)"])
    }
}
