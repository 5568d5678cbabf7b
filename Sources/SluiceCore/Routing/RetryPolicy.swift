/// Which failed attempts move on, and which count against an endpoint's shared health.
public enum RetryPolicy {
    /// Whether a provider status moves on to the next endpoint under the route's conditions.
    public static func shouldTryNext(status: Int, on conditions: FallbackConditions) -> Bool {
        conditions.statuses.contains(status)
    }

    /// Whether a transport failure moves on. The client leaving never does.
    public static func shouldTryNext(_ failure: UpstreamFailure, on conditions: FallbackConditions) -> Bool {
        switch failure {
        case .connect: return conditions.connect
        case .timeout: return conditions.timeout
        case .transport: return conditions.dropped
        case .aborted: return false
        }
    }

    /// Statuses that say the endpoint is unwell (whatever a route retries on): 408, 429, 5xx.
    public static func isEndpointFailure(status: Int) -> Bool {
        status == 408 || status == 429 || (500...599).contains(status)
    }

    /// A 429 that means the provider account's spend or quota is used up, not a momentary
    /// rate limit: waiting or asking the same account again will not help.
    public static func isQuotaExhausted(_ error: GatewayError) -> Bool {
        guard error.upstreamStatus == 429 else { return false }
        let markers = ["insufficient_quota", "billing_hard_limit_reached", "quota_exceeded", "billing_not_active"]
        if let code = error.upstreamCode, markers.contains(code) { return true }
        if let type = error.upstreamType, markers.contains(type) { return true }
        return error.message.lowercased().contains("exceeded your current quota")
    }

    /// The short class of an attempt's failure, as the attempt chain and health record it.
    public static func errorClass(_ failure: UpstreamFailure) -> String {
        switch failure {
        case .connect: return "connect"
        case .timeout(let kind): return "timeout_\(kind.rawValue)"
        case .transport: return "dropped"
        case .aborted: return "cancelled"
        }
    }
}
