import Glibc
import Logging
import SluiceCore
import SluiceRedis
import Synchronization

/// The local, append-only spool of one worker process: audit appends that Redis could not
/// take (unreachable, timed out, or refused) go here and are replayed into the stream once
/// Redis is back. Lines are checksummed (`SpoolLine`) and fsynced in batches (every 32 lines
/// or 100 ms); a torn last line after a crash is skipped, not fatal. Replays cannot add a
/// record twice: the append script skips a writer's sequence numbers it already has.
///
/// While the spool holds records, every new record of the process goes to the spool too,
/// so each writer's records reach Redis in order.
final class AuditSpool: Sendable {
    private struct State {
        var descriptor: Int32 = -1
        var records = 0
        var unsynced = 0
        var lastSync = ContinuousClock.now
    }

    let directory: String
    let path: String
    private let logger: Logger
    /// For a replay that waits for replicas (only the spool thread replays): how much of the
    /// file went to Redis over connection number `sentGeneration`, unconfirmed so far.
    nonisolated(unsafe) private var sentLength = 0
    nonisolated(unsafe) private var sentGeneration = -1
    private let state = Mutex(State())
    private let pending = Atomic<Int>(0)

    init(directory: String, logger: Logger) {
        self.directory = directory
        self.path = directory + "/spool-\(getpid()).log"
        self.logger = logger
    }

    /// Records waiting for Redis.
    var hasRecords: Bool { pending.load(ordering: .acquiring) > 0 }

    /// How many records wait for Redis.
    var depth: Int { pending.load(ordering: .acquiring) }

    /// Appends one script call holding `records` records; `false` only if the disk refused
    /// it too (logged loudly).
    @discardableResult
    func append(keys: [String], arguments: [String], records: Int = 1) -> Bool {
        let line = Array(SpoolLine.encode(keys: keys, arguments: arguments).utf8)
        return state.withLock { state in
            guard openIfNeeded(&state) else { return false }
            let written = line.withUnsafeBytes { write(state.descriptor, $0.baseAddress, $0.count) }
            guard written == line.count else {
                logger.critical("cannot write the audit spool \(path): errno \(errno); \(records) audit records are lost")
                return false
            }
            state.records += records
            state.unsynced += 1
            pending.store(state.records, ordering: .releasing)
            if state.unsynced >= 32 || ContinuousClock.now - state.lastSync >= .milliseconds(100) { sync(&state) }
            return true
        }
    }

    /// Fsyncs what is written but not yet synced.
    func flush() {
        state.withLock { if $0.unsynced > 0 { sync(&$0) } }
    }

    /// Replays the spool into Redis in order; empties it when every line went in (and, with
    /// `replicaAcks`, a replica confirmed it: until then the lines stay, and are sent again
    /// only over a new connection, which may lead to a new primary).
    /// Returns how many records were replayed.
    @discardableResult
    func replay(redis: RedisConnection, replicaAcks: Int = 0, ackTimeout: Duration = .milliseconds(100)) -> Int {
        // What is in the file now is replayed without holding the spool, so the settler can
        // keep appending (behind it, in order) however long the replay takes.
        let snapshot: (length: Int, records: Int)? = state.withLock { state in
            guard state.records > 0, state.descriptor >= 0 else { return nil }
            sync(&state)
            return (Int(lseek(state.descriptor, 0, SEEK_END)), state.records)
        }
        guard let snapshot else { return 0 }
        let generation = redis.connectionGeneration
        let from = generation == sentGeneration ? min(sentLength, snapshot.length) : 0
        guard let replayed = Self.replay(files: [path], from: from, length: snapshot.length, sorted: false, redis: redis,
                                         logger: logger) else {
            return 0
        }
        if replicaAcks > 0 {
            // Everything up to `length` must have gone over one connection for WAIT to speak
            // for it; if the connection changed meanwhile, it is all sent again next time.
            guard redis.connectionGeneration == generation else {
                sentLength = 0
                return 0
            }
            sentGeneration = generation
            sentLength = snapshot.length
            guard redis.replicasConfirm(replicaAcks, within: ackTimeout, generation: generation) else { return 0 }
            sentLength = 0
        }
        state.withLock { state in
            // Keep only what was appended during the replay.
            let tail = Self.readBytes(path, from: snapshot.length) ?? []
            _ = ftruncate(state.descriptor, 0)
            if !tail.isEmpty { _ = tail.withUnsafeBytes { write(state.descriptor, $0.baseAddress, $0.count) } }
            _ = fsync(state.descriptor)
            state.records = max(0, state.records - snapshot.records)
            pending.store(state.records, ordering: .releasing)
        }
        return replayed
    }

    /// Takes over the spools and journals of worker processes that died (their pid is gone)
    /// and replays them.
    ///
    /// One adopter at a time per spool folder (the lock goes with its process), so a dead
    /// writer's files are replayed in order by one process. Per writer: its spool first, then
    /// its journal entries sorted by number — every journaled record the spool does not hold
    /// comes after the spool's (a journal file is deleted once its records are in Redis or in
    /// the spool). A writer is taken whole or not at all: if any of its files is held by a
    /// live process (another adopter's claim), none is replayed now, and a file that cannot
    /// be replayed stops its writer's later files — a later record replayed first would make
    /// the append script skip the earlier ones as already had. Files this process claimed
    /// before and could not replay are tried again.
    func adoptOrphans(redis: RedisConnection) {
        let lock = open(directory + "/adopt.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { return }
        defer { close(lock) }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else { return }
        guard let dir = opendir(directory) else { return }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            names.append(name)
        }
        closedir(dir)
        let me = getpid()
        let files = Self.orphanFiles(names)
        for writer in Set(files.map(\.writer)).sorted() where writer != me {
            let own = files.filter { $0.writer == writer }
            let claimable = own.allSatisfy { file in
                file.owner == me || (kill(file.owner, 0) != 0 && errno == ESRCH)
            }
            guard claimable else { continue }
            // Renaming claims a file (of several processes, one wins); this process's own
            // earlier claims keep their names.
            var claimed: [(path: String, journal: Bool)] = []
            for file in own {
                let path = directory + "/orphan-\(me)-\(file.original)"
                if file.owner != me || file.name != "orphan-\(me)-\(file.original)" {
                    guard rename(directory + "/" + file.name, path) == 0 else { break }
                }
                claimed.append((path, file.original.hasPrefix("journal-")))
            }
            guard claimed.count == own.count else { continue }  // another process took one: next round
            var replayedAll = true
            for file in claimed where !file.journal {
                guard let replayed = Self.replay(file: file.path, redis: redis, logger: logger) else {
                    replayedAll = false
                    break
                }
                unlink(file.path)
                if replayed > 0 { logger.notice("replayed \(replayed) audit records left by process \(writer)") }
            }
            let journals = claimed.filter(\.journal).map(\.path)
            guard replayedAll, !journals.isEmpty else { continue }
            if let replayed = Self.replay(files: journals, sorted: true, redis: redis, logger: logger) {
                for path in journals { unlink(path) }
                if replayed > 0 { logger.notice("replayed \(replayed) journaled audit records of process \(writer)") }
            }
        }
    }

    /// The spool and journal files of other processes, in replay order (per writer: its spool,
    /// then its journal files): `owner` is the process
    /// that must be gone (the writer, or whoever claimed the file), `writer` the one that wrote it.
    static func orphanFiles(_ names: [String]) -> [(name: String, original: String, owner: Int32, writer: Int32)] {
        var files: [(name: String, original: String, owner: Int32, writer: Int32, rank: Int)] = []
        for name in names {
            var original = Substring(name)
            var owner: Int32?
            // orphan-<claimer>-<original name> (claimed, maybe more than once).
            while original.hasPrefix("orphan-") {
                let rest = original.dropFirst(7)
                guard let dash = rest.firstIndex(of: "-") else { break }
                if owner == nil { owner = Int32(rest[..<dash]) }
                original = rest[rest.index(after: dash)...]
            }
            let writer: Int32?
            let rank: Int
            if original.hasPrefix("spool-"), original.hasSuffix(".log") {
                writer = Int32(original.dropFirst(6).dropLast(4))
                rank = 0
            } else if original.hasPrefix("journal-"), original.hasSuffix(".log") {
                writer = Int32(original.dropFirst(8).prefix { $0 != "-" })
                rank = 1
            } else {
                continue
            }
            guard let writer, let who = owner ?? Optional(writer) else { continue }
            files.append((name, String(original), who, writer, rank))
        }
        files.sort { ($0.writer, $0.rank, $0.original) < ($1.writer, $1.rank, $1.original) }
        return files.map { ($0.name, $0.original, $0.owner, $0.writer) }
    }

    /// Sends every intact line of `file` to Redis, in order. `nil` if Redis failed
    /// (the file is kept and replayed again later; duplicates are skipped by the script).
    /// A line is a batch (`AuditScripts.appendBatch`) or, from earlier versions, one record
    /// (`AuditScripts.append`). Returns the number of records.
    private static func replay(file: String, redis: RedisConnection, logger: Logger) -> Int? {
        replay(files: [file], sorted: false, redis: redis, logger: logger)
    }

    /// `replay(file:)` over several files; `sorted`: journal files (`JournalEntry`s), replayed
    /// in the order of their record numbers rather than as written.
    private static func replay(files: [String], from: Int = 0, length: Int? = nil, sorted: Bool, redis: RedisConnection,
                               logger: Logger) -> Int? {
        var decoded: [(keys: [String], arguments: [String])] = []
        var skipped = 0
        for file in files {
            // Only what is not yet sent: a spool kept while no replica confirms grows.
            guard let bytes = readBytes(file, from: sorted ? 0 : from) else { return nil }
            if sorted {
                // A journal (`JournalEntry`s).
                let entries = JournalEntry.decodeAll(bytes)
                decoded += entries.calls
                skipped += entries.skipped
                continue
            }
            let end = min(length.map { $0 - from } ?? bytes.count, bytes.count)
            let text = String(decoding: bytes[..<max(0, end)], as: UTF8.self)
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
                guard let call = SpoolLine.decode(line) else {
                    skipped += 1
                    continue
                }
                decoded.append(call)
            }
        }
        var calls: [(script: RedisScript, keys: [String], arguments: [String])] = []
        var records = 0
        for call in decoded {
            if call.arguments.first == AuditScripts.batchMarker {
                calls.append((AuditScripts.appendBatch, call.keys, call.arguments))
                records += call.arguments.count > 4 ? Int(call.arguments[4]) ?? 0 : 0
            } else {
                calls.append((AuditScripts.append, call.keys, call.arguments))
                records += 1
            }
        }
        if skipped > 0 { logger.warning("skipped \(skipped) torn or damaged entries in \(files.joined(separator: ", "))") }
        if sorted {
            func number(_ call: (script: RedisScript, keys: [String], arguments: [String])) -> Int {
                call.arguments.count > 3 ? Int(call.arguments[3]) ?? 0 : 0
            }
            calls.sort { number($0) < number($1) }
        }
        // One line per round trip, in order, stopping at the first refusal. (Pipelined, a
        // line refused for a passing reason, e.g. LOADING while a restarted Redis reads its
        // data back, could be followed by later lines that went in once it was done; the next
        // replay would then skip the refused line as already had, and lose it.) A line holds
        // a batch of records, and the replay does not hold the spool (see `replay(redis:)`).
        for call in calls {
            do {
                let reply = try redis.evaluateAll([call])[0]
                if case .error = reply {
                    logger.warning("Redis refused a replayed audit record: \(reply)")
                    return nil
                }
            } catch {
                return nil
            }
        }
        return records
    }

    /// The bytes of `path` from `offset` to its end; `nil` if it cannot be opened.
    private static func readBytes(_ path: String, from offset: Int) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var at = off_t(offset)
        while true {
            let count = chunk.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, at) }
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            at += off_t(count)
        }
        return bytes
    }

    private func openIfNeeded(_ state: inout State) -> Bool {
        if state.descriptor >= 0 { return true }
        _ = mkdir(directory, 0o700)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            logger.critical("cannot open the audit spool \(path): errno \(errno); audit records are lost while Redis is down")
            return false
        }
        state.descriptor = descriptor
        if let dir = opendir(directory) {
            _ = fsync(dirfd(dir))
            closedir(dir)
        }
        return true
    }

    private func sync(_ state: inout State) {
        _ = fsync(state.descriptor)
        state.unsynced = 0
        state.lastSync = ContinuousClock.now
    }
}
