import Glibc
import Logging
import SluiceCore
import SluiceHTTP
import SluiceProviders
import SluiceRedis
import Synchronization

/// Keeps scale-to-zero endpoints warm: an endpoint with `keep_warm: 5m` gets a cheap call
/// (one token, or one short embedding) when no traffic reached it for that long. Every
/// worker runs one of these threads, but a Redis claim (`HealthScripts.keepWarmClaim`) lets
/// exactly one responder in the whole pool send each ping. A ping also serves as the
/// half-open probe of an endpoint whose cooldown ended while nobody called it.
final class KeepWarmThread: @unchecked Sendable {
    /// One upstream to keep warm, with the endpoint and route used to build its ping.
    struct Target {
        let endpoint: EndpointConfig
        let route: RouteConfig
        let interval: Duration
    }

    private let context: WorkerContext
    private let state: DrainState
    private let targets: [Target]

    init(context: WorkerContext, state: DrainState) {
        self.context = context
        self.state = state
        self.targets = Self.targets(in: context.config)
    }

    /// The upstreams of every route with `keep_warm`, each once, at its shortest interval.
    static func targets(in config: GatewayConfig) -> [Target] {
        var byUpstream: [String: Target] = [:]
        var order: [String] = []
        for routeName in config.routeOrder {
            guard let route = config.routes[routeName] else { continue }
            for endpoint in route.endpoints {
                guard let interval = endpoint.keepWarm else { continue }
                if let known = byUpstream[endpoint.upstreamKey], known.interval <= interval { continue }
                if byUpstream[endpoint.upstreamKey] == nil { order.append(endpoint.upstreamKey) }
                byUpstream[endpoint.upstreamKey] = Target(endpoint: endpoint, route: route, interval: interval)
            }
        }
        return order.compactMap { byUpstream[$0] }
    }

    /// Starts the thread when some endpoint asks to be kept warm; `true` if nothing to do.
    func start() -> Bool {
        guard !targets.isEmpty else { return true }
        return PosixThread.start { self.loop() } != nil
    }

    private func loop() {
        let redis = RedisConnection(config: context.config.redis)
        let http = HTTPClient()
        let store = EndpointHealthStore(redis: redis, keys: context.redisKeys, policy: context.config.health,
                                        logger: context.logger)
        let shortest = targets.map(\.interval).min() ?? .seconds(1)
        let tick = max(.milliseconds(100), min(.seconds(1), shortest / 4))
        while !state.stopping.load(ordering: .acquiring) {
            for target in targets where !state.stopping.load(ordering: .acquiring) {
                let limits = Self.limits(target, config: context.config)
                let owner = EndpointHealthStore.newOwner()
                let claim = store.claimKeepWarm(target.endpoint.upstreamKey, every: target.interval,
                                                probeLease: limits.total + .seconds(1), owner: owner)
                guard claim > 0 else { continue }
                let attempt = ping(target, limits: limits, http: http, asProbe: claim == 2)
                EndpointHealthStore.log(store.report([attempt], releasing: [], owner: owner), to: context.logger)
                context.logger.info("keep-warm ping", metadata: [
                    "endpoint": "\(target.endpoint.name)", "upstream": "\(target.endpoint.upstreamKey)",
                    "outcome": "\(attempt.errorClass)", "latency_ms": "\(attempt.latencyMs)",
                ])
            }
            let end = ContinuousClock.now + tick
            while ContinuousClock.now < end, !state.stopping.load(ordering: .acquiring) {
                usleep(50_000)
            }
        }
    }

    /// One minimal call to the endpoint, marked with `X-Sluice-Keep-Warm: 1`.
    private func ping(_ target: Target, limits: TransferLimits, http: HTTPClient, asProbe: Bool) -> AttemptRecord {
        let endpoint = target.endpoint
        func record(_ outcome: AttemptOutcome, _ status: Int, _ errorClass: String, _ ms: Int) -> AttemptRecord {
            AttemptRecord(endpoint: endpoint.name, upstream: endpoint.upstreamKey, outcome: outcome, status: status,
                          errorClass: errorClass, latencyMs: ms, wasProbe: asProbe)
        }
        guard let provider = context.config.providers[endpoint.provider],
              let request = try? Self.pingRequest(for: target.route.type) else {
            return record(.neutral, 0, "skipped", 0)
        }
        let translator = ProviderRegistry.translator(for: provider.kind)
        guard var upstream = try? translator.upstreamRequest(for: request, endpoint: endpoint, provider: provider,
                                                             limits: limits) else {
            return record(.neutral, 0, "skipped", 0)
        }
        upstream.headers.append(("X-Sluice-Keep-Warm", "1"))
        let sink = DiscardingHandler(state: state)
        let start = ContinuousClock.now
        let outcome = http.perform(upstream, handler: sink)
        let ms = RequestPipeline.milliseconds(ContinuousClock.now - start)
        switch outcome {
        case .completed(let status) where (200..<300).contains(status):
            return record(.ok, status, "ok", ms)
        case .completed(let status):
            return record(RetryPolicy.isEndpointFailure(status: status) ? .fail : .neutral, status, String(status), ms)
        case .failed(.aborted, _):
            return record(.neutral, sink.status, "cancelled", ms)
        case .failed(let failure, _):
            return record(.fail, sink.status, RetryPolicy.errorClass(failure), ms)
        }
    }

    /// The cheapest request of the route's type.
    static func pingRequest(for type: RouteType) throws(GatewayError) -> APIRequest {
        switch type {
        case .chat:
            return try APIRequest(operation: .chatCompletions, body: Array(
                #"{"model":"keep-warm","messages":[{"role":"user","content":"ping"}],"max_tokens":1}"#.utf8))
        case .completions:
            return try APIRequest(operation: .completions, body: Array(#"{"model":"keep-warm","prompt":"ping","max_tokens":1}"#.utf8))
        case .embeddings:
            return try APIRequest(operation: .embeddings, body: Array(#"{"model":"keep-warm","input":"ping"}"#.utf8))
        }
    }

    /// The endpoint's usual limits, capped at two minutes: a ping that takes longer failed.
    private static func limits(_ target: Target, config: GatewayConfig) -> TransferLimits {
        var limits = RequestPipeline.limits(endpoint: target.endpoint, route: target.route, config: config)
        limits.total = min(limits.total, .seconds(120))
        limits.firstByte = min(limits.firstByte, limits.total)
        limits.idle = min(limits.idle, limits.total)
        return limits
    }
}

/// Reads a ping's answer and throws it away; stops when the worker drains.
private final class DiscardingHandler: UpstreamResponseHandler {
    private let state: DrainState
    private(set) var status = 0

    init(state: DrainState) {
        self.state = state
    }

    func didReceiveHead(status: Int, headers: [(name: String, value: String)]) -> Bool {
        self.status = status
        return true
    }

    func didReceive(_ bytes: UnsafeRawBufferPointer) -> Bool { true }

    func shouldContinue() -> Bool { !state.stopping.load(ordering: .relaxed) }
}
