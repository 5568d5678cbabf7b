import Glibc
import Logging
import SluiceCore
import SluiceRedis

/// Keeps the spool durable and empties it: fsyncs pending lines every 200 ms, replays the
/// spool once Redis answers again, and adopts the spools of dead worker processes.
final class AuditSpoolThread: @unchecked Sendable {
    private let context: WorkerContext
    private let state: DrainState

    init(context: WorkerContext, state: DrainState) {
        self.context = context
        self.state = state
    }

    func start() -> Bool {
        return PosixThread.start { self.loop() } != nil
    }

    private func loop() {
        let redis = RedisConnection(config: context.config.redis)
        let spool = context.auditSpool
        var lastAdopt = ContinuousClock.now - .seconds(60)
        var lastReplay = ContinuousClock.now
        var lastPublish = ContinuousClock.now - .seconds(1)
        var lastJournalSync = ContinuousClock.now
        while true {
            let stopping = state.stopping.load(ordering: .acquiring)
            spool.flush()
            let now = ContinuousClock.now
            // The journal matters when a process dies (the page cache keeps it) and, synced,
            // when the machine does: once a second keeps its cost small.
            if now - lastJournalSync >= .seconds(1) || stopping {
                lastJournalSync = now
                context.auditJournal.flush()
            }
            if spool.hasRecords, now - lastReplay >= .milliseconds(500) || stopping {
                lastReplay = now
                let replayed = spool.replay(redis: redis, replicaAcks: context.config.redis.replicaAcks,
                                            ackTimeout: context.config.redis.replicaAckTimeout)
                if replayed > 0 { context.logger.notice("replayed \(replayed) spooled audit records into Redis") }
            }
            if now - lastPublish >= .seconds(1) || stopping {
                lastPublish = now
                publishFigures(redis: redis)
                context.metrics.flush(redis: redis, keys: context.redisKeys, tagValues: context.config.audit.metricTagValues)
            }
            if now - lastAdopt >= .seconds(30) {
                lastAdopt = now
                spool.adoptOrphans(redis: redis)
            }
            if stopping { break }
            usleep(200_000)
        }
        _ = try? redis.command(["HDEL", context.redisKeys.metricsProcesses, processName])
    }

    private var processName: String { "\(context.hostName):\(getpid())" }

    /// This process's busy and idle threads and spool depth, for `/metrics` (pool-wide).
    private func publishFigures(redis: RedisConnection) {
        let busy = context.busyThreads.load(ordering: .relaxed)
        let idle = max(0, context.pipelineCount.load(ordering: .relaxed) - busy)
        let ms = SystemClock().unixMs
        let key = context.redisKeys.metricsProcesses
        _ = try? redis.pipeline([["HSET", key, processName, "\(busy) \(idle) \(context.auditSpool.depth) \(ms)"],
                                 ["EXPIRE", key, "3600"]])
    }
}
