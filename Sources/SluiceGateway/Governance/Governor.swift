import Logging
import SluiceCore
import SluiceRedis

/// Limits and budgets for one thread's calls: plans what a call reserves, admits it in one
/// Redis round trip shared with the process's other calls (`GovernanceCombiner`, with the
/// endpoint-health snapshot in the same round trip), and builds the call's settlement.
final class Governor {
    typealias ScriptCall = AdmissionPlan.ScriptCall

    /// What admission decided for the call.
    enum Admission {
        /// Admitted (at `atMs` on Redis's clock; `nil` when Redis could not be asked and
        /// nothing was reserved); the headers go on the response.
        case admitted([(name: String, value: String)], atMs: Int?)
        /// Refused by a limit, a budget, or (fail-closed) an unreachable Redis.
        case refused(GatewayError, [(name: String, value: String)])
    }

    /// How long an unsettled budget reservation holds (its responder died).
    static let reservationLifetime = Settlement.reservationLifetime

    private let context: WorkerContext
    /// Budget periods are the wall clock's; the outage log and the local allowance, its instants'.
    private let clock: any GatewayClock
    private var lastOutage: ContinuousClock.Instant?
    private var random = ThreadRandom()

    init(context: WorkerContext, clock: any GatewayClock) {
        self.context = context
        self.clock = clock
    }

    /// The reservations a call of `route` by `caller` with `tags` makes; `nil` when no limit
    /// and no budget applies to it (then admission costs no round trip).
    func plan(for request: APIRequest, route: RouteConfig, caller: Caller, tags: [String: String]) -> AdmissionPlan? {
        let nowMs = clock.unixMs
        let shape = planShape(route: route, caller: caller, tags: tags, nowMs: nowMs)
        guard !shape.counters.isEmpty || !shape.budgets.isEmpty else { return nil }
        let estimate = reservation(for: request)
        var budgets = shape.budgets
        if !budgets.isEmpty {
            let usage = TokenUsage(prompt: estimate.prompt, completion: estimate.completion)
            let worst = shape.prices.map { $0?.costNanos(usage) ?? 0 }.max() ?? 0
            for index in budgets.indices { budgets[index].wantNanos = worst }
        }
        return AdmissionPlan(id: AdmissionPlan.newId(using: &random), counters: shape.counters,
                             reservedTokens: estimate.prompt + estimate.completion, budgets: budgets)
    }

    /// What a call's plan is made of, whatever its size: the same for every call of one
    /// route, caller and tags in one budget period, so this thread keeps it.
    private struct PlanShape {
        var counters: [LimitCounter]
        var budgets: [BudgetCounter]
        /// The price of each of the route's endpoints (the worst one is reserved).
        var prices: [ModelPrice?]
        /// When the earliest of its budget periods ends.
        var validUntilMs: Int64
    }

    private var shapes: [String: PlanShape] = [:]

    private func planShape(route: RouteConfig, caller: Caller, tags: [String: String], nowMs: Int64) -> PlanShape {
        var key = route.name
        key.append("\u{0}")
        key.append(caller.label)
        for tag in tags.sorted(by: { $0.key < $1.key }) {
            key.append("\u{0}")
            key.append(tag.key)
            key.append("=")
            key.append(tag.value)
        }
        if let known = shapes[key], nowMs < known.validUntilMs { return known }
        let config = context.config
        let counters = LimitPlanner.counters(config: config, route: route, caller: caller, tags: tags)
        let budgets = BudgetCounter.counters(config: config, route: route, caller: caller, tags: tags) { budget in
            self.context.budgetPeriods.current(for: budget, nowMs: nowMs)
        }
        let prices = budgets.isEmpty ? [] : route.endpoints.map(price(of:))
        let shape = PlanShape(counters: counters, budgets: budgets, prices: prices,
                              validUntilMs: budgets.map(\.periodEndMs).min() ?? .max)
        if shapes.count >= 512 { shapes.removeAll(keepingCapacity: true) }
        shapes[key] = shape
        return shape
    }

    /// The counters of one endpoint (its `per: endpoint` limits), checked when it is tried.
    func plan(for request: APIRequest, route: RouteConfig, endpoint: EndpointConfig) -> AdmissionPlan? {
        let counters = LimitPlanner.endpointCounters(config: context.config, route: route, endpoint: endpoint)
        guard !counters.isEmpty else { return nil }
        let estimate = reservation(for: request)
        return AdmissionPlan(id: AdmissionPlan.newId(using: &random), counters: counters,
                             reservedTokens: estimate.prompt + estimate.completion, budgets: [])
    }

    /// Tokens reserved before the call: the prompt estimated generously (a token per three
    /// bytes of the request body, which is more than any tokenizer counts for the text in
    /// it) plus the call's output cap (`max_tokens`, else `admission.default_max_tokens`;
    /// none for embeddings).
    func reservation(for request: APIRequest) -> (prompt: Int, completion: Int) {
        let prompt = (request.body.count + 2) / 3
        let completion = request.operation == .embeddings
            ? 0 : request.maxTokens ?? context.config.governance.admission.defaultMaxTokens
        return (prompt, completion)
    }

    /// Runs `plan`'s admission and `extra` (another script call, e.g. the health snapshot)
    /// in one round trip. `extra`'s reply is `nil` when Redis could not be reached.
    ///
    /// A call the process's leases have room for (`Leases`) is admitted here, without asking
    /// Redis (`extra` still goes, alone); any other asks Redis, and asks for the leases its
    /// counters and budgets lack.
    func admit(_ plan: AdmissionPlan, with extra: ScriptCall?) -> (Admission, RedisValue?) {
        let leases = context.leases
        let sent = clock.now
        if let local = leases.admit(plan, at: sent) {
            let reply = extra.map { context.governance.send($0) }
            return (.admitted(RateLimitHeaders(local.states).headers, atMs: local.atMs), reply?.extraReply)
        }
        let (asking, epoch) = leases.ask(for: plan, at: sent)
        let ticket = context.governance.admit(plan, extra: extra, asking: asking)
        // Whatever the call's decision: a lease the reply grants was counted in Redis.
        leases.answered(asking, epoch: epoch, grants: ticket.grants, sent: sent)
        if let failure = ticket.failure { return (unavailable(failure), nil) }
        switch ticket.decision {
        case .admitted(let headers, let atMs):
            return (.admitted(headers.headers, atMs: atMs), ticket.extraReply)
        case .refused(let error, let headers, let retryable):
            let reason = error.code == .budgetExceeded ? "budget" : error.upstreamType ?? "requests"
            context.metrics.add([("sluice_admission_refused_total{reason=\"\(reason)\"}", "1")])
            var out = headers.headers
            if !retryable { out.append(("x-should-retry", "false")) }
            return (.refused(error, out), ticket.extraReply)
        case .unknown:
            return (unavailable(ticket.admitError ?? "unexpected admission reply"), ticket.extraReply)
        }
    }

    /// Redis could not decide: fail open within the process's allowance, or fail closed.
    private func unavailable(_ error: Any) -> Admission {
        let admission = context.config.governance.admission
        let now = clock.now
        if lastOutage.map({ now - $0 >= .seconds(10) }) ?? true {
            lastOutage = now
            context.logger.error("LIMITS AND BUDGETS ARE NOT ENFORCED: Redis cannot be reached for admission",
                                 metadata: ["mode": "\(admission.onRedisError.rawValue)", "error": "\(error)",
                                            "local_allowance": "\(admission.localRequests) per \(DurationText.format(admission.localWindow)) per process"])
        }
        let mode = admission.onRedisError.rawValue
        switch admission.onRedisError {
        case .failOpen where context.localAllowance.take(now: now):
            context.metrics.add([("sluice_admission_redis_unavailable_total{mode=\"\(mode)\",outcome=\"admitted\"}", "1")])
            return .admitted([], atMs: nil)
        case .failOpen:
            context.metrics.add([("sluice_admission_redis_unavailable_total{mode=\"\(mode)\",outcome=\"refused\"}", "1")])
            return .refused(GatewayError(.backendUnavailable,
                                         "Limits cannot be checked right now and this gateway process has used its local allowance; retry shortly.",
                                         retryAfter: 1), [])
        case .failClosed:
            context.metrics.add([("sluice_admission_redis_unavailable_total{mode=\"\(mode)\",outcome=\"refused\"}", "1")])
            return .refused(GatewayError(.backendUnavailable, "Limits cannot be checked right now; retry shortly.",
                                         retryAfter: 1), [])
        }
    }

    /// The settlement of `plan`, admitted at `atMs`, for a call that used `usage` (nil: none)
    /// and cost `costNanos`.
    func settlement(_ plan: AdmissionPlan, admittedAtMs atMs: Int?, usage: TokenUsage?, costNanos: Int64) -> Settlement {
        Settlement(plan: plan, admittedAtMs: atMs, usage: usage, costNanos: costNanos, lifetime: Self.reservationLifetime)
    }

    /// What a call cost at `endpoint`'s price, in nano-dollars; `nil` without a price.
    func cost(of usage: TokenUsage?, at endpoint: EndpointConfig?) -> Int64? {
        guard let usage, let endpoint else { return nil }
        return price(of: endpoint)?.costNanos(usage)
    }

    /// `endpoint`'s price, looked up once by this thread (the table is the config's).
    private func price(of endpoint: EndpointConfig) -> ModelPrice? {
        if let known = prices[endpoint.upstreamKey] { return known }
        let price = context.config.governance.prices.price(provider: endpoint.provider, model: endpoint.model)
        prices[endpoint.upstreamKey] = .some(price)
        return price
    }

    private var prices: [String: ModelPrice?] = [:]

    /// The wall clock in ms since the epoch, for code off the request path.
    static func nowMs() -> Int64 { SystemClock().unixMs }
}

/// A budget threshold reached: logged, appended to the audit stream as a record of kind
/// `alert`, and POSTed to the budget's webhook.
struct BudgetAlert: Sendable {
    var counter: BudgetCounter
    var threshold: Int
    var spentNanos: Int64
    var requestId: String
    var timeMs: Int64

    /// The alert's JSON (audit record and webhook body).
    var json: String {
        let budget = counter.budget
        let fields: [(String, String)] = [
            ("kind", "\"alert\""), ("type", "\"budget_threshold\""), ("time", JSONText.quoted(AuditRecord.iso8601(timeMs))),
            ("ts_ms", String(timeMs)), ("budget", JSONText.quoted(budget.name)), ("per", JSONText.quoted(budget.per.rawValue)),
            ("scope", JSONText.quoted(counter.scopeValue)), ("period", JSONText.quoted(budget.period.rawValue)),
            ("period_start", JSONText.quoted(counter.periodLabel)), ("threshold_percent", String(threshold)),
            ("spent_usd", Money.fixed(Double(spentNanos) / 1e9, 6)),
            ("amount_usd", Money.fixed(Double(budget.amountNanos) / 1e9, 6)),
            ("enforced", budget.enforce ? "true" : "false"), ("request_id", JSONText.quoted(requestId)),
        ]
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    var message: String {
        "\(counter.label) reached \(threshold)%: \(Money.format(nanos: spentNanos)) of \(Money.format(nanos: counter.budget.amountNanos)) this \(counter.budget.period.rawValue)"
    }
}
