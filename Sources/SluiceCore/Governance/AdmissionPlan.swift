/// One budget counter a call is charged to: a budget, the value it counts for, and the
/// period it falls in.
public struct BudgetCounter: Sendable, Equatable {
    public var budget: BudgetConfig
    /// `team=marketing`, a key id, a principal, a route, or `*` for `per: gateway`.
    public var scopeValue: String
    /// Start of the period, as the budget's time zone reads it (`2026-11-26`, `2026-W48`, `2026-11`).
    public var periodLabel: String
    public var periodStartMs: Int64
    public var periodEndMs: Int64
    /// The call's worst-case cost, reserved at admission.
    public var wantNanos: Int64 = 0

    public init(budget: BudgetConfig, scopeValue: String, periodLabel: String, periodStartMs: Int64, periodEndMs: Int64) {
        self.budget = budget
        self.scopeValue = scopeValue
        self.periodLabel = periodLabel
        self.periodStartMs = periodStartMs
        self.periodEndMs = periodEndMs
    }

    /// The counter's name under `RedisKeys.budget`.
    public var name: String { "\(budget.name)|\(scopeValue)|\(periodLabel)" }

    /// `budget 'marketing-daily' for team=marketing`.
    public var label: String {
        "budget '\(budget.name)'" + (scopeValue == "*" ? "" : " for \(scopeValue)")
    }

    /// Counters live a week past their period, for reports.
    public var expireAtMs: Int64 { periodEndMs + 7 * 86_400_000 }

    /// What `LimitScripts.settle` stores as `about`: `name|scope|value|start|end`.
    public var about: String {
        "\(budget.name)|\(budget.per.rawValue)|\(scopeValue)|\(periodStartMs)|\(periodEndMs)"
    }

    /// The budgets of `config` that a call of `route` by `caller` with `tags` is charged to.
    /// `period` gives each budget's current period (label, start, end in ms).
    public static func counters(config: GatewayConfig, route: RouteConfig, caller: Caller, tags: [String: String],
                                period: (BudgetConfig) -> (label: String, startMs: Int64, endMs: Int64)) -> [BudgetCounter] {
        config.governance.budgets.compactMap { budget in
            let value: String?
            switch budget.per {
            case .gateway: value = "*"
            case .route: value = route.name
            case .key:
                if case .key(let record) = caller { value = record.id } else { value = nil }
            case .principal:
                if case .principal(let name, _) = caller { value = name } else { value = nil }
            case .tag:
                value = budget.tag.flatMap { tags[$0] }
            }
            guard let value, budget.value == nil || budget.value == value else { return nil }
            let scope = budget.per == .tag ? "\(budget.tag ?? "")=\(value)" : value
            let current = period(budget)
            return BudgetCounter(budget: budget, scopeValue: scope, periodLabel: current.label,
                                 periodStartMs: current.startMs, periodEndMs: current.endMs)
        }
    }
}

/// Everything one call reserves at admission and settles afterwards: its limit counters
/// (one request, or its estimated tokens) and its budgets (its worst-case cost).
public struct AdmissionPlan: Sendable {
    public typealias ScriptCall = (script: RedisScript, keys: [String], arguments: [String])

    /// Names the call (for logs and tests); reservations are counted per bucket, not per id.
    public let id: String
    public var counters: [LimitCounter]
    /// What each counter reserves: 1 for request counters, the token estimate for token ones.
    public var amounts: [Int]
    public var budgets: [BudgetCounter]

    public init(id: String, counters: [LimitCounter], reservedTokens: Int, budgets: [BudgetCounter]) {
        self.id = id
        self.counters = counters
        self.amounts = counters.map { $0.kind == .requests ? 1 : reservedTokens }
        self.budgets = budgets
    }

    public var isEmpty: Bool { counters.isEmpty && budgets.isEmpty }

    /// What a call answered from the response cache reserves: its request counters alone
    /// (a hit uses no tokens and costs nothing); `nil` when it has none (then a hit needs no
    /// admission round trip).
    public var forCacheHit: AdmissionPlan? {
        let requests = counters.filter { $0.kind == .requests }
        guard !requests.isEmpty else { return nil }
        return AdmissionPlan(id: id, counters: requests, reservedTokens: 0, budgets: [])
    }

    /// A fresh call id.
    public static func newId() -> String {
        var generator = SystemRandomNumberGenerator()
        return newId(using: &generator)
    }

    /// A fresh call id drawn from `generator`.
    public static func newId<G: RandomNumberGenerator>(using generator: inout G) -> String {
        "r:" + String(UInt64.random(in: 1...UInt64.max, using: &generator), radix: 36)
    }

    /// What this plan's admission reply (`LimitScripts.admit`, one call's array) says.
    public func decision(_ reply: [Int]) -> AdmissionDecision {
        guard reply.count >= 2 else { return .unknown }
        let now = reply[1]
        if reply[0] == 1 {
            var states: [RateLimitState] = []
            for (index, counter) in counters.enumerated() where reply.count >= 4 + index * 2 {
                let total = reply[2 + index * 2]
                states.append(RateLimitState(counter: counter, remaining: max(0, counter.limit - total),
                                             resetMs: max(0, reply[3 + index * 2])))
            }
            return .admitted(RateLimitHeaders(states), atMs: now)
        }
        guard reply.count >= 6 else { return .unknown }
        let index = reply[3] - 1
        if reply[2] == 1, counters.indices.contains(index) {
            let counter = counters[index]
            let wait = reply[4]
            let seconds = (wait + 999) / 1000
            let message: String
            if amounts[index] > counter.limit {
                message = "Request too large: it needs \(amounts[index]) tokens (the estimated prompt plus max_tokens), "
                    + "more than the limit of \(counter.label) allows. Lower max_tokens or the prompt size."
            } else {
                let used = reply[5]
                message = "Rate limit reached: \(counter.label). Used \(used) of \(counter.limit), requested \(amounts[index]). "
                    + "Please try again in \(RateLimitHeaders.format(ms: wait))."
            }
            let state = RateLimitState(counter: counter, remaining: max(0, counter.limit - reply[5]), resetMs: wait)
            let error = GatewayError(rateLimited: message, type: counter.kind.rawValue, retryAfter: max(1, seconds))
            return .refused(error, RateLimitHeaders([state]), retryable: amounts[index] <= counter.limit)
        }
        let budgetIndex = index
        guard budgets.indices.contains(budgetIndex) else { return .unknown }
        let budget = budgets[budgetIndex]
        let spent = reply[4]
        let reserved = reply[5]
        let amount = budget.budget.amountNanos
        let resetSeconds = max(1, Int((budget.periodEndMs - Int64(now) + 999) / 1000))
        let exhausted = Int64(spent) >= amount
        let detail = exhausted
            ? "is exhausted: \(Money.format(nanos: Int64(spent))) of \(Money.format(nanos: amount)) spent this \(budget.budget.period.rawValue)"
            : "cannot cover this call: \(Money.format(nanos: Int64(spent))) spent and \(Money.format(nanos: Int64(reserved))) reserved by calls in flight, of \(Money.format(nanos: amount)) this \(budget.budget.period.rawValue)"
        let message = "The \(budget.label) \(detail)."
            + (exhausted ? " It resets at the start of the next \(budget.budget.period.rawValue)." : " Retry shortly.")
        let error = GatewayError(.budgetExceeded, message, retryAfter: exhausted ? resetSeconds : 1)
        return .refused(error, RateLimitHeaders([]), retryable: !exhausted)
    }
}

/// What admission decided.
public enum AdmissionDecision: Sendable {
    /// Admitted at `atMs` on Redis's clock (which names the buckets the call reserved in).
    case admitted(RateLimitHeaders, atMs: Int)
    /// `retryable` is false when waiting will not help soon (the budget is spent, or the
    /// call alone is larger than the limit): clients are told not to retry.
    case refused(GatewayError, RateLimitHeaders, retryable: Bool)
    /// The reply made no sense (treated like an unreachable Redis).
    case unknown
}

/// A counter's state after admission.
public struct RateLimitState: Sendable {
    public var counter: LimitCounter
    public var remaining: Int
    /// Until the oldest reservation leaves the window (when `remaining` grows again).
    public var resetMs: Int
}

/// OpenAI's `x-ratelimit-*` headers from the tightest request and token counters.
public struct RateLimitHeaders: Sendable {
    public var states: [RateLimitState]

    public init(_ states: [RateLimitState]) {
        self.states = states
    }

    /// `x-ratelimit-limit-requests`, `-remaining-requests`, `-reset-requests`, and the
    /// same for tokens, each from the counter of that kind with the least remaining.
    public var headers: [(name: String, value: String)] {
        var out: [(name: String, value: String)] = []
        for kind in [LimitCounter.Kind.requests, .tokens] {
            var tightest: RateLimitState?
            for state in states where state.counter.kind == kind {
                if let least = tightest, (least.remaining, least.resetMs) <= (state.remaining, state.resetMs) { continue }
                tightest = state
            }
            guard let tightest else { continue }
            // The names as literals: these headers go out with every call.
            let requests = kind == .requests
            out.append((requests ? "x-ratelimit-limit-requests" : "x-ratelimit-limit-tokens", String(tightest.counter.limit)))
            out.append((requests ? "x-ratelimit-remaining-requests" : "x-ratelimit-remaining-tokens",
                        String(tightest.remaining)))
            out.append((requests ? "x-ratelimit-reset-requests" : "x-ratelimit-reset-tokens", Self.format(ms: tightest.resetMs)))
        }
        return out
    }

    /// A duration as OpenAI writes it in `x-ratelimit-reset-*`: `120ms`, `1.5s`, `6m0s`, `1h2m3s`.
    public static func format(ms: Int) -> String {
        if ms < 1000 { return "\(max(ms, 0))ms" }
        if ms < 60_000 {
            let tenths = (ms + 99) / 100
            return tenths % 10 == 0 ? "\(tenths / 10)s" : "\(tenths / 10).\(tenths % 10)s"
        }
        let seconds = (ms + 999) / 1000
        let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60)
        return h > 0 ? "\(h)h\(m)m\(s)s" : "\(m)m\(s)s"
    }
}

/// Money as the gateway counts it: integer nano-dollars (10⁻⁹ USD).
public enum Money {
    /// `$12.34`, or more decimals for small amounts (`$0.000150`).
    public static func format(nanos: Int64) -> String {
        let dollars = Double(nanos) / 1e9
        if dollars == 0 { return "$0.00" }
        if abs(dollars) >= 1 { return "$" + fixed(dollars, 2) }
        return "$" + fixed(dollars, 6)
    }

    /// `value` with `places` decimals, without Foundation.
    public static func fixed(_ value: Double, _ places: Int) -> String {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = Int64((abs(value) * scale).rounded())
        let whole = scaled / Int64(scale)
        var fraction = String(scaled % Int64(scale))
        while fraction.count < places { fraction = "0" + fraction }
        return (value < 0 ? "-" : "") + String(whole) + (places > 0 ? "." + fraction : "")
    }

    /// Dollars (as written in the config) to nano-dollars.
    public static func nanos(dollars: Double) -> Int64 { Int64((dollars * 1e9).rounded()) }
}
