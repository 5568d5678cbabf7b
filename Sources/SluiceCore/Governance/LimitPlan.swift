/// One shared counter a call is checked against: requests or tokens in a sliding window.
public struct LimitCounter: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case requests, tokens
    }

    /// The counter's name under `RedisKeys.limit`.
    public var name: String
    public var kind: Kind
    public var limit: Int
    public var windowMs: Int
    /// What the limit is, for the client: `100 requests per 1m for key key_abc`.
    public var label: String

    public init(name: String, kind: Kind, limit: Int, windowMs: Int, label: String) {
        self.name = name
        self.kind = kind
        self.limit = limit
        self.windowMs = windowMs
        self.label = label
    }

    /// The width of one of the window's 60 buckets, at least 1 ms: `LimitScripts.admit`
    /// computes the same from the window.
    public var bucketMs: Int { max(1, (windowMs + 59) / 60) }
}

/// Which limit counters apply to a call. Limits come from four places — the caller's own
/// policy (a key's or a principal's), the gateway-wide `limits:`, the route's `limits:`,
/// and the route's endpoints — and each counts per the scope it names: per key, per
/// principal, per route, per endpoint or per value of one tag.
public enum LimitPlanner {
    /// Every counter for a call of `route` by `caller` with `tags`, except the endpoint
    /// ones (those are checked when an endpoint is tried: `endpointCounters`).
    public static func counters(config: GatewayConfig, route: RouteConfig, caller: Caller,
                                tags: [String: String]) -> [LimitCounter] {
        var counters: [LimitCounter] = []
        let own: (scope: LimitScope, value: String) = switch caller {
        case .key(let record): (.key, record.id)
        case .principal(let name, _): (.principal, name)
        }
        for limit in caller.policy.limits {
            counters += make(limit, where: "own", value: own.value,
                             label: "for \(own.scope.rawValue) \(own.value)")
        }
        for (place, limits) in [("*", config.governance.limits), ("route=" + route.name, route.limits)] {
            let suffix = place == "*" ? "" : " on route \(route.name)"
            for limit in limits {
                let value: String?
                var what = limit.per.rawValue
                switch limit.per {
                case .key, .principal:
                    value = limit.per == own.scope ? own.value : nil
                case .route:
                    value = route.name
                case .endpoint:
                    value = nil
                case .tag:
                    value = limit.tag.flatMap { tags[$0] }
                    what = "tag \(limit.tag ?? "")="
                }
                guard let value, limit.value == nil || limit.value == value else { continue }
                let separator = limit.per == .tag ? "" : " "
                let scopeSuffix = limit.per == .route ? "" : suffix
                counters += make(limit, where: place, value: value, label: "for \(what)\(separator)\(value)\(scopeSuffix)")
            }
        }
        return counters
    }

    /// The counters of `endpoint`: `per: endpoint` limits of the gateway and of its route.
    public static func endpointCounters(config: GatewayConfig, route: RouteConfig,
                                        endpoint: EndpointConfig) -> [LimitCounter] {
        var counters: [LimitCounter] = []
        for (place, limits) in [("*", config.governance.limits), ("route=" + route.name, route.limits)] {
            for limit in limits where limit.per == .endpoint {
                // Gateway-wide endpoint limits count the upstream (provider account + model),
                // whichever route calls it; a route's count its own endpoint.
                let value = place == "*" ? endpoint.upstreamKey : endpoint.name
                guard limit.value == nil || limit.value == value || limit.value == endpoint.name else { continue }
                counters += make(limit, where: place, value: value,
                                 label: "for endpoint \(endpoint.name) of route \(route.name)")
            }
        }
        return counters
    }

    private static func make(_ limit: LimitConfig, where place: String, value: String, label: String) -> [LimitCounter] {
        let windowMs = Int(limit.window.wholeMilliseconds)
        let window = DurationText.format(limit.window)
        let base = "\(place)|\(limit.per.rawValue)|\(limit.tag ?? "")|\(value)|"
        var out: [LimitCounter] = []
        if let requests = limit.requests {
            out.append(LimitCounter(name: base + "r\(windowMs)", kind: .requests, limit: requests, windowMs: windowMs,
                                    label: "\(requests) requests per \(window) \(label)"))
        }
        if let tokens = limit.tokens {
            out.append(LimitCounter(name: base + "t\(windowMs)", kind: .tokens, limit: tokens, windowMs: windowMs,
                                    label: "\(tokens) tokens per \(window) \(label)"))
        }
        return out
    }
}
