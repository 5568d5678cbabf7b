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
    func snapshot(of endpoints: [EndpointConfig], probeLease: Duration, owner: String, inFlight: Bool = false) -> HealthSnapshot? {
        let call = snapshotCall(of: endpoints, probeLease: probeLease, owner: owner, inFlight: inFlight)
        return snapshot(from: run(call.script, keys: call.keys, arguments: call.arguments), of: endpoints)
    }

    /// The script call `snapshot` makes, for sending it in a pipeline with admission;
    /// `inFlight`: also count the calls in flight to each (`balance: least_busy`).
    func snapshotCall(of endpoints: [EndpointConfig], probeLease: Duration, owner: String,
                      inFlight: Bool = false) -> (script: RedisScript, keys: [String], arguments: [String]) {
        let upstreams = Self.distinct(endpoints.map(\.upstreamKey))
        let arguments = [String(probeLease.wholeMilliseconds), owner]
        guard inFlight else { return (HealthScripts.snapshot, upstreams.map(keys.endpointHealth), arguments) }
        return (HealthScripts.snapshot, upstreams.map(keys.endpointHealth) + upstreams.map(keys.inFlight), arguments + ["busy"])
    }

    /// Counts a call in flight to `upstream` until `release` (or, if this process dies, until
    /// `expiresAtMs`); `false` if Redis did not take it.
    func markInFlight(_ upstream: String, token: String, expiresAtMs: Int64, lifetime: Duration) -> Bool {
        let key = keys.inFlight(upstream)
        // The set itself goes once nothing has been counted in it for a while.
        let ttl = String(lifetime.wholeMilliseconds + 60_000)
        return (try? redis.pipeline([["ZADD", key, String(expiresAtMs), token], ["PEXPIRE", key, ttl]])) != nil
    }

    /// Ends what `markInFlight` counted.
    func release(_ marks: [(upstream: String, token: String)]) {
        guard !marks.isEmpty else { return }
        _ = try? redis.pipeline(marks.map { ["ZREM", keys.inFlight($0.upstream), $0.token] })
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
        return reportCall(attempts.map(ReportEntry.init) + unused.map(ReportEntry.release), owner: owner)
    }

    /// The report calls for many requests at once, with the upstreams each call's reply
    /// names in order. Plain successes of one upstream are summed into one entry, failures
    /// travel one by one, and a request that held probe leases keeps a call of its own (its
    /// lease token goes with it).
    func reportCalls(_ reports: [HealthReport]) -> [(call: (script: RedisScript, keys: [String], arguments: [String]),
                                                     upstreams: [String])] {
        var calls: [(call: (script: RedisScript, keys: [String], arguments: [String]), upstreams: [String])] = []
        var shared: [ReportEntry] = []
        var okIndex: [String: Int] = [:]
        for report in reports {
            if !report.unusedProbes.isEmpty || report.attempts.contains(where: \.wasProbe) {
                let entries = report.attempts.map(ReportEntry.init) + report.unusedProbes.map(ReportEntry.release)
                calls.append((reportCall(entries, owner: report.owner), entries.map(\.upstream)))
                continue
            }
            for attempt in report.attempts {
                if attempt.outcome == .ok, let at = okIndex[attempt.upstream] {
                    shared[at].count += 1
                    shared[at].latencyMs = attempt.latencyMs
                } else {
                    if attempt.outcome == .ok { okIndex[attempt.upstream] = shared.count }
                    shared.append(ReportEntry(attempt))
                }
            }
        }
        if !shared.isEmpty { calls.insert((reportCall(shared, owner: ""), shared.map(\.upstream)), at: 0) }
        return calls
    }

    /// One entry of `HealthScripts.report`.
    private struct ReportEntry {
        var upstream: String
        var outcome: String
        var latencyMs: Int
        var retryAfterMs = 0
        var errorClass = ""
        var probe = false
        var count = 1

        init(upstream: String, outcome: String, latencyMs: Int) {
            self.upstream = upstream
            self.outcome = outcome
            self.latencyMs = latencyMs
        }

        init(_ attempt: AttemptRecord) {
            // No answer at all (the client left first, a drain): nothing learned about the endpoint.
            let outcome = attempt.outcome == .neutral && attempt.status == 0 ? "none" : attempt.outcome.rawValue
            self.init(upstream: attempt.upstream, outcome: outcome, latencyMs: attempt.latencyMs)
            retryAfterMs = attempt.retryAfterMs
            errorClass = attempt.errorClass
            probe = attempt.wasProbe
        }

        /// A probe lease the request did not use, given back.
        static func release(_ upstream: String) -> ReportEntry {
            ReportEntry(upstream: upstream, outcome: "release", latencyMs: 0)
        }
    }

    private func reportCall(_ entries: [ReportEntry], owner: String) -> (script: RedisScript, keys: [String], arguments: [String]) {
        var arguments = [String(policy.window.wholeMilliseconds), String(policy.minCalls), String(policy.failureRatio),
                         String(policy.cooldown.wholeMilliseconds), String(policy.maxCooldown.wholeMilliseconds),
                         String(7 * 24 * 3600)]
        arguments.reserveCapacity(arguments.count + entries.count * 6 + 1)
        for entry in entries {
            arguments += [entry.outcome, String(entry.latencyMs), String(entry.retryAfterMs), entry.errorClass,
                          entry.probe ? "1" : "0", String(entry.count)]
        }
        arguments.append(owner)
        return (HealthScripts.report, entries.map { keys.endpointHealth($0.upstream) }, arguments)
    }

    /// What a `reportCall` reply says changed, by upstream.
    func changes(in reply: RedisValue?, attempts: [AttemptRecord], unused: [String]) -> [(upstream: String, change: String)] {
        changes(in: reply, upstreams: attempts.map(\.upstream) + unused)
    }

    /// What a report reply says changed, for the upstreams its entries named in order.
    func changes(in reply: RedisValue?, upstreams: [String]) -> [(upstream: String, change: String)] {
        guard case .array(let items) = reply else { return [] }
        return zip(upstreams, items).compactMap { upstream, item in
            guard let change = item.text, !change.isEmpty else { return nil }
            return (upstream, change)
        }
    }

    /// Logs what a report changed: a recovery as info, a trip as a warning.
    static func log(_ changes: [(upstream: String, change: String)], to logger: Logger) {
        for change in changes {
            let recovered = change.change == "recovered"
            logger.log(level: recovered ? .info : .warning, recovered ? "endpoint recovered" : "endpoint cooling down",
                       metadata: ["upstream": "\(change.upstream)", "change": "\(change.change)"])
        }
    }

    /// Keep-warm: 0 no ping due (or another responder won), 1 ping, 2 ping as the probe.
    func claimKeepWarm(_ upstream: String, every interval: Duration, probeLease: Duration, owner: String) -> Int {
        run(HealthScripts.keepWarmClaim, keys: [keys.endpointHealth(upstream)],
            arguments: [String(interval.wholeMilliseconds), String(probeLease.wholeMilliseconds), owner])?.integer ?? 0
    }

    /// A token that names one request (or ping) as the holder of probe leases.
    static func newOwner() -> String {
        var generator = SystemRandomNumberGenerator()
        return newOwner(using: &generator)
    }

    /// A token drawn from `generator`.
    static func newOwner<G: RandomNumberGenerator>(using generator: inout G) -> String {
        String(UInt64.random(in: 1...UInt64.max, using: &generator), radix: 36)
    }

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

/// One request's attempts, reported to the shared endpoint health once its response is out.
struct HealthReport {
    var attempts: [AttemptRecord]
    /// Probe leases the request was granted but did not use.
    var unusedProbes: [String]
    /// The request's lease token.
    var owner: String
}
