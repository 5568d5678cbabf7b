import Foundation
import SluiceCore
import SluiceGateway
import SluiceOps
import SluicePostgres
import SluiceRedis
import Synchronization
import SluiceTestSupport
import XCTest

/// `sluice audit drain` against a real redis-server (one per test) and a real PostgreSQL
/// (one per class): every record stored once, pending entries of a dead drainer taken over
/// without loss or duplicates, malformed and rejected records in the dead letters.
///
/// Most tests drive `AuditDrainer` through its Swift API; the ones that kill a drainer
/// process need the `sluice` binary with `audit drain` registered (`SLUICE_BIN`, or
/// `.build/debug/sluice`), and skip without it.
final class AuditDrainTests: XCTestCase {
    nonisolated(unsafe) private static var postgres: PostgresServerFixture?
    nonisolated(unsafe) private static var postgresSkip: XCTSkip?

    private var directory: URL!
    private var redisProcess: ManagedProcess?
    private var redisConfig: RedisConfig!
    private let keys = RedisKeys(prefix: "sluice")
    private var sequence = 0

    override func setUpWithError() throws {
        guard let redisServer = which("redis-server") else { throw XCTSkip("redis-server is not installed") }
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-drain-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = freeLoopbackPort()
        redisProcess = try ManagedProcess(name: "redis", executable: redisServer,
                                          arguments: ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "",
                                                      "--appendonly", "no", "--dir", directory.path],
                                          logDirectory: directory)
        redisConfig = RedisConfig(url: RedisURL(address: .tcp(host: "127.0.0.1", port: port)), timeout: .milliseconds(500))
        let probe = RedisConnection(config: redisConfig)
        try waitUntil("redis-server answers", timeout: .seconds(10)) { (try? probe.command(["PING"])) == .status("PONG") }
    }

    override func tearDown() {
        redisProcess?.stop()
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    override class func tearDown() {
        postgres?.remove()
        postgres = nil
        super.tearDown()
    }

    // MARK: Files

    func testEveryRecordLandsOnceInItsDaysFileWithItsChainFields() throws {
        let records = (0..<250).map { record($0, minutesApart: 10) }  // ~41 hours: three UTC days
        try append(records)
        let audit = directory.appendingPathComponent("audit")

        let summary = try drain(to: FileAuditDestination(directory: audit.path), batch: 64)
        XCTAssertEqual(summary.read, 250)
        XCTAssertEqual(summary.stored, 250)
        XCTAssertEqual(summary.deadLettered, 0)

        let files = try FileManager.default.contentsOfDirectory(atPath: audit.path).sorted()
        let days = Set(records.map { String(AuditRecord.iso8601($0.timeMs).prefix(10)) })
        XCTAssertEqual(files, days.sorted().map { "audit-\($0).ndjson" })
        var seen: [String: String] = [:]
        var previousHash: String?
        for file in files {
            let day = String(file.dropFirst("audit-".count).prefix(10))
            for line in try lines(audit.appendingPathComponent(file)) {
                let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
                let record = try XCTUnwrap(document["record"] as? [String: Any])
                let requestId = try XCTUnwrap(record["request_id"] as? String)
                XCTAssertNil(seen[requestId], "\(requestId) written twice")
                seen[requestId] = line
                XCTAssertEqual(AuditRecord.iso8601(Int64(record["ts_ms"] as? Int ?? 0)).prefix(10), Substring(day))
                XCTAssertNotNil(document["stream_id"] as? String)
                // The chain survives: each entry's prev is the hash of the one before it.
                if let previousHash { XCTAssertEqual(document["prev"] as? String, previousHash) }
                previousHash = try XCTUnwrap(document["hash"] as? String)
            }
        }
        XCTAssertEqual(seen.count, 250)
        // The record's text is the stream's, byte for byte (the hash covers it).
        let first = records[0]
        XCTAssertTrue(try XCTUnwrap(seen[first.requestId]).hasSuffix(",\"record\":\(first.json)}"))
        XCTAssertEqual(try pendingCount(), 0)

        // Nothing is delivered twice to the group: a second run writes nothing.
        let again = try drain(to: FileAuditDestination(directory: audit.path))
        XCTAssertEqual(again.read + again.claimed, 0)
        XCTAssertEqual(try files.map { try lines(audit.appendingPathComponent($0)).count }.reduce(0, +), 250)
    }

    func testMalformedRecordsGoToTheDeadLettersAtOnce() throws {
        try append((0..<5).map { record($0) })
        let redis = RedisConnection(config: redisConfig)
        let notJSON = try XCTUnwrap(redis.checked(["XADD", keys.auditStream, "*", "rid", "r-bad", "kind", "call",
                                                   "record", "{not json", "prev", "", "hash", "x"]).text)
        let noRecord = try XCTUnwrap(redis.checked(["XADD", keys.auditStream, "*", "rid", "r-empty"]).text)
        let array = try XCTUnwrap(redis.checked(["XADD", keys.auditStream, "*", "record", "[1,2]"]).text)
        try append((5..<10).map { record($0) })
        let audit = directory.appendingPathComponent("audit")

        let summary = try drain(to: FileAuditDestination(directory: audit.path))
        XCTAssertEqual(summary.stored, 10)
        XCTAssertEqual(summary.deadLettered, 3)
        XCTAssertEqual(try pendingCount(), 0, "dead letters are acknowledged")

        let dead = try deadLetters()
        XCTAssertEqual(dead.map { $0["source_id"] }, [notJSON, noRecord, array])
        XCTAssertEqual(dead[0]["record"], "{not json", "the original fields are kept")
        XCTAssertEqual(dead[0]["rid"], "r-bad")
        XCTAssertEqual(dead[0]["hash"], "x")
        XCTAssertTrue(dead[0]["error"]?.contains("not a JSON object") ?? false, "\(dead[0])")
        XCTAssertTrue(dead[1]["error"]?.contains("no record field") ?? false, "\(dead[1])")
        XCTAssertTrue(dead[2]["error"]?.contains("not a JSON object") ?? false, "\(dead[2])")
        let written = try FileManager.default.contentsOfDirectory(atPath: audit.path)
            .flatMap { try lines(audit.appendingPathComponent($0)) }
        XCTAssertEqual(written.count, 10)
        XCTAssertFalse(written.contains { $0.contains("not json") })
    }

    // MARK: PostgreSQL

    func testPostgresGetsOneRowPerRecordAndIgnoresRedeliveries() throws {
        let postgres = try self.postgres()
        let records = (0..<250).map { record($0) }
        try append(records)

        let summary = try drain(to: PostgresAuditDestination(conninfo: postgres.conninfo))
        XCTAssertEqual(summary.stored, 250)
        XCTAssertEqual(summary.alreadyStored, 0)
        XCTAssertEqual(try rowCounts(postgres), [250, 250])
        XCTAssertEqual(try pendingCount(), 0)

        let sample = records[7]
        let row = try PostgresConnection(conninfo: postgres.conninfo).execute("""
            SELECT stream_id IS NOT NULL, (extract(epoch FROM ts) * 1000)::bigint, key_id, route, endpoint, provider,
                   provider_model, tags->>'team', status, jsonb_array_length(attempts), latency_ms, ttfb_ms,
                   upstream_ms, prompt_tokens, completion_tokens, total_tokens, usage_source, cost, stream,
                   stream_completed, principal IS NULL, length(hash), record->>'request_id' = request_id
            FROM sluice_audit WHERE request_id = $1
            """, [sample.requestId]).rows
        XCTAssertEqual(row, [["t", String(sample.timeMs), "key_test", "chat", "primary", "openai", "gpt-4o", "support",
                              "200", "1", "815", "120", "812", "12", "40", "52", "provider", "0.0012", "t", "t", "t",
                              "40", "t"]])

        // Another group delivers every entry again: PostgreSQL keeps one row per request.
        let replay = try drain(to: PostgresAuditDestination(conninfo: postgres.conninfo), group: "replay")
        XCTAssertEqual(replay.stored, 250)
        XCTAssertEqual(replay.alreadyStored, 250)
        XCTAssertEqual(try rowCounts(postgres), [250, 250])
    }

    /// An admin record (a key created, a reload) is drained like a call's: into its day's
    /// file with its chain fields, and into PostgreSQL as a row with the whole record.
    func testAdminRecordsAreDrainedToFilesAndPostgresLikeCalls() throws {
        let calls = (0..<3).map { record($0) }
        try append([calls[0]])
        let action = AdminAudit.Action("keys.create", details: [("key_id", JSONText.quoted("key_admin")),
                                                                ("name", JSONText.quoted("ops-bot"))])
        try AdminAudit.record(action, redis: RedisConnection(config: redisConfig), keys: keys)
        try append(Array(calls[1...]))
        let stream = try RedisConnection(config: redisConfig).checked(["XRANGE", keys.auditStream, "-", "+"])
        guard case .array(let entries) = stream, entries.count == 4, case .array(let pair) = entries[1], pair.count == 2 else {
            return XCTFail("unexpected stream \(stream)")
        }
        let fields: [String: String] = pair[1].fieldMap
        let text = try XCTUnwrap(fields["record"]), adminId = try XCTUnwrap(fields["rid"])
        XCTAssertEqual(fields["kind"], "admin")

        let audit = directory.appendingPathComponent("audit")
        let summary = try drain(to: FileAuditDestination(directory: audit.path))
        XCTAssertEqual(summary.stored, 4)
        XCTAssertEqual(summary.deadLettered, 0)
        let written = try FileManager.default.contentsOfDirectory(atPath: audit.path)
            .flatMap { try lines(audit.appendingPathComponent($0)) }
        let line = try XCTUnwrap(written.first { $0.contains(adminId) }, "\(written)")
        XCTAssertTrue(line.hasSuffix(",\"record\":\(text)}"), "the record byte for byte: \(line)")
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(document["hash"] as? String, fields["hash"])
        XCTAssertEqual(document["prev"] as? String, fields["prev"])
        let admin = try XCTUnwrap(document["record"] as? [String: Any])
        XCTAssertEqual(admin["kind"] as? String, "admin")
        XCTAssertEqual(admin["action"] as? String, "keys.create")
        XCTAssertEqual((admin["details"] as? [String: Any])?["key_id"] as? String, "key_admin")
        XCTAssertEqual((admin["who"] as? [String: Any])?["uid"] as? Int, Int(getuid()))
        XCTAssertEqual(try pendingCount(), 0)

        let postgres = try self.postgres()
        let stored = try drain(to: PostgresAuditDestination(conninfo: postgres.conninfo), group: "pg")
        XCTAssertEqual(stored.stored, 4)
        XCTAssertEqual(try rowCounts(postgres), [4, 4])
        let row = try PostgresConnection(conninfo: postgres.conninfo).execute("""
            SELECT record->>'kind', record->>'action', record->'details'->>'name', route IS NULL, status IS NULL,
                   (extract(epoch FROM ts) * 1000)::bigint = (record->>'ts_ms')::bigint, hash = $2
            FROM sluice_audit WHERE request_id = $1
            """, [adminId, fields["hash"] ?? ""]).rows
        XCTAssertEqual(row, [["admin", "keys.create", "ops-bot", "t", "t", "t", "t"]])
    }

    /// The state a drainer leaves when it dies after reading (and maybe storing) a batch but
    /// before acknowledging it: the entries are pending for a consumer that never comes back.
    func testEntriesADeadDrainerLeftPendingAreTakenOverAfterClaimIdle() throws {
        let postgres = try self.postgres()
        try append((0..<40).map { record($0) })
        // Half of them reached PostgreSQL before the drainer "died" (another group stores them).
        XCTAssertEqual(try drain(to: PostgresAuditDestination(conninfo: postgres.conninfo), group: "earlier").stored, 40)
        try append((40..<80).map { record($0) })
        let redis = RedisConnection(config: redisConfig)
        _ = try redis.checked(["XGROUP", "CREATE", keys.auditStream, "drain", "0"])
        let read = try redis.checked(["XREADGROUP", "GROUP", "drain", "dead-drainer", "COUNT", "1000",
                                      "STREAMS", keys.auditStream, ">"])
        guard case .array(let streams) = read, case .array(let stream)? = streams.first,
              case .array(let delivered) = stream[1] else { return XCTFail("unexpected reply \(read)") }
        XCTAssertEqual(delivered.count, 80)
        XCTAssertEqual(try pendingCount(), 80)

        // Not idle for long enough yet: a drainer leaves them to their owner.
        let early = try drain(to: PostgresAuditDestination(conninfo: postgres.conninfo), claimIdle: .seconds(60))
        XCTAssertEqual(early.claimed + early.read, 0)
        XCTAssertEqual(try pendingCount(), 80)

        Thread.sleep(forTimeInterval: 1.2)
        let summary = try drain(to: PostgresAuditDestination(conninfo: postgres.conninfo), claimIdle: .seconds(1))
        XCTAssertEqual(summary.claimed, 80)
        XCTAssertEqual(summary.stored, 80)
        XCTAssertEqual(summary.alreadyStored, 40)
        XCTAssertEqual(summary.deadLettered, 0)
        XCTAssertEqual(try rowCounts(postgres), [80, 80])
        XCTAssertEqual(try pendingCount(), 0)
    }

    func testARecordPostgresRejectsIsTriedAgainThenDeadLetteredAlone() throws {
        let postgres = try self.postgres()
        try append((0..<3).map { record($0) })
        var bad = record(3)
        bad.requestId = "req-bad-status"
        let badJSON = bad.json.replacingOccurrences(of: "\"status\":200", with: "\"status\":\"two hundred\"")
        let badId = try appendRaw(requestId: bad.requestId, json: badJSON)
        try append((4..<8).map { record($0) })
        let destination = PostgresAuditDestination(conninfo: postgres.conninfo)

        let first = try drain(to: destination, claimIdle: .seconds(1), maxDeliveries: 2)
        XCTAssertEqual(first.stored, 7, "the rest of the batch is stored")
        XCTAssertEqual(first.deferred, 1)
        XCTAssertEqual(first.deadLettered, 0)
        XCTAssertEqual(try pendingCount(), 1)

        Thread.sleep(forTimeInterval: 1.2)
        let second = try drain(to: destination, claimIdle: .seconds(1), maxDeliveries: 2)
        XCTAssertEqual(second.claimed, 1)
        XCTAssertEqual(second.deadLettered, 1, "delivery 2 of 2 failed too")
        XCTAssertEqual(try pendingCount(), 0)
        let dead = try deadLetters()
        XCTAssertEqual(dead.count, 1)
        XCTAssertEqual(dead.first?["source_id"], badId)
        XCTAssertEqual(dead.first?["record"], badJSON)
        XCTAssertTrue(dead.first?["error"]?.contains("22P02") ?? false, "\(dead)")
        XCTAssertEqual(try rowCounts(postgres), [7, 7])
    }

    /// PostgreSQL goes away while a running drainer holds a batch: it keeps the batch, waits,
    /// and stores it when the server is back, without counting the waits as deliveries.
    func testARunningDrainerWaitsForPostgresAndThenStoresItsBatch() throws {
        let postgres = try self.postgres()
        let config = redisConfig!, keys = keys, conninfo = postgres.conninfo
        let run = BackgroundDrain()
        let thread = Thread {
            let drainer = AuditDrainer(redis: config, keys: keys, destination: PostgresAuditDestination(conninfo: conninfo),
                                       options: .init(consumer: "steady", block: .milliseconds(200), claimIdle: .seconds(1)))
            let result = Result { try drainer.run(once: false) { run.stop.load(ordering: .relaxed) } }
            run.outcome.withLock { $0 = result }
        }
        thread.start()
        defer { run.stop.store(true, ordering: .relaxed) }
        try waitUntil("the drainer is ready", timeout: .seconds(10)) {
            (try? self.idleDrainerSessions(postgres)) == 1 || run.outcome.withLock { $0 != nil }
        }
        if let early = run.outcome.withLock({ $0 }) { return XCTFail("the drainer ended early: \(early)") }

        postgres.stop()
        try append((0..<30).map { record($0) })
        // It holds the first batch it read (one entry or more) until PostgreSQL is back.
        try waitUntil("the drainer holds a batch", timeout: .seconds(10)) { (try? self.pendingCount()) ?? 0 > 0 }
        Thread.sleep(forTimeInterval: 2.5)  // longer than --claim-idle: its own sweeps must not re-deliver
        try postgres.launch()
        try waitUntil("the batch is stored", timeout: .seconds(45)) { (try? self.pendingCount()) == 0 }

        run.stop.store(true, ordering: .relaxed)
        try waitUntil("the drainer stops", timeout: .seconds(10)) { run.outcome.withLock { $0 != nil } }
        let summary = try XCTUnwrap(run.outcome.withLock { $0 }).get()
        XCTAssertEqual(summary.read, 30)
        XCTAssertEqual(summary.stored, 30)
        XCTAssertEqual(summary.claimed, 0, "the drainer kept its claim while waiting")
        XCTAssertEqual(summary.deadLettered, 0)
        XCTAssertEqual(try rowCounts(postgres), [30, 30])
        XCTAssertFalse(try consumers().contains("steady"), "a drainer with nothing pending leaves the group")
    }

    // MARK: The command, killed and stopped

    /// A drainer killed with SIGKILL after its batch was committed in PostgreSQL but before
    /// its XACK reached Redis: the next drainer claims the batch, and PostgreSQL still has
    /// one row per record.
    func testADrainerKilledBeforeItsAcknowledgementLosesAndDuplicatesNothing() throws {
        let binary = try drainBinary()
        let postgres = try self.postgres()
        let config = try writeConfig()
        try PostgresAuditDestination(conninfo: postgres.conninfo).prepare()
        let total = 50

        let drainer = try ManagedProcess(name: "drainer-a", executable: binary,
                                         arguments: ["audit", "drain", "--config", config, "--to", postgres.conninfo,
                                                     "--consumer", "drainer-a", "--block", "300ms"],
                                         logDirectory: directory)
        defer { drainer.stop(signal: SIGKILL) }
        try waitUntil("drainer-a is ready", timeout: .seconds(15)) { (try? self.idleDrainerSessions(postgres)) == 1 }

        // Hold the table so the drainer stops inside its INSERT, after reading.
        let locker = try PostgresConnection(conninfo: postgres.conninfo)
        try locker.execute("BEGIN")
        try locker.execute("LOCK TABLE sluice_audit IN ACCESS EXCLUSIVE MODE")
        try appendAtOnce((0..<total).map { record($0) })  // one batch for the drainer
        try waitUntil("drainer-a read the batch", timeout: .seconds(10)) { (try? self.pendingCount()) == total }
        let watcher = try PostgresConnection(conninfo: postgres.conninfo)
        try waitUntil("drainer-a waits for the lock", timeout: .seconds(10)) {
            (try? watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sluice-audit-drain' "
                                  + "AND wait_event_type = 'Lock'").rows) == [["1"]]
        }
        // Writes to Redis wait from now on: the drainer's COMMIT goes through, its XACK does not.
        let redis = RedisConnection(config: redisConfig)
        _ = try redis.checked(["CLIENT", "PAUSE", "60000", "WRITE"])
        try locker.execute("COMMIT")
        try waitUntil("the batch is committed", timeout: .seconds(10)) {
            (try? watcher.execute("SELECT count(*) FROM sluice_audit").rows) == [[String(total)]]
        }
        drainer.stop(signal: SIGKILL)
        _ = try redis.checked(["CLIENT", "UNPAUSE"])
        XCTAssertEqual(try pendingCount(), total, "killed before its acknowledgement")

        Thread.sleep(forTimeInterval: 1.2)
        // Trust authentication ignores the password; the log must not show it.
        let withPassword = postgres.conninfo.replacingOccurrences(of: "postgres@", with: "postgres:hunter2-pw@")
        let second = try runCommand(binary, ["audit", "drain", "--config", config, "--to", withPassword, "--once",
                                             "--consumer", "drainer-b", "--claim-idle", "1s"])
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertTrue(second.output.contains("claimed \(total)"), second.output)
        XCTAssertTrue(second.output.contains("(\(total) already stored)"), second.output)
        XCTAssertEqual(try rowCounts(postgres), [total, total])
        XCTAssertEqual(try pendingCount(), 0)
        XCTAssertFalse(second.output.contains("hunter2-pw"), second.output)
    }

    func testSIGTERMFinishesTheBatchAndExitsZero() throws {
        let binary = try drainBinary()
        let config = try writeConfig()
        let audit = directory.appendingPathComponent("audit")
        let drainer = try ManagedProcess(name: "drainer", executable: binary,
                                         arguments: ["audit", "drain", "--config", config, "--to", "file:\(audit.path)",
                                                     "--block", "300ms", "--batch", "10"],
                                         logDirectory: directory)
        defer { drainer.stop(signal: SIGKILL) }
        try append((0..<40).map { record($0) })
        try waitUntil("every record is written", timeout: .seconds(15)) {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: audit.path)) ?? []
            return files.compactMap { try? self.lines(audit.appendingPathComponent($0)).count }.reduce(0, +) == 40
        }
        kill(drainer.pid, SIGTERM)
        XCTAssertTrue(drainer.waitForExit(timeout: .seconds(10)), "the drainer exits on SIGTERM")
        XCTAssertEqual(drainer.process.terminationStatus, 0, drainer.log)
        XCTAssertEqual(try pendingCount(), 0)
        XCTAssertTrue(drainer.log.contains("stored 40"), drainer.log)
    }

    // MARK: Helpers

    private func postgres() throws -> PostgresServerFixture {
        if let skip = Self.postgresSkip { throw skip }
        if Self.postgres == nil {
            do {
                Self.postgres = try PostgresServerFixture.start(port: freeLoopbackPort())
            } catch let skip as XCTSkip {
                Self.postgresSkip = skip
                throw skip
            }
        }
        let server = Self.postgres!
        try PostgresConnection(conninfo: server.conninfo).execute("DROP TABLE IF EXISTS sluice_audit")
        return server
    }

    private func drain(to destination: any AuditDestination, group: String = "drain", batch: Int = 100,
                       claimIdle: Duration = .seconds(60), maxDeliveries: Int = 5) throws -> AuditDrainer.Summary {
        let options = AuditDrainer.Options(group: group, consumer: "test-\(group)", batch: batch, block: .milliseconds(200),
                                           claimIdle: claimIdle, maxDeliveries: maxDeliveries)
        return try AuditDrainer(redis: redisConfig, keys: keys, destination: destination, options: options).run(once: true)
    }

    /// A record with every field set; `n` spaces the timestamps.
    private func record(_ n: Int, minutesApart: Int64 = 1) -> AuditRecord {
        AuditRecord(requestId: "req-\(n)-\(UUID().uuidString.prefix(8))",
                    timeMs: 1_795_737_600_000 + Int64(n) * minutesApart * 60_000,
                    keyId: "key_test", clientAddress: "10.0.0.7", path: "/v1/chat/completions", route: "chat",
                    endpoint: "primary", provider: "openai", providerModel: "gpt-4o", tags: ["team": "support"],
                    status: 200, attempts: [.init(endpoint: "primary", provider: "openai", status: 200, error: "ok",
                                                  latencyMs: 812, probe: false)],
                    latencyMs: 815, ttfbMs: 120, upstreamMs: 812, promptTokens: 12, completionTokens: 40,
                    usageSource: .provider, cost: 0.0012, stream: true, streamCompleted: true,
                    writer: "test:1:1", seq: n)
    }

    /// Appends through the gateway's own script (`AuditScripts.append`), so the chain is real.
    private func append(_ records: [AuditRecord]) throws {
        for record in records { _ = try appendRaw(requestId: record.requestId, json: record.json) }
    }

    /// Appends `records` in one MULTI/EXEC, so a reader gets them all in one read.
    private func appendAtOnce(_ records: [AuditRecord]) throws {
        let appends = records.map { record -> [String] in
            sequence += 1
            return ["EVAL", AuditScripts.append.source, "3", keys.auditStream, keys.auditHead, keys.auditWriters,
                    "100000", "test:1:1", String(sequence), record.requestId, "call", record.json]
        }
        let replies = try RedisConnection(config: redisConfig).pipeline([["MULTI"]] + appends + [["EXEC"]])
        guard case .array(let results)? = replies.last, results.count == records.count else {
            throw StackError("MULTI/EXEC failed: \(replies.last.map { "\($0)" } ?? "")")
        }
    }

    @discardableResult
    private func appendRaw(requestId: String, json: String) throws -> String {
        sequence += 1
        let reply = try RedisConnection(config: redisConfig).evaluate(
            AuditScripts.append, keys: [keys.auditStream, keys.auditHead, keys.auditWriters],
            arguments: ["100000", "test:1:1", String(sequence), requestId, "call", json])
        return try XCTUnwrap(reply.text)
    }

    private func pendingCount(group: String = "drain") throws -> Int {
        let reply = try RedisConnection(config: redisConfig).checked(["XPENDING", keys.auditStream, group])
        guard case .array(let parts) = reply else { throw StackError("unexpected XPENDING reply \(reply)") }
        return parts.first?.integer ?? -1
    }

    private func consumers(group: String = "drain") throws -> [String] {
        let reply = try RedisConnection(config: redisConfig).command(["XINFO", "CONSUMERS", keys.auditStream, group])
        guard case .array(let rows) = reply else { return [] }
        return rows.compactMap { $0.fieldMap["name"] }
    }

    private func deadLetters() throws -> [[String: String]] {
        let reply = try RedisConnection(config: redisConfig).checked(["XRANGE", keys.auditDeadLetters, "-", "+"])
        guard case .array(let entries) = reply else { return [] }
        return entries.compactMap { entry in
            guard case .array(let pair) = entry, pair.count == 2 else { return nil }
            return pair[1].fieldMap
        }
    }

    /// `count(*)` and `count(DISTINCT request_id)` of `sluice_audit`.
    private func rowCounts(_ postgres: PostgresServerFixture) throws -> [Int] {
        let rows = try PostgresConnection(conninfo: postgres.conninfo)
            .execute("SELECT count(*), count(DISTINCT request_id) FROM sluice_audit").rows
        return rows.first?.compactMap { $0.flatMap { Int($0) } } ?? []
    }

    /// Drainer connections that wait for their next statement: a drainer that has set up
    /// its table (Redis creates a consumer only when it first gets entries).
    private func idleDrainerSessions(_ postgres: PostgresServerFixture) throws -> Int {
        let rows = try PostgresConnection(conninfo: postgres.conninfo).execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sluice-audit-drain' AND state = 'idle'").rows
        return rows.first?.first.flatMap { $0.flatMap { Int($0) } } ?? 0
    }

    private func lines(_ file: URL) throws -> [String] {
        try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    private func writeConfig() throws -> String {
        guard case .tcp(_, let port) = redisConfig.url.address else { throw StackError("tcp redis expected") }
        let path = directory.appendingPathComponent("sluice.yaml").path
        try """
            redis: { url: "redis://127.0.0.1:\(port)/0", timeout: 500ms }
            providers:
              local: { kind: openai_compatible, base_url: "http://127.0.0.1:9/v1" }
            routes:
              chat: { type: chat, endpoints: [ { provider: local, model: m } ] }
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The `sluice` binary, if its `audit drain` command is registered.
    private func drainBinary() throws -> String {
        guard let path = GatewayStack.sluiceBinary else { throw XCTSkip("build the sluice binary first") }
        guard let help = try? runCommand(path, ["audit", "drain", "--help"]),
              help.status == 0, help.output.contains("USAGE: sluice audit drain") else {
            throw XCTSkip("`sluice audit drain` is not registered in \(path)")
        }
        return path
    }
}

/// A drainer running on its own thread: the flag that stops it, and what its run returned.
final class BackgroundDrain: Sendable {
    let stop = Atomic<Bool>(false)
    let outcome = Mutex<Result<AuditDrainer.Summary, any Error>?>(nil)
}
