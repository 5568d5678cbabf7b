import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import SluiceCore
@testable import SluiceGateway
import SluiceRedis
import XCTest

/// `AuditSpool` replays against a real `redis-server`: a line Redis refuses stops the
/// replay there, so no later line of the writer gets in ahead of it (its sequence numbers
/// would then make the refused line look applied, and the next replay would skip it).
final class AuditSpoolTests: XCTestCase {
    private var server: RedisServerFixture!
    private var redis: RedisConnection!
    private var directory: String!
    private let keys = RedisKeys(prefix: "spool")

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        server = try RedisServerFixture.start()
        redis = RedisConnection(config: server.config())
        directory = NSTemporaryDirectory() + "sluice-spool-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        redis = nil
        server?.stop()
        server = nil
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func line(_ sequence: Int, stream: String? = nil) -> AdmissionPlan.ScriptCall {
        var batch = AuditBatch(writer: "host:1:0", firstSequence: sequence)
        _ = batch.add(AuditRecord(requestId: "req-\(sequence)", timeMs: 1_795_030_400_000, path: "/v1/chat/completions",
                                  status: 200, latencyMs: 1), keys: keys)
        var call = batch.call(keys: keys, maxLength: 10_000, usageTTLSeconds: 86_400)
        if let stream { call.keys[0] = stream }
        return call
    }

    private func streamIds(of stream: String? = nil) throws -> [String] {
        guard case .array(let entries) = try redis.command(["XRANGE", stream ?? keys.auditStream, "-", "+"]) else {
            return []
        }
        return entries.compactMap { entry -> String? in
            guard case .array(let parts) = entry, parts.count == 2, case .array(let fields) = parts[1] else { return nil }
            let texts = fields.map { $0.text ?? "" }
            return stride(from: 0, to: texts.count - 1, by: 2).first { texts[$0] == "rid" }.map { texts[$0 + 1] }
        }
    }

    func testARefusedLineStopsTheReplaySoNoLaterLineOvertakesIt() throws {
        let spool = AuditSpool(directory: directory, logger: Logger(label: "test"))
        // The second line's stream is a plain string key: Redis refuses its XADD (WRONGTYPE),
        // as it would refuse any line for a passing reason (LOADING after a restart).
        _ = try redis.command(["SET", "not-a-stream", "x"])
        for (sequence, stream) in [(1, nil), (2, "not-a-stream"), (3, nil)] as [(Int, String?)] {
            let call = line(sequence, stream: stream)
            XCTAssertTrue(spool.append(keys: call.keys, arguments: call.arguments, records: 1))
        }
        XCTAssertEqual(spool.replay(redis: redis), 0, "refused: the spool is kept")
        XCTAssertTrue(spool.hasRecords)
        XCTAssertEqual(try streamIds(), ["req-1"], "the line after the refused one was not sent")
        // The reason passes; the next replay applies the rest, each record once, and the
        // refused line is applied, not skipped as already had.
        _ = try redis.command(["DEL", "not-a-stream"])
        XCTAssertEqual(spool.replay(redis: redis), 3)
        XCTAssertFalse(spool.hasRecords)
        XCTAssertEqual(try streamIds(), ["req-1", "req-3"])
        XCTAssertEqual(try streamIds(of: "not-a-stream"), ["req-2"])
    }

    /// With `replica_acks`, the spool is emptied only once a replica confirmed its replay.
    func testASpoolIsKeptUntilAReplicaConfirmsItsReplay() throws {
        let spool = AuditSpool(directory: directory, logger: Logger(label: "test"))
        let call = line(1)
        XCTAssertTrue(spool.append(keys: call.keys, arguments: call.arguments))
        // No replica: the record goes in, but the spool keeps it.
        XCTAssertEqual(spool.replay(redis: redis, replicaAcks: 1, ackTimeout: .milliseconds(50)), 0)
        XCTAssertTrue(spool.hasRecords)
        XCTAssertEqual(try streamIds(), ["req-1"])
        // A replica arrives and syncs: the next replay (nothing to resend) is confirmed.
        let replica = try RedisServerFixture.start(extraArguments: ["--replicaof", "127.0.0.1", String(server.port)])
        defer { replica.stop() }
        let deadline = ContinuousClock.now + .seconds(10)
        while spool.hasRecords && ContinuousClock.now < deadline {
            _ = spool.replay(redis: redis, replicaAcks: 1, ackTimeout: .milliseconds(200))
        }
        XCTAssertFalse(spool.hasRecords, "confirmed by the replica: emptied")
        XCTAssertEqual(try streamIds(), ["req-1"], "sent once, not twice")
    }
}
