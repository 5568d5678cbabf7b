import Glibc
import Logging
import SluiceCore
import Synchronization

/// The write-ahead journal of one worker process's audit records: each record is written
/// here (one `write(2)`, to the page cache) as it is numbered, before its call's response
/// completes, and forgotten once the settler has it in Redis (acknowledged by the replicas
/// asked for) or in the spool. So a worker that dies — killed, crashed, or its whole host
/// lost — loses no record of a call it answered: whoever next finds the journal of a dead
/// process (a worker of the same spool folder, at start and every 30 s) replays it
/// (`AuditSpool.adoptOrphans`). Replays cannot add a record twice: each line is one record,
/// numbered, and the append script skips the numbers its writer already has.
///
/// Entries are `JournalEntry`s of one-record `AuditScripts.appendBatch` calls, fdatasynced every second
/// by the spool thread once a second. Workers write them concurrently, so a file's lines are not in
/// number order: a replay sorts a writer's lines from all its files first. The journal is a run of files (`journal-<pid>-<n>.log`): a new file is
/// started every second or megabyte, and a file is deleted once every record in it is
/// safe.
final class AuditJournal: Sendable {
    private struct State {
        var descriptor: Int32 = -1
        var generation = 0
        var path = ""
        var opened = ContinuousClock.now
        var bytes = 0
        var lastSequence = 0
        var unsynced = false
        /// Files no longer written to, and the last record number in each.
        var sealed: [(path: String, lastSequence: Int)] = []
        var committed = 0
        var failed = false
        /// Descriptors of sealed files not yet fsynced (`flush` syncs and closes them).
        var toSync: [Int32] = []
        var directoryUnsynced = false
    }

    let directory: String
    /// File name stem: `journal-<pid>-<stripe>`.
    private let stem: String
    private let logger: Logger
    private let state = Mutex(State())
    static let fileBytes = 1 << 20
    static let fileAge = Duration.seconds(1)

    init(directory: String, stripe: Int = 0, logger: Logger) {
        self.directory = directory
        self.stem = "journal-\(getpid())-\(stripe < 10 ? "0" : "")\(stripe)"
        self.logger = logger
    }

    /// Writes record `sequence`'s entry (`keys` / `arguments` of its one-record batch).
    func append(sequence: Int, keys: [String], arguments: [String]) {
        append(sequence: sequence, entry: JournalEntry.encode(keys: keys, arguments: arguments))
    }

    /// Writes record `sequence`'s entry, made by `JournalEntry` (`AuditBatch.journalEntry`).
    func append(sequence: Int, entry line: [UInt8]) {
        state.withLock { state in
            if state.descriptor >= 0,
               state.bytes >= Self.fileBytes || ContinuousClock.now - state.opened >= Self.fileAge {
                seal(&state)
            }
            if state.descriptor < 0 { open(&state) }
            guard state.descriptor >= 0 else { return }
            let written = line.withUnsafeBytes { write(state.descriptor, $0.baseAddress, $0.count) }
            if written != line.count, !state.failed {
                state.failed = true
                logger.critical("cannot write the audit journal; a worker that dies now loses the records of its last calls",
                                metadata: ["path": "\(state.path)", "errno": "\(errno)"])
            }
            state.bytes += max(0, written)
            state.lastSequence = max(state.lastSequence, sequence)
            state.unsynced = true
        }
    }

    /// Every record up to `sequence` is safe (in Redis, or in the spool): files holding
    /// only such records are deleted.
    func committed(through sequence: Int) {
        let obsolete: [String] = state.withLock { state in
            state.committed = max(state.committed, sequence)
            let done = state.sealed.filter { $0.lastSequence <= state.committed }.map(\.path)
            state.sealed.removeAll { $0.lastSequence <= state.committed }
            // The open file too, when all of it is safe and it is old enough to start afresh.
            if state.descriptor >= 0, state.lastSequence <= state.committed,
               ContinuousClock.now - state.opened >= Self.fileAge {
                Glibc.close(state.descriptor)
                state.descriptor = -1
                return done + [state.path]
            }
            return done
        }
        for path in obsolete { unlink(path) }
    }

    /// At exit: closes the journal, deleting it if every record in it is safe.
    func close() {
        flush()
        let obsolete: [String] = state.withLock { state in
            guard state.descriptor >= 0 else { return [] }
            Glibc.close(state.descriptor)
            state.descriptor = -1
            return state.lastSequence <= state.committed ? [state.path] : []
        }
        for path in obsolete { unlink(path) }
    }

    /// Fsyncs what was written since the last call (outside the lock: a slow disk never
    /// holds up a worker's append).
    func flush() {
        let (descriptors, directoryToo): ([Int32], Bool) = state.withLock { state in
            var descriptors = state.toSync
            state.toSync = []
            if state.unsynced, state.descriptor >= 0 {
                let copy = dup(state.descriptor)
                if copy >= 0 { descriptors.append(copy) }
                state.unsynced = false
            }
            let directoryToo = state.directoryUnsynced
            state.directoryUnsynced = false
            return (descriptors, directoryToo)
        }
        for descriptor in descriptors {
            _ = fdatasync(descriptor)
            Glibc.close(descriptor)
        }
        if directoryToo, let dir = opendir(directory) {
            _ = fsync(dirfd(dir))
            closedir(dir)
        }
    }

    private func seal(_ state: inout State) {
        if state.unsynced {
            state.toSync.append(state.descriptor)
        } else {
            Glibc.close(state.descriptor)
        }
        state.descriptor = -1
        state.unsynced = false
        if state.lastSequence > state.committed {
            state.sealed.append((state.path, state.lastSequence))
        } else {
            unlink(state.path)
        }
    }

    private func open(_ state: inout State) {
        _ = mkdir(directory, 0o700)
        state.generation += 1
        // Zero-padded, so the files of one process sort in the order they were written.
        let generation = String(state.generation)
        state.path = directory + "/" + stem + "-" + String(repeating: "0", count: max(0, 10 - generation.count))
            + generation + ".log"
        let descriptor = Glibc.open(state.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            if !state.failed {
                state.failed = true
                logger.critical("cannot open the audit journal; a worker that dies now loses the records of its last calls",
                                metadata: ["path": "\(state.path)", "errno": "\(errno)"])
            }
            return
        }
        state.descriptor = descriptor
        state.opened = ContinuousClock.now
        state.bytes = 0
        state.lastSequence = 0
        state.directoryUnsynced = true
    }
}

/// A worker process's journal, striped by thread: each acceptor thread writes to its own
/// file (by its kernel thread id), so threads never wait for each other's `write(2)`.
final class AuditJournals: Sendable {
    private let stripes: [AuditJournal]

    init(directory: String, stripes: Int, logger: Logger) {
        self.stripes = (0..<max(1, stripes)).map { AuditJournal(directory: directory, stripe: $0, logger: logger) }
    }

    /// The calling thread's journal: threads are numbered in the order they first write.
    var current: AuditJournal {
        if let value = pthread_getspecific(Self.threadKey) {
            return stripes[(Int(bitPattern: value) - 1) % stripes.count]
        }
        let index = Self.threadsSeen.add(1, ordering: .relaxed).oldValue
        pthread_setspecific(Self.threadKey, UnsafeRawPointer(bitPattern: index + 1))
        return stripes[index % stripes.count]
    }

    private static let threadsSeen = Atomic<Int>(0)
    nonisolated(unsafe) private static let threadKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    func committed(through sequence: Int) { for journal in stripes { journal.committed(through: sequence) } }
    func flush() { for journal in stripes { journal.flush() } }
    func close() { for journal in stripes { journal.close() } }
}
