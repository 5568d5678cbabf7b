/// The gateway-wide governance settings: limits for every route, required tags, what
/// admission does when Redis cannot be reached, prices and budgets.
public struct GovernanceConfig: Sendable {
    /// `limits:` at the top level: apply to every route.
    public var limits: [LimitConfig]
    /// `required_tags:` at the top level: every call must carry them.
    public var requiredTags: RequiredTags
    public var admission: AdmissionConfig
    public var prices: PriceTable
    /// `budgets:`, by name, in file order.
    public var budgets: [BudgetConfig]
    /// The time zone budget periods are counted in (`budget_time_zone:`, default UTC).
    public var budgetTimeZone: String

    public init(limits: [LimitConfig] = [], requiredTags: RequiredTags = RequiredTags(),
                admission: AdmissionConfig = AdmissionConfig(), prices: PriceTable = PriceTable(),
                budgets: [BudgetConfig] = [], budgetTimeZone: String = "UTC") {
        self.limits = limits
        self.requiredTags = requiredTags
        self.admission = admission
        self.prices = prices
        self.budgets = budgets
        self.budgetTimeZone = budgetTimeZone
    }
}

/// `admission:` — `{on_redis_error: fail_open, local_requests: 60, local_window: 1m, default_max_tokens: 4096}`.
public struct AdmissionConfig: Sendable, Equatable {
    public enum OnRedisError: String, Sendable, CaseIterable {
        /// Admit, within a small per-process allowance, and say so loudly.
        case failOpen = "fail_open"
        /// Refuse with 503 and `Retry-After`.
        case failClosed = "fail_closed"
    }

    public var onRedisError: OnRedisError
    /// Calls each process admits per `localWindow` while failing open.
    public var localRequests: Int
    public var localWindow: Duration
    /// Output tokens reserved for a call that sets no `max_tokens`.
    public var defaultMaxTokens: Int

    public init(onRedisError: OnRedisError = .failOpen, localRequests: Int = 60, localWindow: Duration = .seconds(60),
                defaultMaxTokens: Int = 4096) {
        self.onRedisError = onRedisError
        self.localRequests = localRequests
        self.localWindow = localWindow
        self.defaultMaxTokens = defaultMaxTokens
    }
}

/// `budgets: {NAME: {per: tag, tag: team, value: marketing, amount: 50, period: day, thresholds: [50, 80, 100], enforce: true, webhook: URL}}`.
///
/// A budget is money (US dollars) over a calendar period. `per` says what it is counted
/// for: `tag` (one tag's values, or one value), `key`, `route` or `gateway` (everything).
/// Without `value` / `key` / `route`, each value, key or route has a budget of its own.
public struct BudgetConfig: Sendable, Equatable {
    public enum Scope: String, Sendable, CaseIterable {
        case tag, key, principal, route, gateway
    }

    public enum Period: String, Sendable, CaseIterable {
        case day, week, month
    }

    public var name: String
    public var per: Scope
    /// For `per: tag`: the tag counted.
    public var tag: String?
    /// Only this tag value, key id, principal or route (`nil`: each separately).
    public var value: String?
    /// Nano-dollars (10⁻⁹ USD).
    public var amountNanos: Int64
    public var period: Period
    /// Percentages that raise an alert once per period.
    public var thresholds: [Int]
    /// Refuse calls once the budget is spent (else only alert).
    public var enforce: Bool
    /// Where alerts are POSTed as JSON, if anywhere.
    public var webhook: String?
    /// Overrides the gateway's `budget_time_zone`.
    public var timeZone: String?

    public init(name: String, per: Scope, tag: String? = nil, value: String? = nil, amountNanos: Int64, period: Period,
                thresholds: [Int] = [50, 80, 100], enforce: Bool = true, webhook: String? = nil, timeZone: String? = nil) {
        self.name = name
        self.per = per
        self.tag = tag
        self.value = value
        self.amountNanos = amountNanos
        self.period = period
        self.thresholds = thresholds
        self.enforce = enforce
        self.webhook = webhook
        self.timeZone = timeZone
    }
}
