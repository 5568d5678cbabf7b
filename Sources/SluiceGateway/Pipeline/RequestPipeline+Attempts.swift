import SluiceCore
import SluiceHTTP
import SluiceProviders

/// What one upstream attempt is judged by: its time limits, the provider's requested wait,
/// whether a successful answer is what the provider's API sends, and the error a failed
/// transfer becomes.
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
        } else if (try? JSONScanner.topLevelMembers(of: relay.body, maxDepth: 512)) == nil {
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
}
