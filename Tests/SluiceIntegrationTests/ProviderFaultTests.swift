import Foundation
import XCTest

/// Provider faults that cost memory or time, through real nginx and Redis with one worker
/// of eight threads (so its RSS is the pool's): 10 MB answers, 20,000 tiny events, and a
/// client that leaves mid-stream.
///
/// The memory bound this proves: after any number of large answers, a worker's resident
/// size returns to within `retainedBound` of what it was before them (see `MemoryPolicy`).
final class ProviderFaultTests: SharedStackTestCase {
    nonisolated(unsafe) private static var cachedKey: String?
    /// Resident memory a worker may keep after large answers, over its size before them.
    private static let retainedBound = 48 << 20
    private static let tenMegabytes = 10 << 20

    override class var stackConfig: ((GatewayStack) -> String)? {
        { stack in
            """
            server: { listen: "unix:\(stack.socketPath)", workers: 1, threads: 8, drain_timeout: 5s, log_format: json }
            redis: { url: "redis://127.0.0.1:\(stack.redisPort)/0", timeout: 500ms }
            audit: { spool_dir: "\(stack.directory.path)/spool" }
            providers:
            \(stack.mockProviders)
            routes:
              large: { type: chat, endpoints: [ { provider: openai, model: "large@pad=\(tenMegabytes)" } ] }
              large-claude: { type: chat, endpoints: [ { provider: anthropic, model: "claude-large@pad=\(tenMegabytes)" } ] }
              tiny-events: { type: chat, endpoints: [ { provider: openai, model: "tiny@words=20000" } ] }
              slow: { type: chat, endpoints: [ { provider: openai, model: "slow@interval=200ms,words=30" } ] }
            principals:
              "*": {}
            """
        }
    }

    private var key: String {
        get throws {
            if let key = Self.cachedKey { return key }
            let key = try gateway().createKey(name: "fault-tests")
            Self.cachedKey = key
            return key
        }
    }

    /// Runs `count` requests from `clients` threads at once; returns each one's status and size.
    private func load(_ body: String, path: String = "/v1/chat/completions", count: Int, clients: Int) throws -> [(Int, Int)] {
        let client = try gateway().client, key = try self.key
        let results = Results()
        let next = Counter()
        let done = Counter()
        for _ in 0..<clients {
            Thread.detachNewThread {
                while next.add() <= count {
                    let response = client.post(path, key: key, body)
                    results.append((response.status, response.body.count))
                }
                done.add()
            }
        }
        try waitUntil("\(count) requests finish", timeout: .seconds(120)) { done.value == clients }
        return results.all
    }

    func testTenMegabyteAnswersLeaveTheWorkerWithinItsMemoryBound() throws {
        let stack = try gateway()
        let small = #"{"model":"large","messages":[{"role":"user","content":"warm up"}],"max_tokens":1}"#
        // Warm every thread's Redis connection and curl handle first.
        _ = try load(small.replacingOccurrences(of: "\"large\"", with: "\"slow\"").replacingOccurrences(of: "warm up", with: "x"),
                     count: 8, clients: 8)
        let before = stack.workerRSS()
        let body = #"{"model":"large","messages":[{"role":"user","content":"hello"}]}"#
        let results = try load(body, count: 32, clients: 8)
        XCTAssertEqual(results.count, 32)
        XCTAssertTrue(results.allSatisfy { $0.0 == 200 && $0.1 > Self.tenMegabytes }, "\(results.prefix(3))")
        let claude = try load(#"{"model":"large-claude","messages":[{"role":"user","content":"hello"}]}"#, count: 8, clients: 8)
        XCTAssertTrue(claude.allSatisfy { $0.0 == 200 }, "\(claude.prefix(3))")
        let after = stack.workerRSS()
        print("worker RSS before \(before >> 20) MB, after 40 answers of 10 MB \(after >> 20) MB")
        XCTAssertLessThan(after - before, Self.retainedBound,
                          "RSS \(before >> 20) MB -> \(after >> 20) MB: large answers must not stay resident")
    }

    func testTwentyThousandTinyEventsArriveCompleteWithBoundedMemory() throws {
        let stack = try gateway()
        let before = stack.workerRSS()
        let started = ContinuousClock.now
        let response = try stack.client.post("/v1/chat/completions", key: key,
                                             #"{"model":"tiny-events","stream":true,"messages":[{"role":"user","content":"a"}]}"#)
        let took = ContinuousClock.now - started
        XCTAssertEqual(response.status, 200)
        let events = response.events
        XCTAssertGreaterThanOrEqual(events.count, 20_000)
        XCTAssertEqual(events.last, "[DONE]")
        let record = try stack.auditRecord(of: response)
        XCTAssertEqual(record["stream_completed"] as? Int, 1)
        XCTAssertEqual(record["completion_tokens"] as? Int, 20_000)
        print("20,000 events relayed in \(took), worker RSS \(before >> 20) -> \(stack.workerRSS() >> 20) MB")
        XCTAssertLessThan(stack.workerRSS() - before, Self.retainedBound)
    }

    /// `server.log_format: json`: every line the pool logs is one JSON object.
    func testJSONLogLinesForLogShippers() throws {
        let stack = try gateway()
        let log = try XCTUnwrap(stack.pool?.log)
        let lines = log.split(separator: "\n")
        XCTAssertTrue(lines.contains { $0.contains("worker ready") }, log)
        for line in lines {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], String(line))
            XCTAssertNotNil(object["time"] as? String, String(line))
            XCTAssertNotNil(object["level"] as? String, String(line))
            XCTAssertNotNil(object["message"] as? String, String(line))
        }
    }

    func testClientThatLeavesCancelsTheUpstreamWithinASecondAndTheRecordSaysSo() throws {
        let stack = try gateway()
        stack.resetMock()
        let left = ContinuousClock.now
        let response = try stack.client.post("/v1/chat/completions", key: key,
                                             #"{"model":"slow","stream":true,"messages":[{"role":"user","content":"a b c"}]}"#,
                                             abortAfterFirstChunk: true)
        XCTAssertEqual(response.status, 200)
        try waitUntil("the mock sees the stream aborted", timeout: .seconds(1)) {
            (stack.mockStats()["streams_aborted"] as? Int ?? 0) >= 1
        }
        print("upstream cancelled \(ContinuousClock.now - left) after the client left")
        let record = try stack.auditRecord(of: response)
        XCTAssertEqual(record["error_class"] as? String, "client_gone", "\(record)")
        XCTAssertEqual(record["stream_completed"] as? Int, 0)
    }
}

/// A thread-safe list of load results.
final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [(Int, Int)] = []
    func append(_ item: (Int, Int)) { lock.lock(); items.append(item); lock.unlock() }
    var all: [(Int, Int)] { lock.lock(); defer { lock.unlock() }; return items }
}
