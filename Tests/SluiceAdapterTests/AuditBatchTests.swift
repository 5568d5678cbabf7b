import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SluiceCore
import SluiceOps
import SluiceRedis
import XCTest

/// Batches of audit records (`AuditBatch`, `AuditScripts.appendBatch`) against a real
/// `redis-server`: every record of a batch is chained like a single append, a replayed batch
/// is skipped whole, usage totals are the sums of the batch's records, and batches chain on
/// to records appended one by one (spools of earlier versions).
final class AuditBatchTests: RedisTestCase {
    func testEveryRecordOfABatchIsNumberedAndChained() throws {
        var batch = AuditBatch(writer: "h:1:0", firstSequence: 1)
        for index in 0..<3 { batch.add(call("r\(index)"), keys: keys) }
        batch.addAlert(json: #"{"kind":"alert","type":"budget_threshold"}"#, requestId: "r2")
        XCTAssertEqual(batch.count, 4)
        XCTAssertNotEqual(try run(batch), .integer(0))
        let report = try AuditChain.verify(redis: redis, stream: keys.auditStream)
        XCTAssertEqual(report.checked, 4)
        XCTAssertTrue(report.intact, "\(report.breaks)")
        let records = try entries()
        XCTAssertEqual(records.map { $0["rid"] }, ["r0", "r1", "r2", "r2"])
        XCTAssertEqual(records.map { $0["kind"] }, ["call", "call", "call", "alert"])
        XCTAssertTrue(records[1]["record"]?.contains(#""writer":"h:1:0","seq":2"#) ?? false, records[1]["record"] ?? "")
        XCTAssertEqual(try redis.command(["HGET", keys.auditWriters, "h:1:0"]).text, "4")
    }

    func testAWriterThatKnowsTheHeadSendsTheChainAndOneThatDoesNotGetsRedissOwn() throws {
        // No head known yet: the batch asks for it, and Redis hashes.
        var first = AuditBatch(writer: "h:1:0", firstSequence: 1)
        first.add(call("a"), keys: keys)
        first.askForHead()
        guard case .array(let reply) = try run(first), reply.count == 2, let head = reply[1].text else {
            return XCTFail("the reply names the head")
        }
        XCTAssertEqual(head, try redis.command(["GET", keys.auditHead]).text)
        // Known: the writer's hashes are the chain.
        var second = AuditBatch(writer: "h:1:0", firstSequence: 2)
        second.add(call("b"), keys: keys)
        second.addAlert(json: #"{"kind":"alert","type":"budget_threshold"}"#, requestId: "b")
        let last = second.chain(after: head)
        guard case .array(let next) = try run(second) else { return XCTFail("the reply names the head") }
        XCTAssertEqual(next.last?.text, last, "the head is the writer's last hash")
        // Stale (another writer moved the head): Redis hashes itself.
        var third = AuditBatch(writer: "h:2:0", firstSequence: 1)
        third.add(call("c"), keys: keys)
        let stale = third.chain(after: head)
        guard case .array(let after) = try run(third) else { return XCTFail("the reply names the head") }
        XCTAssertNotEqual(after.last?.text, stale, "chained after the real head, not the stale one")
        XCTAssertEqual(after.last?.text, try redis.command(["GET", keys.auditHead]).text)
        let report = try AuditChain.verify(redis: redis, stream: keys.auditStream)
        XCTAssertEqual(report.checked, 4)
        XCTAssertTrue(report.intact, "\(report.breaks)")
        XCTAssertEqual(try entries().map { $0["rid"] }, ["a", "b", "b", "c"])
        XCTAssertEqual(try entries()[2]["hash"], last)
    }

    /// With the head right, Redis stores the writer's hashes as given (it does not hash the
    /// records again): a wrong one shows as a break, as any altered entry would.
    func testRedisStoresTheWritersHashesWhenItsHeadIsRight() throws {
        var batch = AuditBatch(writer: "h:1:0", firstSequence: 1)
        batch.add(call("a"), keys: keys)
        let call = batch.call(keys: keys, maxLength: 10_000, usageTTLSeconds: 86_400)
        let bogus = String(repeating: "0", count: 40)
        _ = try redis.evaluate(call.script, keys: call.keys, arguments: call.arguments + ["", bogus])
        XCTAssertEqual(try entries().first?["hash"], bogus)
        XCTAssertFalse(try AuditChain.verify(redis: redis, stream: keys.auditStream).intact)
    }

    func testAReplayedBatchIsSkippedWholeWithItsUsage() throws {
        var batch = AuditBatch(writer: "h:1:0", firstSequence: 1)
        batch.add(call("a"), keys: keys)
        batch.add(call("b"), keys: keys)
        _ = try run(batch)
        XCTAssertEqual(try run(batch), .integer(0), "a batch the writer already has")
        XCTAssertEqual(try redis.command(["XLEN", keys.auditStream]).integer, 2)
        XCTAssertEqual(try usage("route")["chat|requests"], "2", "usage is not counted twice")
        var next = AuditBatch(writer: "h:1:0", firstSequence: batch.nextSequence)
        next.add(call("c"), keys: keys)
        XCTAssertNotEqual(try run(next), .integer(0))
        XCTAssertEqual(try redis.command(["XLEN", keys.auditStream]).integer, 3)
    }

    func testUsageTotalsAreTheSumsOfTheBatchsRecords() throws {
        var batch = AuditBatch(writer: "h:1:0", firstSequence: 1)
        batch.add(call("a", tags: ["team": "support"], cost: 0.25), keys: keys)
        batch.add(call("b", tags: ["team": "support"], cost: 0.5), keys: keys)
        batch.add(call("c", route: "other", keyId: "key_x", tags: ["team": "ops"]), keys: keys)
        _ = try run(batch)
        let routes = try usage("route")
        XCTAssertEqual(routes["chat|requests"], "2")
        XCTAssertEqual(routes["chat|prompt_tokens"], "24")
        XCTAssertEqual(routes["chat|completion_tokens"], "80")
        XCTAssertEqual(routes["chat|cost_micros"], "750000")
        XCTAssertEqual(routes["other|requests"], "1")
        XCTAssertNil(routes["other|cost_micros"], "no cost, no field")
        XCTAssertEqual(try usage("key")["key_abc|requests"], "2")
        XCTAssertEqual(try usage("tag:team")["support|requests"], "2")
        XCTAssertEqual(try usage("tag:team")["ops|requests"], "1")
        XCTAssertEqual(try usage("model")["openai/gpt-4o|completion_tokens"], "120")
        let ttl = try XCTUnwrap(try redis.command(["TTL", keys.usage(day: "2026-11-18")]).integer)
        XCTAssertGreaterThan(ttl, 86_400)
    }

    /// Per route and endpoint, upstream attempts and failed ones (a retry on the same
    /// endpoint counted twice, a 400 not as a failure); per route, response-cache lookups
    /// and hits (a bypass is no lookup).
    func testEndpointAttemptsAndResponseCacheHitsAreCounted() throws {
        func attempt(_ endpoint: String, _ error: String, failed: Bool = false) -> AuditRecord.Attempt {
            AuditRecord.Attempt(endpoint: endpoint, provider: "openai", status: Int(error) ?? 200, error: error, latencyMs: 5,
                                probe: false, failed: failed)
        }
        var failedOver = call("a")
        failedOver.attempts = [attempt("bad", "503", failed: true), attempt("bad", "timeout_first_byte", failed: true),
                               attempt("good", "ok")]
        var refused = call("b")
        refused.attempts = [attempt("good", "400")]
        var hit = call("c"), miss = call("d"), bypass = call("e")
        (hit.cache, miss.cache, bypass.cache) = ("hit", "miss", "bypass")
        var batch = AuditBatch(writer: "h:1:0", firstSequence: 1)
        for record in [failedOver, refused, hit, miss, bypass] { batch.add(record, keys: keys) }
        _ = try run(batch)
        XCTAssertEqual(try usage("endpoint"), ["chat bad|requests": "2", "chat bad|errors": "2", "chat good|requests": "2"])
        let routes = try usage("route")
        XCTAssertEqual(routes["chat|response_cache_lookups"], "2")
        XCTAssertEqual(routes["chat|response_cache_hits"], "1")
        let report = try UsageReport.read(redis: redis, keys: keys, dimension: "endpoint", days: ["2026-11-18"])
        XCTAssertEqual(report.rows.map { "\($0.group) \($0.requests) \($0.errors)" }, ["chat bad 2 2", "chat good 2 0"])
        let byRoute = try UsageReport.read(redis: redis, keys: keys, dimension: "route", days: ["2026-11-18"])
        XCTAssertEqual(byRoute.rows.first?.responseCacheHitRatio, 0.5)
    }

    func testBatchesChainOnToRecordsAppendedOneByOne() throws {
        let single = call("old").json
        _ = try redis.evaluate(AuditScripts.append, keys: [keys.auditStream, keys.auditHead, keys.auditWriters],
                               arguments: ["10000", "h:9:0", "1", "old", "call", single])
        var batch = AuditBatch(writer: "h:1:0", firstSequence: 1)
        batch.add(call("new1"), keys: keys)
        batch.add(call("new2"), keys: keys)
        _ = try run(batch)
        let report = try AuditChain.verify(redis: redis, stream: keys.auditStream)
        XCTAssertEqual(report.checked, 3)
        XCTAssertTrue(report.intact, "\(report.breaks)")
    }

    func testTheJournalsOneRecordCallIsThatOfABatchOfIt() {
        let record = call("solo", tags: ["team": "support", "app": "web"], cost: 0.5)
        let prepared = AuditBatch.prepare(record, writer: "h:1:0", sequence: 7, keys: keys)
        var batch = AuditBatch(writer: "h:1:0", firstSequence: 7)
        batch.add(prepared)
        let viaBatch = batch.call(keys: keys, maxLength: 10_000, usageTTLSeconds: 86_400)
        let alone = AuditBatch.call(of: prepared, writer: "h:1:0", keys: keys, maxLength: 10_000, usageTTLSeconds: 86_400)
        XCTAssertEqual(alone.keys, viaBatch.keys)
        XCTAssertEqual(alone.arguments, viaBatch.arguments)
        // One hash for the day: route, key, key-route, model, tag:app, tag:team, four fields each.
        XCTAssertEqual(alone.keys, [keys.auditStream, keys.auditHead, keys.auditWriters, keys.usage(day: "2026-11-18")])
        XCTAssertEqual(Array(alone.arguments[9...11]), ["24", "route=chat|requests", "1"])
        // The journal's entry, written field by field, holds exactly that call.
        let entry = AuditBatch.journalEntry(of: prepared, writer: "h:1:0", keys: keys, maxLength: 10_000,
                                            usageTTLSeconds: 86_400)
        XCTAssertEqual(entry, JournalEntry.encode(keys: alone.keys, arguments: alone.arguments))
        let decoded = JournalEntry.decodeAll(entry)
        XCTAssertEqual(decoded.skipped, 0)
        XCTAssertEqual(decoded.calls.first?.keys, alone.keys)
        XCTAssertEqual(decoded.calls.first?.arguments, alone.arguments)
    }

    func testUsageFieldsAreTheSameWhetherTheirNamesAreNewOrKnown() {
        // A failed attempt too, so the endpoint's `errors` field is named.
        var record = call("first", tags: ["team": "support"], cost: 0.5)
        record.attempts = [.init(endpoint: "primary", provider: "openai", status: 500, error: "http_500", latencyMs: 3,
                                 probe: false, failed: true),
                           .init(endpoint: "primary", provider: "openai", status: 200, error: "ok", latencyMs: 4, probe: false)]
        let first = AuditBatch.call(of: AuditBatch.prepare(record, writer: "h:1:0", sequence: 1, keys: keys),
                                    writer: "h:1:0", keys: keys, maxLength: 10_000, usageTTLSeconds: 86_400)
        let again = AuditBatch.call(of: AuditBatch.prepare(record, writer: "h:1:0", sequence: 1, keys: keys),
                                    writer: "h:1:0", keys: keys, maxLength: 10_000, usageTTLSeconds: 86_400)
        XCTAssertEqual(first.arguments, again.arguments)
        let at = try! XCTUnwrap(first.arguments.firstIndex(of: "endpoint=chat primary|requests"))
        XCTAssertEqual(Array(first.arguments[at..<(at + 4)]),
                       ["endpoint=chat primary|requests", "2", "endpoint=chat primary|errors", "1"])
        XCTAssertTrue(first.arguments.contains("tag:team=support|cost_micros"))
    }

    func testABatchSumsEachHashsFieldsInTheOrderFirstSeen() {
        var batch = AuditBatch(writer: "h:1:0", firstSequence: 1)
        batch.add(call("a", cost: nil), keys: keys)
        batch.add(call("b", cost: 0.25), keys: keys)
        batch.add(call("c", route: "other"), keys: keys)
        let call = batch.call(keys: keys, maxLength: 10_000, usageTTLSeconds: 86_400)
        XCTAssertEqual(call.keys.count, 4, "one usage hash for the day")
        // The day's fields, summed, each where it was first seen: a's four groups of three
        // (no cost), then b's costs, then c's new route groups.
        let at = try! XCTUnwrap(call.arguments.firstIndex(of: "route=chat|requests"))
        XCTAssertEqual(Array(call.arguments[at..<(at + 6)]),
                       ["route=chat|requests", "2", "route=chat|prompt_tokens", "24", "route=chat|completion_tokens", "80"])
        let cost = try! XCTUnwrap(call.arguments.firstIndex(of: "route=chat|cost_micros"))
        XCTAssertEqual(call.arguments[cost + 1], "250000")
        XCTAssertGreaterThan(cost, try! XCTUnwrap(call.arguments.firstIndex(of: "tag:team=support|completion_tokens")))
        XCTAssertEqual(call.arguments[try! XCTUnwrap(call.arguments.firstIndex(of: "route=other|requests")) + 1], "1")
        XCTAssertEqual(call.arguments[try! XCTUnwrap(call.arguments.firstIndex(of: "model=openai/gpt-4o|requests")) + 1], "3")
    }

    func testUsageReportsAddTheDaysHashToTheLayoutBeforeIt() throws {
        var batch = AuditBatch(writer: "h:1:0", firstSequence: 1)
        batch.add(call("a", tags: ["team": "support"], cost: 0.25), keys: keys)
        batch.add(call("b", route: "other", tags: ["team": "ops=night"]), keys: keys)
        _ = try run(batch)
        // What a replayed spool line from before the day's hash writes.
        _ = try redis.command(["HINCRBY", keys.usage(day: "2026-11-18", dimension: "route"), "chat|requests", "5"])
        _ = try redis.command(["HINCRBY", keys.usage(day: "2026-11-18", dimension: "tag:app"), "web|requests", "1"])
        let routes = try UsageReport.read(redis: redis, keys: keys, dimension: "route", days: ["2026-11-18"])
        XCTAssertEqual(routes.rows.map(\.group), ["chat", "other"])
        XCTAssertEqual(routes.rows.map(\.requests), [6, 1])
        XCTAssertEqual(routes.rows[0].costMicros, 250_000)
        let teams = try UsageReport.read(redis: redis, keys: keys, dimension: "tag:team", days: ["2026-11-18"])
        XCTAssertEqual(Set(teams.rows.map(\.group)), ["support", "ops=night"])
        let keyRoutes = try UsageReport.read(redis: redis, keys: keys, dimension: "key-route", days: ["2026-11-18"])
        XCTAssertEqual(Set(keyRoutes.rows.map(\.group)), ["key_abc chat", "key_abc other"])
        XCTAssertEqual(try SpendReport.tagDimensions(redis: redis, keys: keys, days: ["2026-11-18"]), ["app", "team"])
    }

    func testABatchWithMoreUsageFieldsThanLuaCanUnpackAtOnceAddsThemAll() throws {
        // 1,200 keys: key and key-route groups of three fields each, 7,200 fields and more
        // in the day's hash, past Lua's ~8,000 values per unpack once paired for HSET.
        var batch = AuditBatch(writer: "h:1:0", firstSequence: 1)
        for index in 0..<1_200 { batch.add(call("r\(index)", keyId: "key_\(index)"), keys: keys) }
        XCTAssertNotEqual(try run(batch), .integer(0))
        let byKey = try UsageReport.read(redis: redis, keys: keys, dimension: "key", days: ["2026-11-18"])
        XCTAssertEqual(byKey.rows.count, 1_200)
        XCTAssertTrue(byKey.rows.allSatisfy { $0.requests == 1 && $0.promptTokens == 12 && $0.completionTokens == 40 })
        XCTAssertEqual(try usage("route")["chat|requests"], "1200")
    }

    // MARK: Helpers

    private func call(_ requestId: String, route: String = "chat", keyId: String = "key_abc",
                      tags: [String: String] = ["team": "support"], cost: Double? = nil) -> AuditRecord {
        AuditRecord(requestId: requestId, timeMs: 1_795_030_400_000, keyId: keyId, path: "/v1/chat/completions",
                    route: route, endpoint: "primary", provider: "openai", providerModel: "gpt-4o", tags: tags,
                    status: 200, latencyMs: 815, promptTokens: 12, completionTokens: 40, usageSource: .provider,
                    cost: cost)
    }

    private func run(_ batch: AuditBatch) throws -> RedisValue {
        let call = batch.call(keys: keys, maxLength: 10_000, usageTTLSeconds: 400 * 86_400)
        return try redis.evaluate(call.script, keys: call.keys, arguments: call.arguments)
    }

    /// One dimension's fields of the day's usage hash, without the `<dimension>=` stem.
    private func usage(_ dimension: String) throws -> [String: String] {
        let all = try redis.command(["HGETALL", keys.usage(day: "2026-11-18")]).fieldMap
        return Dictionary(uniqueKeysWithValues: all.compactMap { field, value in
            field.hasPrefix(dimension + "=") ? (String(field.dropFirst(dimension.count + 1)), value) : nil
        })
    }

    private func entries() throws -> [[String: String]] {
        guard case .array(let items) = try redis.checked(["XRANGE", keys.auditStream, "-", "+"]) else { return [] }
        return items.compactMap { item in
            guard case .array(let pair) = item, pair.count == 2 else { return nil }
            return pair[1].fieldMap
        }
    }
}
