import Glibc
import Logging
import SluiceCore
import SluiceGateway
import SluiceRedis

/// `sluice audit drain`: moves audit entries from the Redis stream to durable storage, at
/// least once.
///
/// The drainer is one consumer of a consumer group on the audit stream
/// (https://redis.io/docs/latest/develop/data-types/streams/#consumer-groups):
///
/// 1. It reads new entries (`XREADGROUP … >`), writes the batch to the destination, and
///    acknowledges the entries (`XACK`) only once the destination made them durable. An
///    entry read but not acknowledged stays pending in the group, owned by this consumer.
/// 2. On start and every few seconds it takes over entries pending for longer than
///    `claimIdle` (`XAUTOCLAIM`), whoever owns them: a drainer that crashed or was killed
///    leaves its batch pending, and the next sweep stores it again. Destinations are
///    idempotent (PostgreSQL) or tolerate duplicates (files).
/// 3. A record that is not a JSON object goes to the dead-letter stream at once. One the
///    destination rejects stays pending and is tried again after `claimIdle`; the delivery
///    that reaches `maxDeliveries` (XPENDING's delivery counter) and still fails sends it
///    to the dead letters, as does a claimed entry delivered more often than that (a
///    record that kept killing drainers). A dead letter keeps the entry's fields and adds
///    `error` and `source_id`; it is added and the entry acknowledged in one MULTI/EXEC.
/// 4. When the destination or Redis is unreachable, the drainer keeps its batch, waits
///    (1 s, doubling to 30 s) and tries again, renewing its claim on the batch
///    (`XCLAIM … JUSTID`, which does not count as a delivery); `--once` fails instead.
public final class AuditDrainer {
    /// How the drainer reads and retries.
    public struct Options: Sendable {
        /// The consumer group; every drainer of one stream should use the same one.
        public var group: String
        /// This drainer's name in the group; unique per running drainer.
        public var consumer: String
        /// Entries read, written and acknowledged together.
        public var batch: Int
        /// How long one read waits for new entries.
        public var block: Duration
        /// Pending entries idle for longer than this are taken over from their consumer.
        public var claimIdle: Duration
        /// Deliveries an entry gets before a failing one goes to the dead letters.
        public var maxDeliveries: Int

        public init(group: String = "drain", consumer: String, batch: Int = 100, block: Duration = .seconds(2),
                    claimIdle: Duration = .seconds(60), maxDeliveries: Int = 5) {
            self.group = group
            self.consumer = consumer
            self.batch = batch
            self.block = block
            self.claimIdle = claimIdle
            self.maxDeliveries = maxDeliveries
        }
    }

    /// What a run did.
    public struct Summary: Sendable, Equatable, CustomStringConvertible {
        /// New entries read.
        public var read = 0
        /// Pending entries taken over after `claimIdle`.
        public var claimed = 0
        /// Entries the destination made durable and that were acknowledged.
        public var stored = 0
        /// Of `stored`: entries the destination already had (an earlier delivery stored them).
        public var alreadyStored = 0
        /// Entries moved to the dead-letter stream.
        public var deadLettered = 0
        /// Entries the destination rejected, left pending for a later delivery.
        public var deferred = 0
        /// Pending entries trimmed from the stream (`MAXLEN`) before they were stored: lost.
        public var trimmed = 0

        public init() {}

        public var description: String {
            "read \(read), claimed \(claimed), stored \(stored) (\(alreadyStored) already stored), "
                + "dead-lettered \(deadLettered), deferred \(deferred), trimmed before drained \(trimmed)"
        }
    }

    private let keys: RedisKeys
    private let destination: any AuditDestination
    private let options: Options
    private let logger: Logger
    /// Commands, with the configured timeout.
    private let redis: RedisConnection
    /// Blocking reads, with a timeout above `options.block`.
    private let reader: RedisConnection
    private var summary = Summary()
    /// Entries stored whose XACK failed; acknowledged before the next read.
    private var unacknowledged: [String] = []
    private var stopRequested: () -> Bool = { false }
    private var stopping = false

    private static let firstRetry = Duration.seconds(1)
    private static let lastRetry = Duration.seconds(30)
    private static let reportEvery = Duration.seconds(60)

    public init(redis config: RedisConfig, keys: RedisKeys, destination: any AuditDestination, options: Options,
                logger: Logger = Logger(label: "audit-drain")) {
        self.keys = keys
        self.destination = destination
        self.options = options
        self.logger = logger
        redis = RedisConnection(config: config)
        var blocking = config
        blocking.timeout = config.timeout + options.block
        reader = RedisConnection(config: blocking)
    }

    /// Blocks SIGINT and SIGTERM in the calling thread (call it before starting threads) and
    /// returns a check that is true once one of them arrived: pass it to `run`.
    public static func stopOnTerminationSignals() -> () -> Bool {
        Signals.block([SIGINT, SIGTERM])
        return { Signals.wait(for: [SIGINT, SIGTERM], timeout: .zero) != nil }
    }

    /// Drains until `stopRequested` returns true (checked between batches and while
    /// waiting), then finishes the batch in hand, acknowledges it and returns. With `once`,
    /// drains what the stream holds when it starts (new entries, and pending ones idle for
    /// longer than `claimIdle`) and returns; any failure is thrown instead of retried.
    @discardableResult
    public func run(once: Bool, stopRequested: @escaping () -> Bool = { false }) throws -> Summary {
        self.stopRequested = stopRequested
        stopping = false
        summary = Summary()
        logger.info("draining \(keys.auditStream) to \(destination.displayName)",
                    metadata: ["group": "\(options.group)", "consumer": "\(options.consumer)"])
        let clock = ContinuousClock()
        let claimEvery = max(.milliseconds(500), min(options.claimIdle / 2, .seconds(30)))
        var nextClaim = clock.now
        var nextReport = clock.now + Self.reportEvery
        var reported = summary
        var retry = Self.firstRetry
        var needsSetup = true
        var lastId: StreamId?
        defer { finish() }
        while !shouldStop() {
            do {
                if needsSetup {
                    try createGroup()
                    try destination.prepare()
                    needsSetup = false
                    if once { lastId = try newestId() }
                }
                try acknowledgeLeftovers()
                if clock.now >= nextClaim {
                    try claimIdleEntries(once: once)
                    nextClaim = clock.now + claimEvery
                }
                let more = try drainNewEntries(once: once, until: lastId)
                retry = Self.firstRetry
                if once && !more { break }
            } catch {
                guard !once, Self.isTransient(error) else { throw error }
                logger.warning("\(error); trying again in \(DurationText.format(retry))")
                needsSetup = true
                guard pause(retry) else { break }
                retry = min(retry * 2, Self.lastRetry)
            }
            if !once && clock.now >= nextReport {
                if summary != reported { logger.info("so far: \(summary)") }
                reported = summary
                nextReport = clock.now + Self.reportEvery
            }
        }
        logger.info("\(once ? "drained" : "stopped"): \(summary)")
        return summary
    }

    // MARK: Reading

    /// Reads and stores one batch of new entries; false when there was nothing (more) to read.
    private func drainNewEntries(once: Bool, until lastId: StreamId?) throws -> Bool {
        if once, lastId == nil { return false }  // the stream was empty at the start
        var command = ["XREADGROUP", "GROUP", options.group, options.consumer, "COUNT", String(options.batch)]
        if !once { command += ["BLOCK", String(max(1, options.block.wholeMilliseconds))] }
        let reply = try reader.checked(command + ["STREAMS", keys.auditStream, ">"])
        let entries = try Self.readGroupEntries(reply).map { RawEntry(id: $0.id, fields: $0.fields, deliveries: 1) }
        guard !entries.isEmpty else { return false }
        summary.read += entries.count
        try process(entries, once: once)
        if once, let lastId, let newest = entries.last.flatMap({ StreamId($0.id) }), newest >= lastId { return false }
        return true
    }

    /// Takes over every entry pending for longer than `claimIdle` and stores it.
    private func claimIdleEntries(once: Bool) throws {
        var cursor = "0-0"
        repeat {
            let reply = try redis.checked(["XAUTOCLAIM", keys.auditStream, options.group, options.consumer,
                                           String(options.claimIdle.wholeMilliseconds), cursor,
                                           "COUNT", String(options.batch)])
            guard case .array(let parts) = reply, parts.count >= 2, let next = parts[0].text else {
                throw RedisError(.protocolMismatch, "unexpected reply to XAUTOCLAIM")
            }
            // Redis 7 lists entries deleted from the stream while pending (and drops them
            // from the group); 6.2 returns them with nil fields, which `process` handles.
            if parts.count > 2, case .array(let deleted) = parts[2], !deleted.isEmpty {
                reportTrimmed(deleted.count)
            }
            let claimed = try Self.entries(parts[1])
            if !claimed.isEmpty {
                let counts = try deliveryCounts(claimed.map(\.id))
                let entries = zip(claimed, counts).compactMap { entry, count in
                    count.map { RawEntry(id: entry.id, fields: entry.fields, deliveries: $0) }
                }
                summary.claimed += entries.count
                logger.info("claimed \(entries.count) entries pending for more than \(DurationText.format(options.claimIdle))")
                try process(entries, once: once)
            }
            cursor = next
        } while cursor != "0-0" && !shouldStop()
    }

    /// Each entry's delivery count (XPENDING), or nil when it is no longer pending.
    private func deliveryCounts(_ ids: [String]) throws(RedisError) -> [Int?] {
        let replies = try redis.pipeline(ids.map { ["XPENDING", keys.auditStream, options.group, $0, $0, "1"] },
                                         idempotent: true)
        return replies.map { reply in
            guard case .array(let rows) = reply, case .array(let row)? = rows.first, row.count >= 4 else { return nil }
            return row[3].integer
        }
    }

    /// The newest entry's id when the run starts (where `--once` stops), nil if the stream is empty.
    private func newestId() throws(RedisError) -> StreamId? {
        let reply = try redis.checked(["XREVRANGE", keys.auditStream, "+", "-", "COUNT", "1"], idempotent: true)
        return try Self.entries(reply).first.flatMap { StreamId($0.id) }
    }

    // MARK: Storing

    /// Sends malformed and over-delivered entries to the dead letters and stores the rest.
    private func process(_ raw: [RawEntry], once: Bool) throws {
        var entries: [Entry] = []
        for item in raw {
            guard let fields = item.fields else {
                try acknowledge([item.id], once: once)
                reportTrimmed(1)
                continue
            }
            if item.deliveries > options.maxDeliveries {
                try deadLetter(item.id, fields: fields,
                               reason: "delivered \(item.deliveries) times without being stored")
                continue
            }
            switch Entry.make(id: item.id, fields: fields, deliveries: item.deliveries) {
            case .success(let entry): entries.append(entry)
            case .failure(let malformed): try deadLetter(item.id, fields: fields, reason: malformed.reason)
            }
        }
        if !entries.isEmpty { try store(entries, once: once) }
    }

    /// Writes `entries` to the destination and acknowledges them. A rejected batch is tried
    /// entry by entry; an unavailable destination is waited for (unless `once`).
    private func store(_ entries: [Entry], once: Bool) throws {
        var retry = Self.firstRetry
        while true {
            switch Result(catching: { () throws(AuditDestinationError) in try destination.write(entries) }) {
            case .success(let fresh):
                summary.stored += entries.count
                summary.alreadyStored += fresh.map { entries.count - $0 } ?? 0
                logger.debug("stored \(entries.count) entries (\(entries[0].streamId) … \(entries[entries.count - 1].streamId))")
                try acknowledge(entries.map(\.streamId), once: once)
                return
            case .failure(let error) where error.code == .rejected:
                try reject(entries, error, once: once)
                return
            case .failure(let error) where error.code == .unavailable && !once:
                logger.warning("\(destination.displayName): \(error); keeping \(entries.count) entries, trying again in \(DurationText.format(retry))")
                guard pause(retry) else {
                    logger.notice("stopping: \(entries.count) entries stay pending for the next drainer")
                    return
                }
                retry = min(retry * 2, Self.lastRetry)
                keepClaimed(entries.map(\.streamId))
                try? destination.prepare()
            case .failure(let error):
                throw error
            }
        }
    }

    /// The destination refused `entries`: find the ones it refuses on their own and leave
    /// them pending, or dead-letter them on their last delivery.
    private func reject(_ entries: [Entry], _ error: AuditDestinationError, once: Bool) throws {
        if entries.count > 1 {
            for entry in entries { try store([entry], once: once) }
            return
        }
        let entry = entries[0]
        if entry.deliveries >= options.maxDeliveries {
            try deadLetter(entry.streamId, fields: entry.fields,
                           reason: "\(destination.displayName) rejected it on delivery \(entry.deliveries): \(error)")
        } else {
            summary.deferred += 1
            logger.warning("\(destination.displayName) rejected entry \(entry.streamId) on delivery \(entry.deliveries) of \(options.maxDeliveries): \(error); it stays pending")
        }
    }

    private func acknowledge(_ ids: [String], once: Bool) throws(RedisError) {
        do {
            _ = try redis.checked(["XACK", keys.auditStream, options.group] + ids, idempotent: true)
        } catch {
            if once { throw error }
            unacknowledged += ids
            logger.warning("acknowledging \(ids.count) stored entries failed (\(error)); trying again")
        }
    }

    private func acknowledgeLeftovers() throws(RedisError) {
        guard !unacknowledged.isEmpty else { return }
        _ = try redis.checked(["XACK", keys.auditStream, options.group] + unacknowledged, idempotent: true)
        unacknowledged = []
    }

    /// Adds the entry to the dead-letter stream and acknowledges it, atomically.
    private func deadLetter(_ id: String, fields: [(String, String)], reason: String) throws(RedisError) {
        var add = ["XADD", keys.auditDeadLetters, "*"]
        for (name, value) in fields where name != "error" && name != "source_id" { add += [name, value] }
        add += ["error", reason, "source_id", id]
        let replies = try redis.pipeline([["MULTI"], add, ["XACK", keys.auditStream, options.group, id], ["EXEC"]])
        guard case .array(let results) = replies[3], results.count == 2 else {
            throw RedisError(.server, "moving \(id) to \(keys.auditDeadLetters) failed: \(replies[3])")
        }
        for case .error(let message) in results {
            throw RedisError(.server, "moving \(id) to \(keys.auditDeadLetters) failed: \(message)")
        }
        summary.deadLettered += 1
        logger.warning("entry \(id) moved to \(keys.auditDeadLetters): \(reason)")
    }

    /// Renews this consumer's claim on entries it is still working on, so no other drainer
    /// takes them over; `JUSTID` does not count as a delivery. Best effort.
    private func keepClaimed(_ ids: [String]) {
        _ = try? redis.command(["XCLAIM", keys.auditStream, options.group, options.consumer, "0"] + ids + ["JUSTID"])
    }

    private func reportTrimmed(_ count: Int) {
        summary.trimmed += count
        logger.error("\(count) pending entries were trimmed from \(keys.auditStream) before they were stored: they are lost (raise the stream's MAXLEN, or drain faster)")
    }

    // MARK: Set-up and shut-down

    /// `XGROUP CREATE … 0 MKSTREAM`: a new group starts at the beginning of the stream.
    private func createGroup() throws(RedisError) {
        let reply = try redis.command(["XGROUP", "CREATE", keys.auditStream, options.group, "0", "MKSTREAM"])
        if case .error(let message) = reply, !message.hasPrefix("BUSYGROUP") {
            throw RedisError(.server, message)
        }
    }

    /// Acknowledges what is left and removes this consumer from the group when it owns no
    /// pending entries (every run has a new consumer name; empty ones would pile up).
    private func finish() {
        if !unacknowledged.isEmpty {
            do {
                try acknowledgeLeftovers()
            } catch {
                logger.warning("\(unacknowledged.count) stored entries stay unacknowledged (\(error)); they will be stored again")
            }
        }
        let pending = try? redis.checked(["XPENDING", keys.auditStream, options.group, "-", "+", "1", options.consumer])
        if case .array(let rows)? = pending, rows.isEmpty {
            _ = try? redis.command(["XGROUP", "DELCONSUMER", keys.auditStream, options.group, options.consumer])
        }
    }

    private func shouldStop() -> Bool {
        if !stopping && stopRequested() {
            stopping = true
            logger.info("stop requested: finishing the batch in hand")
        }
        return stopping
    }

    /// Sleeps for `duration` in short steps; false if a stop was requested meanwhile.
    private func pause(_ duration: Duration) -> Bool {
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline {
            if shouldStop() { return false }
            let step = min(.milliseconds(100), deadline - ContinuousClock.now)
            usleep(UInt32(max(1, step.wholeMilliseconds) * 1000))
        }
        return !shouldStop()
    }

    private static func isTransient(_ error: Error) -> Bool {
        if error is RedisError { return true }  // unreachable, failing over, loading: all pass
        if let error = error as? AuditDestinationError { return error.code == .unavailable }
        return false
    }
}

// MARK: - Entries and replies

extension AuditDrainer {
    /// An entry as the group delivered it; `fields` is nil for an entry deleted from the stream.
    struct RawEntry {
        var id: String
        var fields: [(String, String)]?
        var deliveries: Int
    }

    /// Why an entry cannot be stored anywhere.
    struct Malformed: Error {
        var reason: String
    }

    /// The entries of an XRANGE / XAUTOCLAIM entry list (`[[id, [field, value, …]], …]`).
    static func entries(_ reply: RedisValue) throws(RedisError) -> [(id: String, fields: [(String, String)]?)] {
        guard case .array(let items) = reply else { throw RedisError(.protocolMismatch, "unexpected stream reply") }
        var out: [(id: String, fields: [(String, String)]?)] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard case .array(let pair) = item, pair.count == 2, let id = pair[0].text else {
                throw RedisError(.protocolMismatch, "unexpected stream entry")
            }
            guard case .array(let flat) = pair[1] else {
                out.append((id, nil))
                continue
            }
            var fields: [(String, String)] = []
            var index = 0
            while index + 1 < flat.count {
                fields.append((flat[index].text ?? "", flat[index + 1].text ?? ""))
                index += 2
            }
            out.append((id, fields))
        }
        return out
    }

    /// The entries of an XREADGROUP reply (`[[stream, [entry, …]]]`, or nil when none came).
    static func readGroupEntries(_ reply: RedisValue) throws(RedisError) -> [(id: String, fields: [(String, String)]?)] {
        if reply == .null { return [] }
        guard case .array(let streams) = reply, case .array(let stream)? = streams.first, stream.count == 2 else {
            throw RedisError(.protocolMismatch, "unexpected reply to XREADGROUP")
        }
        return try entries(stream[1])
    }
}

/// A stream id (`<milliseconds>-<sequence>`), ordered as Redis orders them.
struct StreamId: Comparable {
    var milliseconds: Int64
    var sequence: UInt64

    init?(_ text: String) {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let milliseconds = Int64(parts[0]), let sequence = UInt64(parts[1]) else { return nil }
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    static func < (lhs: StreamId, rhs: StreamId) -> Bool {
        (lhs.milliseconds, lhs.sequence) < (rhs.milliseconds, rhs.sequence)
    }
}
