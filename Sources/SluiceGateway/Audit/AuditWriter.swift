import Glibc
import Logging
import SluiceCore
import SluiceRedis

/// Appends one thread's audit records to the stream. Each thread is its own writer
/// (`host:pid:start:thread`) numbering its records, so a record replayed from the spool is
/// never appended twice. The append travels in the same round trip as the request's
/// endpoint-health report; when Redis cannot take it, the record goes to the spool.
final class AuditWriter {
    private let redis: RedisConnection
    private let context: WorkerContext
    let writerId: String
    private var sequence = 0
    private var quietUntil = ContinuousClock.now

    init(redis: RedisConnection, context: WorkerContext, index: Int) {
        self.redis = redis
        self.context = context
        self.writerId = "\(context.hostName):\(getpid()):\(context.loadedAtMs):\(index)"
    }

    /// Writes `record` (numbered here), sending `extras` (other script calls: health report,
    /// settlement) in the same round trip; returns their replies when Redis answered.
    func write(_ record: AuditRecord, with extras: [(script: RedisScript, keys: [String], arguments: [String])]) -> [RedisValue]? {
        sequence += 1
        var record = record
        record.writer = writerId
        record.seq = sequence
        context.metrics.add(MetricsScripts.increments(for: record))
        return append(appendCall(record), with: extras)
    }

    /// Appends an alert (a record of kind `alert`, JSON already made) to the stream.
    func writeAlert(json: String, requestId: String) {
        sequence += 1
        let audit = context.config.audit
        let keys = context.redisKeys
        let call = (AuditScripts.append, [keys.auditStream, keys.auditHead, keys.auditWriters],
                    [String(audit.maxLength), writerId, String(sequence), requestId, "alert", json])
        _ = append(call, with: [])
    }

    private func append(_ append: (script: RedisScript, keys: [String], arguments: [String]),
                        with extras: [(script: RedisScript, keys: [String], arguments: [String])]) -> [RedisValue]? {
        let spool = context.auditSpool
        if spool.hasRecords || ContinuousClock.now < quietUntil {
            spool.append(keys: append.keys, arguments: append.arguments)
            guard !extras.isEmpty, ContinuousClock.now >= quietUntil else { return nil }
            return try? redis.evaluateAll(extras)
        }
        do {
            // Health, settlement and the record: one round trip. The record goes last.
            let replies = try redis.evaluateAll(extras + [append])
            if case .error(let message) = replies.last {
                context.logger.error("Redis refused an audit record; it is spooled", metadata: ["error": "\(message)"])
                spool.append(keys: append.keys, arguments: append.arguments)
            }
            return Array(replies.dropLast())
        } catch {
            quietUntil = ContinuousClock.now + .seconds(1)
            context.logger.error("Redis is unreachable; audit records go to the local spool",
                                 metadata: ["error": "\(error)", "spool": "\(spool.path)"])
            spool.append(keys: append.keys, arguments: append.arguments)
            return nil
        }
    }

    /// The `AuditScripts.append` call for `record`, with its usage totals by route, key,
    /// model and each tag.
    func appendCall(_ record: AuditRecord) -> (script: RedisScript, keys: [String], arguments: [String]) {
        let keys = context.redisKeys
        let day = String(AuditRecord.iso8601(record.timeMs).prefix(10))
        var groups: [(dimension: String, group: String)] = [
            ("route", record.route ?? "-"),
            ("key", record.keyId ?? record.principal.map { "principal:" + $0 } ?? "-"),
            ("model", record.provider.map { p in record.providerModel.map { "\(p)/\($0)" } ?? p } ?? "-"),
        ]
        groups += record.tags.sorted { $0.key < $1.key }.map { ("tag:" + $0.key, $0.value) }
        let audit = context.config.audit
        let arguments = [String(audit.maxLength), record.writer, String(record.seq), record.requestId, "call", record.json,
                         String(record.promptTokens ?? 0), String(record.completionTokens ?? 0),
                         String(Int(((record.cost ?? 0) * 1_000_000).rounded())), String(audit.usageDays * 86_400)]
            + groups.map(\.group)
        return (AuditScripts.append,
                [keys.auditStream, keys.auditHead, keys.auditWriters] + groups.map { keys.usage(day: day, dimension: $0.dimension) },
                arguments)
    }
}

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
        while true {
            let stopping = state.stopping.load(ordering: .acquiring)
            spool.flush()
            let now = ContinuousClock.now
            if spool.hasRecords, now - lastReplay >= .milliseconds(500) || stopping {
                lastReplay = now
                let replayed = spool.replay(redis: redis)
                if replayed > 0 { context.logger.notice("replayed \(replayed) spooled audit records into Redis") }
            }
            if now - lastPublish >= .seconds(1) || stopping {
                lastPublish = now
                publishFigures(redis: redis)
                context.metrics.flush(redis: redis, keys: context.redisKeys)
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
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let ms = Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
        let key = context.redisKeys.metricsProcesses
        _ = try? redis.pipeline([["HSET", key, processName, "\(busy) \(idle) \(context.auditSpool.depth) \(ms)"],
                                 ["EXPIRE", key, "3600"]])
    }
}
