import Glibc
import Logging
import SluiceCore
import SluiceHTTP
import Synchronization

/// POSTs budget alerts to their webhooks from a thread of its own, so a slow receiver
/// never holds up a request thread. Each alert is tried up to three times (1 s, 4 s apart);
/// the audit record of kind `alert` is the durable copy either way.
final class AlertNotifier: Sendable {
    private struct Pending {
        var url: String
        var body: String
        var attempts: Int
        var due: ContinuousClock.Instant
    }

    private let queue = Mutex<[Pending]>([])
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// Queues `alert` for its budget's webhook (if it has one); at most 1000 wait.
    func post(_ alert: BudgetAlert) {
        guard let url = alert.counter.budget.webhook else { return }
        queue.withLock { queue in
            if queue.count < 1000 { queue.append(Pending(url: url, body: alert.json, attempts: 0, due: .now)) }
        }
    }

    func start(state: DrainState) -> Bool {
        PosixThread.start { self.loop(state: state) } != nil
    }

    private func loop(state: DrainState) {
        let http = HTTPClient()
        while !state.stopping.load(ordering: .acquiring) || queue.withLock({ !$0.isEmpty }) {
            let now = ContinuousClock.now
            let due = queue.withLock { queue -> Pending? in
                guard let index = queue.firstIndex(where: { $0.due <= now }) else { return nil }
                return queue.remove(at: index)
            }
            guard var pending = due else {
                if state.stopping.load(ordering: .acquiring) { break }
                usleep(100_000)
                continue
            }
            let limits = TransferLimits(connect: .seconds(2), firstByte: .seconds(5), idle: .seconds(5), total: .seconds(10))
            let request = UpstreamRequest(method: .post, url: pending.url,
                                          headers: [("Content-Type", "application/json"), ("User-Agent", "sluice-alerts")],
                                          body: Array(pending.body.utf8), limits: limits)
            let sink = DiscardingHandler()
            let outcome = http.perform(request, handler: sink)
            if case .completed(let status) = outcome, (200..<300).contains(status) { continue }
            pending.attempts += 1
            if pending.attempts < 3 {
                pending.due = ContinuousClock.now + .seconds(pending.attempts == 1 ? 1 : 4)
                let retry = pending
                queue.withLock { $0.append(retry) }
            } else {
                logger.error("budget alert webhook failed three times; the alert is in the audit stream",
                                     metadata: ["outcome": "\(outcome)"])
            }
        }
    }
}

/// Reads and drops a webhook's answer.
private final class DiscardingHandler: UpstreamResponseHandler {
    func didReceiveHead(status: Int, headers: [(name: String, value: String)]) -> Bool { true }
    func didReceive(_ bytes: UnsafeRawBufferPointer) -> Bool { true }
    func shouldContinue() -> Bool { true }
}
