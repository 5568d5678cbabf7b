import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SluiceCore
import SluiceOps
import SluiceRedis
import XCTest

/// The audit stream against a real `redis-server`: records appended by `AuditScripts.append`
/// form a chain `AuditChain` verifies, deleting or altering an entry breaks it where
/// expected, replays are skipped, and `AuditTail` follows new records through its filter.
final class AuditChainTests: RedisTestCase {
    // MARK: The chain

    func testAppendedRecordsFormAnIntactChainThatSHA1InSwiftReproduces() throws {
        let ids = try appendCalls(5)
        let report = try verify()
        XCTAssertEqual(report.checked, 5)
        XCTAssertEqual(report.firstId, ids.first)
        XCTAssertEqual(report.lastId, ids.last)
        XCTAssertTrue(report.intact, "\(report.breaks)")
        // The first entry chains to nothing; the head names the newest entry's hash.
        let entries = try stored()
        XCTAssertEqual(entries[0].prev, "")
        XCTAssertEqual(entries[0].hash, AuditChain.hash(prev: "", record: entries[0].record))
        XCTAssertEqual(try redis.command(["GET", keys.auditHead]).text, entries[4].hash)
    }

    func testPagesAndRangesCoverExactlyTheEntriesAsked() throws {
        let ids = try appendCalls(7)
        let paged = try AuditChain.verify(redis: redis, stream: keys.auditStream, pageSize: 3)
        XCTAssertEqual(paged.checked, 7)
        XCTAssertTrue(paged.intact, "\(paged.breaks)")

        let range = try AuditChain.verify(redis: redis, stream: keys.auditStream, from: ids[2], to: ids[4], pageSize: 2)
        XCTAssertEqual(range.checked, 3)
        XCTAssertEqual(range.firstId, ids[2])
        XCTAssertEqual(range.lastId, ids[4])
        XCTAssertTrue(range.intact)
    }

    func testADeletedEntryBreaksTheChainAtTheEntryAfterIt() throws {
        let ids = try appendCalls(5)
        XCTAssertEqual(try redis.command(["XDEL", keys.auditStream, ids[2]]).integer, 1)
        let report = try verify()
        XCTAssertEqual(report.checked, 4)
        XCTAssertEqual(report.breaks, [AuditChain.Break(kind: .missingBefore, entryId: ids[3], previousId: ids[1])])
        XCTAssertFalse(report.intact)
        XCTAssertTrue(report.breaks[0].description.contains("chain broken after \(ids[1])"))
    }

    func testTrimmedOldEntriesDoNotCountAsBreaks() throws {
        _ = try appendCalls(5)
        XCTAssertEqual(try redis.command(["XTRIM", keys.auditStream, "MAXLEN", "2"]).integer, 3)
        let report = try verify()
        XCTAssertEqual(report.checked, 2)
        XCTAssertTrue(report.intact, "the oldest remaining entry is trusted for its prev")
    }

    func testAnAlteredRecordIsReportedAtThatEntry() throws {
        // A crafted stream: entry 2's record was changed after its hash was computed.
        let first = try addEntry(prev: "", record: #"{"request_id":"r1","status":200}"#)
        let honest = AuditChain.hash(prev: first.hash, record: #"{"request_id":"r2","status":500}"#)
        let altered = try addEntry(prev: first.hash, record: #"{"request_id":"r2","status":200}"#, hash: honest)
        let third = try addEntry(prev: honest, record: #"{"request_id":"r3","status":200}"#)
        let report = try verify()
        XCTAssertEqual(report.checked, 3)
        XCTAssertEqual(report.breaks, [AuditChain.Break(kind: .altered, entryId: altered.id)])
        XCTAssertTrue(report.breaks[0].description.contains("altered"))
        XCTAssertNotEqual(third.id, altered.id)
    }

    func testAnAlteredAndRehashedRecordBreaksTheChainAfterIt() throws {
        let first = try addEntry(prev: "", record: #"{"request_id":"r1"}"#)
        let original = AuditChain.hash(prev: first.hash, record: #"{"request_id":"r2","cost":9.5}"#)
        let forged = try addEntry(prev: first.hash, record: #"{"request_id":"r2","cost":0.1}"#)
        let third = try addEntry(prev: original, record: #"{"request_id":"r3"}"#)
        let report = try verify()
        XCTAssertEqual(report.breaks, [AuditChain.Break(kind: .missingBefore, entryId: third.id, previousId: forged.id)])
    }

    func testAnEntryWithoutChainFieldsIsAltered() throws {
        let first = try addEntry(prev: "", record: #"{"request_id":"r1"}"#)
        let bare = try XCTUnwrap(try redis.checked(["XADD", keys.auditStream, "*", "record", "{}"]).text)
        let report = try verify()
        XCTAssertEqual(report.breaks, [AuditChain.Break(kind: .missingBefore, entryId: bare, previousId: first.id),
                                       AuditChain.Break(kind: .altered, entryId: bare)])
    }

    func testAReplayedRecordIsSkipped() throws {
        _ = try append(call(requestId: "a", seq: 1), writer: "h:1:0")
        _ = try append(call(requestId: "b", seq: 2), writer: "h:1:0")
        XCTAssertEqual(try append(call(requestId: "b", seq: 2), writer: "h:1:0"), .integer(0))
        XCTAssertEqual(try append(call(requestId: "a", seq: 1), writer: "h:1:0"), .integer(0))
        XCTAssertEqual(try redis.command(["XLEN", keys.auditStream]).integer, 2)
        // Another writer numbers its records on its own.
        XCTAssertNotNil(try append(call(requestId: "c", seq: 1), writer: "h:2:0").text)
        XCTAssertEqual(try redis.command(["XLEN", keys.auditStream]).integer, 3)
        XCTAssertTrue(try verify().intact)
    }

    // MARK: Tail

    func testTailFollowsRecordsAppendedAfterItStartedThroughItsFilter() throws {
        _ = try append(call(requestId: "before", route: "chat", seq: 1))
        let config = server.config()
        let stream = keys.auditStream
        let results = Collected()
        let started = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        Thread {
            defer { done.signal() }
            do {
                let tail = try AuditTail(redis: config, stream: stream, from: .now,
                                         filter: AuditFilter(route: "chat", tags: ["team": "support"]),
                                         block: .milliseconds(200))
                started.signal()
                try tail.follow(count: 2) { results.add($0.id, $0.json) }
            } catch {
                started.signal()
                results.fail("\(error)")
            }
        }.start()
        XCTAssertEqual(started.wait(timeout: .now() + 10), .success)
        Thread.sleep(forTimeInterval: 0.3)  // the tail is blocked in XREAD by now
        let a = try XCTUnwrap(try append(call(requestId: "a", route: "chat", seq: 2)).text)
        _ = try append(call(requestId: "other-route", route: "embeddings", seq: 3))
        _ = try append(call(requestId: "other-team", route: "chat", tags: ["team": "sales"], seq: 4))
        let b = try XCTUnwrap(try append(call(requestId: "b", route: "chat", status: 503, seq: 5)).text)
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success, "the tail should stop after 2 records")
        let (ids, lines, failure) = results.snapshot()
        XCTAssertNil(failure)
        XCTAssertEqual(ids, [a, b])
        XCTAssertEqual(lines, [call(requestId: "a", route: "chat", seq: 2).json,
                               call(requestId: "b", route: "chat", status: 503, seq: 5).json])
    }

    func testTailFromAnIdOrATimeIncludesThatEntryAndFiltersStatusAndPrincipal() throws {
        for (ms, status, key) in [(1000, 200, "key_a"), (2000, 429, "key_a"), (3000, 502, "key_b"), (4000, 504, "key_a")] {
            let record = call(requestId: "r\(ms)", route: "chat", status: status, keyId: key, seq: ms).json
            _ = try redis.checked(["XADD", keys.auditStream, "\(ms)-0", "rid", "r\(ms)", "kind", "call", "record", record])
        }
        func read(_ start: AuditTail.Start, _ filter: AuditFilter = AuditFilter()) throws -> [String] {
            let tail = try AuditTail(redis: server.config(), stream: keys.auditStream, from: start, filter: filter,
                                     block: .milliseconds(50))
            return try tail.next().map(\.id)
        }
        XCTAssertEqual(try read(.time(ms: 2000)), ["2000-0", "3000-0", "4000-0"])
        XCTAssertEqual(try read(.id("3000-0")), ["3000-0", "4000-0"])
        XCTAssertEqual(try read(.id("0-0")), ["1000-0", "2000-0", "3000-0", "4000-0"])
        XCTAssertEqual(try read(.now), [])
        XCTAssertEqual(try read(.id("0"), AuditFilter(status: AuditFilter.Status(parsing: "5xx"))), ["3000-0", "4000-0"])
        XCTAssertEqual(try read(.id("0"), AuditFilter(principal: "key_a", status: AuditFilter.Status(parsing: "429,5xx"))),
                       ["2000-0", "4000-0"])
        XCTAssertEqual(try read(.ago(ms: 60_000)), [], "stream ids from 1970 are long before a minute ago")
    }

    // MARK: Parsing and lines (no Redis)

    func testStartsAndStatusPatternsParse() {
        XCTAssertEqual(AuditTail.Start(parsing: "now"), .now)
        XCTAssertEqual(AuditTail.Start(parsing: "-10m"), .ago(ms: 600_000))
        XCTAssertEqual(AuditTail.Start(parsing: "-2h"), .ago(ms: 7_200_000))
        XCTAssertEqual(AuditTail.Start(parsing: "1795000000000-3"), .id("1795000000000-3"))
        XCTAssertEqual(AuditTail.Start(parsing: "2026-11-26T12:00:00Z"), .time(ms: 1_795_694_400_000))
        XCTAssertEqual(AuditTail.Start(parsing: "2026-11-26T12:00:00.250+01:00"), .time(ms: 1_795_690_800_250))
        for bad in ["yesterday", "-", "-10x", "12-ab", "2026-11-26"] {
            XCTAssertNil(AuditTail.Start(parsing: bad), bad)
        }
        let server = AuditFilter.Status(parsing: "5xx")
        XCTAssertEqual([200, 429, 500, 503, 599].map { server?.matches($0) }, [false, false, true, true, true])
        let some = AuditFilter.Status(parsing: "200,429")
        XCTAssertEqual([200, 201, 429, 500].map { some?.matches($0) }, [true, false, true, false])
        for bad in ["", "abc", "6xx", "2x", "42"] { XCTAssertNil(AuditFilter.Status(parsing: bad), bad) }
    }

    func testLinesAlignAndColourOnlyTheStatus() throws {
        func entry(_ record: AuditRecord) throws -> AuditTail.Entry {
            let object = try JSONSerialization.jsonObject(with: Data(record.json.utf8)) as? [String: Any]
            return AuditTail.Entry(id: "1-0", kind: "call", json: record.json, record: object)
        }
        var plain = AuditLine(colour: false)
        let first = plain.format(try entry(call(requestId: "a", route: "chat", keyId: "key_abc", seq: 1)))
        let second = plain.format(try entry(call(requestId: "b", route: "summarize", status: 503, principal: "CN=billing",
                                                 tags: [:], seq: 2, errorClass: "upstream_error")))
        XCTAssertEqual(first, "2026-11-18T19:33:20.000Z  200     chat          chat          primary              815ms"
                              + "          12/40  key_abc               team=support")
        XCTAssertEqual(second, "2026-11-18T19:33:20.000Z  503     summarize     chat          primary              815ms"
                               + "          12/40  CN=billing            -  upstream_error")
        XCTAssertEqual(plain.header.prefix(40), "TIME                      STATUS  ROUTE ")

        // Names longer than the header's columns: the config's names size the columns, a
        // longer value is cut, and every line lines up with the header.
        var sized = AuditLine(colour: false, routes: ["chat", "a-rather-long-route-name"], endpoints: ["primary"])
        let lines = [sized.header,
                     sized.format(try entry(call(requestId: "f", route: "a-rather-long-route-name", seq: 6))),
                     sized.format(try entry(call(requestId: "g", route: String(repeating: "r", count: 80),
                                                 principal: String(repeating: "p", count: 40), seq: 7)))]
        func starts(_ line: String) -> [Int] {
            let characters = Array(line)
            return characters.indices.filter { $0 > 0 && characters[$0] != " " && characters[$0 - 1] == " " && characters[$0 - 2] == " " }
        }
        let header = starts(lines[0])
        // Left-aligned columns start where their titles do (LATENCY and TOKENS are
        // right-aligned); WHO is the last titled column.
        for line in lines.dropFirst() {
            XCTAssertEqual(Array(starts(line).prefix(4)), Array(header.prefix(4)), line)
            XCTAssertEqual(starts(line)[header.count - 1], header.last, line)
            XCTAssertTrue(line.hasSuffix("  team=support"), "tags come last, whole: \(line)")
        }
        XCTAssertTrue(lines[2].contains("r…"), lines[2])

        var coloured = AuditLine(colour: true)
        let red = coloured.format(try entry(call(requestId: "c", route: "chat", status: 502, seq: 3)))
        XCTAssertTrue(red.contains("  \u{1B}[31m502\u{1B}[0m     chat"), red)
        XCTAssertTrue(coloured.format(try entry(call(requestId: "d", status: 429, seq: 4))).contains("\u{1B}[33m429"))
        XCTAssertTrue(coloured.format(try entry(call(requestId: "e", seq: 5))).contains("\u{1B}[32m200"))
    }

    // MARK: Helpers

    private func call(requestId: String, route: String = "chat", status: Int = 200, keyId: String? = "key_abc",
                      principal: String? = nil, tags: [String: String] = ["team": "support"], seq: Int,
                      errorClass: String? = nil) -> AuditRecord {
        AuditRecord(requestId: requestId, timeMs: 1_795_030_400_000, principal: principal,
                    keyId: principal == nil ? keyId : nil, path: "/v1/chat/completions", route: route,
                    endpoint: "primary", provider: "openai", providerModel: "gpt-4o", tags: tags, status: status,
                    errorClass: errorClass, latencyMs: 815, promptTokens: 12, completionTokens: 40,
                    usageSource: .provider, writer: "h:1:0", seq: seq)
    }

    /// Appends through the production script; the reply is the entry id, or 0 for a replay.
    private func append(_ record: AuditRecord, writer: String = "h:1:0") throws -> RedisValue {
        try redis.evaluate(AuditScripts.append, keys: [keys.auditStream, keys.auditHead, keys.auditWriters],
                           arguments: ["10000", writer, String(record.seq), record.requestId, "call", record.json])
    }

    private func appendCalls(_ count: Int) throws -> [String] {
        try (1...count).map { seq in
            try XCTUnwrap(try append(call(requestId: "r\(seq)", seq: seq)).text)
        }
    }

    /// XADDs an entry by hand, with the honest hash unless one is given.
    private func addEntry(prev: String, record: String, hash: String? = nil) throws -> AuditChain.Entry {
        let hash = hash ?? AuditChain.hash(prev: prev, record: record)
        let id = try XCTUnwrap(try redis.checked(["XADD", keys.auditStream, "*", "rid", "r", "kind", "call",
                                                  "record", record, "prev", prev, "hash", hash]).text)
        return AuditChain.Entry(id: id, prev: prev, hash: hash, record: record)
    }

    private func stored() throws -> [AuditChain.Entry] {
        guard case .array(let items) = try redis.checked(["XRANGE", keys.auditStream, "-", "+"]) else { return [] }
        return items.compactMap { item in
            guard case .array(let pair) = item, let id = pair.first?.text else { return nil }
            let fields = pair[1].fieldMap
            return AuditChain.Entry(id: id, prev: fields["prev"] ?? "", hash: fields["hash"] ?? "",
                                    record: fields["record"] ?? "")
        }
    }

    private func verify() throws -> AuditChain.Report {
        try AuditChain.verify(redis: redis, stream: keys.auditStream)
    }
}

/// What the tail thread saw, handed to the test thread under a lock.
private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: [String] = []
    private var lines: [String] = []
    private var failure: String?

    func add(_ id: String, _ line: String) {
        lock.withLock {
            ids.append(id)
            lines.append(line)
        }
    }

    func fail(_ message: String) { lock.withLock { failure = message } }

    func snapshot() -> ([String], [String], String?) { lock.withLock { (ids, lines, failure) } }
}
