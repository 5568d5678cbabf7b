import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import SluiceCore
@testable import SluiceGateway
import SluiceRedis
import XCTest

/// `AuditJournal`: the records of a worker that died before its settler wrote them are
/// replayed by another worker, in order, once, alongside what it had spooled.
final class AuditJournalTests: XCTestCase {
    private var server: RedisServerFixture!
    private var redis: RedisConnection!
    private var directory: String!
    private let keys = RedisKeys(prefix: "journal")
    private let writer = "host:1:0"

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        server = try RedisServerFixture.start()
        redis = RedisConnection(config: server.config())
        directory = NSTemporaryDirectory() + "sluice-journal-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        redis = nil
        server?.stop()
        server = nil
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func batch(_ sequences: ClosedRange<Int>) -> AdmissionPlan.ScriptCall {
        var batch = AuditBatch(writer: writer, firstSequence: sequences.lowerBound)
        for sequence in sequences {
            _ = batch.add(AuditRecord(requestId: "req-\(sequence)", timeMs: 1_795_030_400_000, path: "/v1/chat/completions",
                                      status: 200, latencyMs: 1), keys: keys)
        }
        return batch.call(keys: keys, maxLength: 10_000, usageTTLSeconds: 86_400)
    }

    private func streamIds() throws -> [String] {
        guard case .array(let entries) = try redis.command(["XRANGE", keys.auditStream, "-", "+"]) else { return [] }
        return entries.compactMap { entry -> String? in
            guard case .array(let parts) = entry, parts.count == 2 else { return nil }
            return parts[1].fieldMap["rid"]
        }
    }

    private func files() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// A pid no process has now.
    private func deadPid() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    func testADeadWorkersJournalIsReplayedOnceInOrderWithItsSpool() throws {
        // The dead worker's records 1-6: 1-2 reached Redis, 3-4 were spooled as a batch,
        // 5-6 were only journaled (its settler never got to them).
        let journal = AuditJournal(directory: directory, logger: Logger(label: "test"))
        for sequence in 1...6 {
            let call = batch(sequence...sequence)
            journal.append(sequence: sequence, keys: call.keys, arguments: call.arguments)
        }
        journal.committed(through: 2)
        journal.close()
        for call in [batch(1...1), batch(2...2)] { _ = try redis.evaluateAll([call]) }
        let dead = try deadPid()
        let spool = AuditSpool(directory: directory, logger: Logger(label: "test"))
        XCTAssertTrue(spool.append(keys: batch(3...4).keys, arguments: batch(3...4).arguments, records: 2))
        spool.flush()
        for name in files() {
            let renamed = name.replacingOccurrences(of: "-\(getpid())", with: "-\(dead)")
            XCTAssertEqual(rename(directory + "/" + name, directory + "/" + renamed), 0)
        }
        XCTAssertEqual(files().count, 2, "one journal file and one spool file: \(files())")

        AuditSpool(directory: directory, logger: Logger(label: "test")).adoptOrphans(redis: redis)
        XCTAssertEqual(try streamIds(), (1...6).map { "req-\($0)" }, "every record once, in order")
        XCTAssertEqual(files().filter { $0.hasSuffix(".log") }, [], "replayed files are removed")
        // A second adoption finds nothing; the stream is unchanged.
        AuditSpool(directory: directory, logger: Logger(label: "test")).adoptOrphans(redis: redis)
        XCTAssertEqual(try streamIds().count, 6)
    }

    /// A batch Redis took but no replica confirmed is spooled, so the journal forgets it; a
    /// failover then loses it from Redis. The spool must go before the journal's later
    /// records, or the append script would skip it as already had.
    func testASpooledBatchTheJournalForgotIsReplayedBeforeTheJournal() throws {
        let journal = AuditJournal(directory: directory, logger: Logger(label: "test"))
        for sequence in 5...6 {
            let call = batch(sequence...sequence)
            journal.append(sequence: sequence, keys: call.keys, arguments: call.arguments)
        }
        journal.close()
        for call in [batch(1...1), batch(2...2)] { _ = try redis.evaluateAll([call]) }
        let spool = AuditSpool(directory: directory, logger: Logger(label: "test"))
        XCTAssertTrue(spool.append(keys: batch(3...4).keys, arguments: batch(3...4).arguments, records: 2))
        spool.flush()
        let dead = try deadPid()
        for name in files() {
            XCTAssertEqual(rename(directory + "/" + name, directory + "/" + name.replacingOccurrences(of: "-\(getpid())", with: "-\(dead)")), 0)
        }
        AuditSpool(directory: directory, logger: Logger(label: "test")).adoptOrphans(redis: redis)
        XCTAssertEqual(try streamIds(), (1...6).map { "req-\($0)" })
    }

    func testAJournalWhoseRecordsAreAllSafeIsDeletedAtClose() {
        let journal = AuditJournal(directory: directory, logger: Logger(label: "test"))
        for sequence in 1...3 {
            let call = batch(sequence...sequence)
            journal.append(sequence: sequence, keys: call.keys, arguments: call.arguments)
        }
        XCTAssertEqual(files().count, 1)
        journal.committed(through: 3)
        journal.close()
        XCTAssertEqual(files().filter { $0.hasSuffix(".log") }, [])
    }

    func testOrphanFilesReplayEachWritersSpoolThenItsJournalOldestFirst() {
        let order = AuditSpool.orphanFiles(["spool-10.log", "journal-10-0000000002.log", "orphan-5-journal-10-0000000001.log",
                                            "journal-9-0000000001.log", "spool-11.log.tmp", "notes.txt"])
        XCTAssertEqual(order.map(\.name), ["journal-9-0000000001.log", "spool-10.log", "orphan-5-journal-10-0000000001.log",
                                           "journal-10-0000000002.log"])
        XCTAssertEqual(order[2].owner, 5, "a claimed file belongs to its claimer until the claimer is gone too")
        XCTAssertEqual(order[2].writer, 10)
    }
}
