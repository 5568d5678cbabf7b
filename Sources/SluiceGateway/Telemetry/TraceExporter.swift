import Glibc
import Logging
import SluiceCore
import SluiceHTTP

/// Sends finished spans to an OTLP/HTTP collector from a thread of its own: request
/// threads only append to a bounded queue (a full queue drops the spans and counts them),
/// the exporter posts batches of `max_batch` at least every `interval`. Counted in
/// `sluice_otel_spans_total{result=exported|dropped|failed}`.
final class TraceExporter: @unchecked Sendable {
    let config: TelemetryConfig
    private let metrics: MetricsBuffer
    private let logger: Logger
    private let resource: [(key: String, value: SpanData.Value)]
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let arrived = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Guarded by `mutex`.
    private var queue: [SpanData] = []
    private var waiting = false

    init(config: TelemetryConfig, metrics: MetricsBuffer, logger: Logger, hostName: String) {
        self.config = config
        self.metrics = metrics
        self.logger = logger
        resource = [("service.name", .string(config.serviceName)), ("service.version", .string(SluiceVersion.text)),
                    ("host.name", .string(hostName)), ("process.pid", .int(Int64(getpid()))),
                    ("telemetry.sdk.name", .string("sluice")), ("telemetry.sdk.language", .string("swift"))]
        pthread_mutex_init(mutex, nil)
        MonotonicCondition.initialize(arrived)
        queue.reserveCapacity(config.maxBatch)
    }

    deinit {
        pthread_cond_destroy(arrived)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        arrived.deallocate()
    }

    /// Queues a call's spans; drops them (counted) when the queue is full.
    func enqueue(_ spans: [SpanData]) {
        pthread_mutex_lock(mutex)
        let fits = queue.count + spans.count <= config.maxQueue
        if fits { queue += spans }
        let wake = fits && waiting && queue.count >= config.maxBatch
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(arrived) }
        if !fits { metrics.add([("sluice_otel_spans_total{result=\"dropped\"}", String(spans.count))]) }
    }

    func start(state: DrainState) -> Bool {
        PosixThread.start { self.loop(state: state) } != nil
    }

    private func loop(state: DrainState) {
        let http = HTTPClient()
        while true {
            let stopping = state.stopping.load(ordering: .acquiring)
            let batch = take(wait: !stopping)
            if batch.isEmpty {
                if stopping { return }
                continue
            }
            export(batch, http: http)
        }
    }

    /// Up to `max_batch` spans, after waiting up to `interval` for a full batch.
    private func take(wait: Bool) -> [SpanData] {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if wait && queue.count < config.maxBatch {
            waiting = true
            MonotonicCondition.wait(arrived, mutex, for: config.interval)
            waiting = false
        }
        let count = min(queue.count, config.maxBatch)
        let batch = Array(queue.prefix(count))
        queue.removeFirst(count)
        return batch
    }

    /// Posts one batch; a retryable failure (no connection, 429, 502–504) is tried once more.
    private func export(_ batch: [SpanData], http: HTTPClient) {
        let body = OTLPTraces.exportRequest(batch, resource: resource, scopeName: "sluice", scopeVersion: SluiceVersion.text)
        let limits = TransferLimits(connect: min(config.timeout, .seconds(2)), firstByte: config.timeout,
                                    idle: config.timeout, total: config.timeout)
        let headers = [("Content-Type", "application/x-protobuf"), ("User-Agent", "sluice-otlp/\(SluiceVersion.text)")]
            + config.headers.map { ($0.name, $0.value.exposedValue) }
        let request = UpstreamRequest(method: .post, url: config.endpoint, headers: headers, body: body, limits: limits)
        var outcome = http.perform(request, handler: StatusOnly())
        if Self.retryable(outcome) {
            usleep(500_000)
            outcome = http.perform(request, handler: StatusOnly())
        }
        if case .completed(let status) = outcome, (200..<300).contains(status) {
            metrics.add([("sluice_otel_spans_total{result=\"exported\"}", String(batch.count))])
        } else {
            metrics.add([("sluice_otel_spans_total{result=\"failed\"}", String(batch.count))])
            logger.warning("OTLP export failed; spans dropped", metadata: ["spans": "\(batch.count)", "outcome": "\(outcome)"])
        }
    }

    private static func retryable(_ outcome: UpstreamOutcome) -> Bool {
        switch outcome {
        case .completed(let status): [429, 502, 503, 504].contains(status)
        case .failed(.connect, _): true
        case .failed: false
        }
    }
}

/// Reads and drops a collector's answer (its partial-success details are not acted on).
private final class StatusOnly: UpstreamResponseHandler {
    func didReceiveHead(status: Int, headers: [(name: String, value: String)]) -> Bool { true }
    func didReceive(_ bytes: UnsafeRawBufferPointer) -> Bool { true }
    func shouldContinue() -> Bool { true }
}
