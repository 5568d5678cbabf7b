/// Which endpoint a call tries next, after how long, and when it stops: a route's fallback
/// as a pure state machine. The pipeline asks `next(elapsed:)` for an action, performs it
/// (checks the endpoint's own limits, calls it) and reports what happened with `record(_:)`;
/// nothing here touches a socket or a clock, so every path is unit-tested.
///
/// The rules:
/// - Endpoints are tried in plan order, round after round, until the route's attempts are
///   used (`retry.attempts`, else one per endpoint) or no endpoint is left.
/// - An endpoint refused by its own limits, and every endpoint of a provider whose quota is
///   spent, is left out for the rest of the call.
/// - A first round calls at once and checks the endpoint's own (`per: endpoint`) limits.
///   A later round waits first: 200 ms doubling per round (at most 12.8 s), or as long as
///   the provider asked (`Retry-After`, a spent quota at least a minute), whichever is
///   longer. It stops instead when that wait is longer than `retry.max_wait` or would reach
///   the route's deadline.
/// - With a deadline, an attempt gets the time that is left; with a millisecond or less
///   left, the call stops.
public struct AttemptMachine: Sendable {
    /// What the machine knows of an endpoint of the plan.
    public struct Target: Sendable, Equatable {
        public var name: String
        public var provider: String

        public init(name: String, provider: String) {
            self.name = name
            self.provider = provider
        }
    }

    public enum Action: Sendable, Equatable {
        /// Call `plan[index]` after waiting `wait` (zero in the first round). In the first
        /// round (`checkLimits`), the endpoint's own limits are checked first.
        case call(index: Int, wait: Duration, checkLimits: Bool)
        /// Stop and answer the last error.
        case stop(StopReason)
    }

    public enum StopReason: Sendable, Equatable {
        /// The route's attempts are used.
        case attemptsUsed
        /// Every endpoint is left out (its limits refused the call, or its provider's quota is spent).
        case nothingLeft
        /// The next wait is longer than the route's `retry.max_wait`.
        case waitTooLong
        /// The route's deadline would pass before the next attempt could start.
        case deadline
    }

    public enum Event: Sendable, Equatable {
        /// `plan[index]`'s own limits refused the call: it was not called, and is left out.
        case refusedByLimits(index: Int)
        /// `plan[index]` was called and failed in a way the route moves on from. The
        /// provider answered asking to wait `retryAfterMs` (0: it did not ask; `nil`: it did
        /// not answer, and what it asked before stands); `quotaExhausted`: its account's
        /// quota is spent, so its provider is left out.
        case failed(index: Int, retryAfterMs: Int?, quotaExhausted: Bool)
    }

    public let plan: [Target]
    public let maxAttempts: Int
    public let maxWait: Duration
    /// The route's deadline, from the call's start.
    public let deadline: Duration?
    /// Attempts made (endpoints called).
    public private(set) var attempts = 0
    private var cursor = 0
    private var refused = Set<String>()
    private var exhaustedProviders = Set<String>()
    private var retryAfterMs: [String: Int] = [:]

    public init(plan: [Target], maxAttempts: Int?, maxWait: Duration, deadline: Duration?) {
        self.plan = plan
        self.maxAttempts = maxAttempts ?? plan.count
        self.maxWait = maxWait
        self.deadline = deadline
    }

    /// The wait before a call in round `round` (1 is the second round): 200 ms doubling.
    public static func backoff(round: Int) -> Duration {
        .milliseconds(200 * (1 << min(max(round - 1, 0), 6)))
    }

    /// What to do next, `elapsed` after the call started.
    public mutating func next(elapsed: Duration) -> Action {
        while true {
            guard attempts < maxAttempts else { return .stop(.attemptsUsed) }
            guard plan.contains(where: isAvailable) else { return .stop(.nothingLeft) }
            let index = cursor % plan.count
            let round = cursor / plan.count
            cursor += 1
            let target = plan[index]
            guard isAvailable(target) else { continue }
            guard round > 0 else { return .call(index: index, wait: .zero, checkLimits: true) }
            let wait = max(Self.backoff(round: round), .milliseconds(retryAfterMs[target.name] ?? 0))
            if wait > maxWait { return .stop(.waitTooLong) }
            if let deadline, elapsed + wait >= deadline { return .stop(.deadline) }
            return .call(index: index, wait: wait, checkLimits: false)
        }
    }

    /// The time an attempt starting `elapsed` after the call's start may take: `nil` without
    /// a deadline, `.zero` when a millisecond or less is left (the call stops).
    public func timeLeft(elapsed: Duration) -> Duration? {
        guard let deadline else { return nil }
        let left = deadline - elapsed
        return left > .milliseconds(1) ? left : .zero
    }

    public mutating func record(_ event: Event) {
        switch event {
        case .refusedByLimits(let index):
            refused.insert(plan[index].name)
        case .failed(let index, let wait, let quotaExhausted):
            attempts += 1
            if let wait { retryAfterMs[plan[index].name] = wait }
            if quotaExhausted { retryAfterMs[plan[index].name] = max(wait ?? 0, 60_000) }
            if quotaExhausted { exhaustedProviders.insert(plan[index].provider) }
        }
    }

    private func isAvailable(_ target: Target) -> Bool {
        !refused.contains(target.name) && !exhaustedProviders.contains(target.provider)
    }
}
