import Logging
import SluiceCore
import SluiceRedis

/// Shared endpoint health, read and written through one thread's Redis connection: one
/// script call before a request (the route's states, probe lease included) and one after
/// (every attempt's outcome). Health is advisory: when Redis cannot be reached every
/// endpoint counts as healthy, and the connection is left alone for a second so a dead
/// Redis does not add its timeout to every call.
final class EndpointHealthStore {
    private let redis: RedisConnection
    private let keys: RedisKeys
    private let policy: HealthPolicy
    private let logger: Logger
    private var quietUntil = ContinuousClock.now
    private var lastWarning: ContinuousClock.Instant?

    init(redis: RedisConnection, keys: RedisKeys, policy: HealthPolicy, logger: Logger) {
        self.redis = redis
        self.keys = keys
        self.policy = policy
        self.logger = logger
    }

    /// The route's upstreams now; probe leases last `probeLease` and are held by `owner`.
    /// `nil` when Redis is unavailable.
    func snapshot(of endpoints: [EndpointConfig], probeLease: Duration, owner: String) -> HealthSnapshot? {
        let call = snapshotCall(of: endpoints, probeLease: probeLease, owner: owner)
        return snapshot(from: run(call.script, keys: call.keys, arguments: call.arguments), of: endpoints)
    }

    /// The script call `snapshot` makes, for sending it in a pipeline with admission.
    func snapshotCall(of endpoints: [EndpointConfig], probeLease: Duration,
                      owner: String) -> (script: RedisScript, keys: [String], arguments: [String]) {
        let upstreams = Self.distinct(endpoints.map(\.upstreamKey))
        return (HealthScripts.snapshot, upstreams.map(keys.endpointHealth), [String(probeLease.wholeMilliseconds), owner])
    }

    /// What a `snapshotCall` reply says; `nil` for no (or an error) reply.
    func snapshot(from reply: RedisValue?, of endpoints: [EndpointConfig]) -> HealthSnapshot? {
        guard case .array(let items) = reply else { return nil }
        return HealthSnapshot.parse(items.compactMap(\.integer), upstreams: Self.distinct(endpoints.map(\.upstreamKey)))
    }

    /// Records every attempt of a request and gives back the probe leases `owner` did not use.
    /// Returns what changed (`tripped:<ms>` / `recovered`) by upstream, for logging.
    @discardableResult
    func report(_ attempts: [AttemptRecord], releasing unused: [String], owner: String) -> [(upstream: String, change: String)] {
        guard let call = reportCall(attempts, releasing: unused, owner: owner) else { return [] }
        return changes(in: run(call.script, keys: call.keys, arguments: call.arguments), attempts: attempts, unused: unused)
    }

    /// The script call that `report` makes, for sending it in a pipeline with other work.
    func reportCall(_ attempts: [AttemptRecord], releasing unused: [String],
                    owner: String) -> (script: RedisScript, keys: [String], arguments: [String])? {
        guard !attempts.isEmpty || !unused.isEmpty else { return nil }
        let upstreams = attempts.map(\.upstream) + unused
        var arguments = [String(policy.window.wholeMilliseconds), String(policy.minCalls), String(policy.failureRatio),
                         String(policy.cooldown.wholeMilliseconds), String(policy.maxCooldown.wholeMilliseconds),
                         String(7 * 24 * 3600)]
        for attempt in attempts {
            // No answer at all (the client left first, a drain): nothing learned about the endpoint.
            let outcome = attempt.outcome == .neutral && attempt.status == 0 ? "none" : attempt.outcome.rawValue
            arguments += [outcome, String(attempt.latencyMs), String(attempt.retryAfterMs), attempt.errorClass,
                          attempt.wasProbe ? "1" : "0"]
        }
        for _ in unused { arguments += ["release", "0", "0", "", "0"] }
        arguments.append(owner)
        return (HealthScripts.report, upstreams.map(keys.endpointHealth), arguments)
    }

    /// What a `reportCall` reply says changed, by upstream.
    func changes(in reply: RedisValue?, attempts: [AttemptRecord], unused: [String]) -> [(upstream: String, change: String)] {
        guard case .array(let items) = reply else { return [] }
        return zip(attempts.map(\.upstream) + unused, items).compactMap { upstream, item in
            guard let change = item.text, !change.isEmpty else { return nil }
            return (upstream, change)
        }
    }

    /// Keep-warm: 0 no ping due (or another responder won), 1 ping, 2 ping as the probe.
    func claimKeepWarm(_ upstream: String, every interval: Duration, probeLease: Duration, owner: String) -> Int {
        run(HealthScripts.keepWarmClaim, keys: [keys.endpointHealth(upstream)],
            arguments: [String(interval.wholeMilliseconds), String(probeLease.wholeMilliseconds), owner])?.integer ?? 0
    }

    /// A token that names one request (or ping) as the holder of probe leases.
    static func newOwner() -> String { String(UInt64.random(in: 1...UInt64.max), radix: 36) }

    private func run(_ script: RedisScript, keys: [String], arguments: [String]) -> RedisValue? {
        let now = ContinuousClock.now
        guard now >= quietUntil else { return nil }
        do {
            return try redis.evaluate(script, keys: keys, arguments: arguments)
        } catch {
            if error.kind == .connection { quietUntil = now + .seconds(1) }
            if lastWarning.map({ now - $0 > .seconds(10) }) ?? true {
                lastWarning = now
                logger.warning("endpoint health is unavailable; treating every endpoint as healthy",
                               metadata: ["error": "\(error)"])
            }
            return nil
        }
    }

    private static func distinct(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }
}
