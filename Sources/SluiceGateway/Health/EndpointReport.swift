import SluiceCore
import SluiceRedis

/// What `sluice endpoints` shows: every route's endpoints with the shared state Redis holds
/// for their upstream, read in one pipelined round trip.
public struct EndpointReport: Sendable {
    public struct Row: Sendable {
        public var route: String
        public var endpoint: String
        public var provider: String
        public var model: String
        /// `healthy`, `cooling`, `probing` (a responder holds the probe lease) or
        /// `half-open` (cooldown over, the next call is the probe).
        public var state: String
        /// End of the cooldown (ms since the epoch), when cooling.
        public var cooldownUntil: Int64?
        /// Calls and the share that failed over the sliding window.
        public var recentCalls: Int
        public var recentErrorRate: Double?
        public var lastLatencyMs: Int?
        public var lastSuccess: Int64?
        public var lastFailure: Int64?
        public var lastError: String?
        public var trips: Int
        public var keepWarm: Duration?
        public var lastPing: Int64?
    }

    /// Redis's clock when the report was read (ms since the epoch).
    public var now: Int64
    public var rows: [Row]

    /// Reads the state of every endpoint in `config`.
    public static func read(_ config: GatewayConfig) throws(RedisError) -> EndpointReport {
        try read(config, redis: RedisConnection(config: config.redis))
    }

    public static func read(_ config: GatewayConfig, redis: RedisConnection) throws(RedisError) -> EndpointReport {
        try read(config, redis: redis, keys: RedisKeys(prefix: config.redis.keyPrefix))
    }

    /// With a config, its routes' endpoints in its order; without one (`--redis`), every
    /// upstream with a health hash in Redis (`SCAN`), named `provider/model`, under route `-`,
    /// judged by the default health window.
    public static func read(_ config: GatewayConfig?, redis: RedisConnection, keys: RedisKeys) throws(RedisError) -> EndpointReport {
        var endpoints: [(route: String, endpoint: String, provider: String, model: String, upstream: String,
                         keepWarm: Duration?)] = []
        if let config {
            for route in config.routeOrder.compactMap({ config.routes[$0] }) {
                for endpoint in route.endpoints {
                    endpoints.append((route.name, endpoint.name, endpoint.provider, endpoint.model, endpoint.upstreamKey,
                                      endpoint.keepWarm))
                }
            }
        } else {
            let stem = keys.endpointHealth("")
            var upstreams = Set<String>()
            try redis.cursorPages(["SCAN"], match: stem + "*", extra: ["TYPE", "hash"]) { keys in
                for key in keys where key.hasPrefix(stem) { upstreams.insert(String(key.dropFirst(stem.count))) }
            }
            for upstream in upstreams.sorted() {
                let slash = upstream.firstIndex(of: "/") ?? upstream.endIndex
                endpoints.append(("-", upstream, String(upstream[..<slash]),
                                  String(upstream[slash...].dropFirst()), upstream, nil))
            }
        }
        let replies = try redis.pipeline([["TIME"]] + endpoints.map { ["HGETALL", keys.endpointHealth($0.upstream)] },
                                         idempotent: true)
        guard case .array(let time) = replies[0], time.count == 2, let seconds = time[0].integer,
              let micros = time[1].integer else {
            throw RedisError(.server, "unexpected reply to TIME")
        }
        let now = Int64(seconds) * 1000 + Int64(micros / 1000)
        let windowMs = (config?.health ?? HealthPolicy()).window.wholeMilliseconds
        let rows = zip(endpoints, replies.dropFirst()).map { entry, reply in
            var row = row(route: entry.route, endpoint: entry.endpoint, provider: entry.provider, model: entry.model,
                          fields: reply.fieldMap, now: now, windowMs: windowMs)
            row.keepWarm = entry.keepWarm
            return row
        }
        return EndpointReport(now: now, rows: rows)
    }

    static func row(route: String, endpoint: String, provider: String, model: String, fields: [String: String],
                    now: Int64, windowMs: Int64) -> Row {
        func number(_ name: String) -> Int64? { fields[name].flatMap { Double($0) }.map { Int64($0) } }
        let until = number("until") ?? 0
        let probe = number("probe_until") ?? 0
        let state = until == 0 ? "healthy" : until > now ? "cooling" : probe > now ? "probing" : "half-open"
        // The same sliding window the health script uses.
        let index = now / windowMs
        var (ok, fail, previousOk, previousFail) = (number("w_ok") ?? 0, number("w_fail") ?? 0,
                                                    number("p_ok") ?? 0, number("p_fail") ?? 0)
        if let stored = number("w_idx"), stored != index {
            (previousOk, previousFail) = stored == index - 1 ? (ok, fail) : (0, 0)
            (ok, fail) = (0, 0)
        }
        let weight = 1 - Double(now - index * windowMs) / Double(windowMs)
        let calls = Double(ok + fail) + Double(previousOk + previousFail) * weight
        let failures = Double(fail) + Double(previousFail) * weight
        return Row(route: route, endpoint: endpoint, provider: provider, model: model,
                   state: state, cooldownUntil: until > now ? until : nil, recentCalls: Int(calls.rounded()),
                   recentErrorRate: calls > 0 ? failures / calls : nil, lastLatencyMs: number("last_latency").map { Int($0) },
                   lastSuccess: number("last_ok"), lastFailure: number("last_fail"), lastError: fields["last_error"],
                   trips: Int(number("trips") ?? 0), keepWarm: nil, lastPing: number("last_ping"))
    }
}
