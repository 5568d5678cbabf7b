import Foundation
import SluiceCore
import Synchronization

/// The current day, week (ISO, from Monday) or month of a time zone, as start and end in
/// ms since the epoch and a label (`2026-11-26`, `2026-W48`, `2026-11`). Each answer is
/// kept until its period ends, so a request pays for the calendar maths once a period.
/// Public for `sluice usage budgets` (SluiceOps), which reads the counters of these periods.
public final class BudgetPeriods: Sendable {
    public typealias Period = (label: String, startMs: Int64, endMs: Int64)

    private let cache = Mutex<[String: Period]>([:])
    private let defaultZone: String

    public init(defaultZone: String) {
        self.defaultZone = defaultZone
    }

    public func current(for budget: BudgetConfig, nowMs: Int64) -> Period {
        let zone = budget.timeZone ?? defaultZone
        let key = "\(zone)|\(budget.period.rawValue)"
        if let cached = cache.withLock({ $0[key] }), nowMs >= cached.startMs, nowMs < cached.endMs { return cached }
        let period = Self.compute(budget.period, zone: zone, nowMs: nowMs)
        cache.withLock { $0[key] = period }
        return period
    }

    static func compute(_ period: BudgetConfig.Period, zone: String, nowMs: Int64) -> Period {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: zone) ?? TimeZone(identifier: "UTC")!
        let now = Date(timeIntervalSince1970: Double(nowMs) / 1000)
        let component: Calendar.Component = switch period {
        case .day: .day
        case .week: .weekOfYear
        case .month: .month
        }
        guard let interval = calendar.dateInterval(of: component, for: now) else {
            return ("-", nowMs, nowMs + 86_400_000)
        }
        let parts = calendar.dateComponents([.year, .month, .day, .yearForWeekOfYear, .weekOfYear], from: interval.start)
        func two(_ value: Int?) -> String { value.map { $0 < 10 ? "0\($0)" : String($0) } ?? "00" }
        let label: String = switch period {
        case .day: "\(parts.year ?? 0)-\(two(parts.month))-\(two(parts.day))"
        case .week: "\(parts.yearForWeekOfYear ?? 0)-W\(two(parts.weekOfYear))"
        case .month: "\(parts.year ?? 0)-\(two(parts.month))"
        }
        return (label, Int64(interval.start.timeIntervalSince1970 * 1000), Int64(interval.end.timeIntervalSince1970 * 1000))
    }
}

/// While Redis cannot be reached and admission fails open, each process admits at most
/// `admission.local_requests` calls per `local_window` — a small, bounded overshoot instead
/// of either an outage or unlimited spend.
final class LocalAllowance: Sendable {
    private let state = Mutex<(windowStart: ContinuousClock.Instant, used: Int)>((.now, 0))
    private let limit: Int
    private let window: Duration

    init(limit: Int, window: Duration) {
        self.limit = limit
        self.window = window
    }

    /// Takes one call from the allowance; `false` when this window's is used up.
    func take(now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in
            if now - state.windowStart >= window { state = (now, 0) }
            guard state.used < limit else { return false }
            state.used += 1
            return true
        }
    }
}
