import Foundation
import SluiceCore
import SluiceRedis
import Synchronization
import XCTest

/// The slow reliability suite, run by `scripts/soak` (over a minute each, so not in
/// `scripts/test`): Redis stopped and paused under load, and a 60 s mixed soak with eight
/// workers against real limits. Skipped unless `SLUICE_SOAK=1`.
final class SoakTests: XCTestCase {
    /// One client call as the load saw it.
    struct Call: Sendable {
        let route: String
        let startedAt: Duration
        let took: Duration
        let status: Int
        let requestId: String?
        let stream: Bool
        let streamComplete: Bool
    }

    override func setUpWithError() throws {
        guard ProcessInfo.processInfo.environment["SLUICE_SOAK"] == "1" else {
            throw XCTSkip("the soak suite runs from scripts/soak (SLUICE_SOAK=1)")
        }
    }

    private static func config(_ stack: GatewayStack, workers: Int, limit: Int) -> String {
        """
        server: { listen: "unix:\(stack.socketPath)", workers: \(workers), threads: 4, drain_timeout: 10s }
        redis: { url: "redis://127.0.0.1:\(stack.redisPort)/0", timeout: 500ms }
        audit: { spool_dir: "\(stack.directory.path)/spool" }
        admission: { on_redis_error: fail_open, local_requests: 1000000, local_window: 1m }
        providers:
        \(stack.mockProviders)
        routes:
          chat:
            type: chat
            endpoints: [ { provider: openai, model: gpt-4o } ]
            limits: [ { per: route, requests: 10000000, window: 1m } ]
          claude: { type: chat, endpoints: [ { provider: anthropic, model: claude-sonnet-4-20250514 } ] }
          bedrock: { type: chat, endpoints: [ { provider: bedrock, model: "anthropic.claude-3-5-sonnet-20240620-v1:0" } ] }
          limited:
            type: chat
            endpoints: [ { provider: openai, model: limited } ]
            limits: [ { per: key, requests: \(limit), window: 10m } ]
        principals:
          "*": {}
        """
    }

    /// Runs `clients` threads for `duration`, each picking its next request from `pick`.
    private func load(_ stack: GatewayStack, key: String, clients: Int, duration: Duration,
                      pick: @escaping @Sendable (Int) -> (route: String, stream: Bool)) -> [Call] {
        let calls = Mutex<[Call]>([])
        let started = ContinuousClock.now
        let client = stack.client
        let counter = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: clients) { _ in
            while ContinuousClock.now - started < duration {
                let (route, stream) = pick(counter.add(1, ordering: .relaxed).oldValue)
                let body = #"{"model":"\#(route)","max_tokens":32,"stream":\#(stream),"messages":[{"role":"user","content":"soak test words"}]}"#
                let begun = ContinuousClock.now
                let response = client.post("/v1/chat/completions", key: key, body)
                let call = Call(route: route, startedAt: begun - started, took: ContinuousClock.now - begun,
                                status: response.status, requestId: response.header("x-sluice-request-id"), stream: stream,
                                streamComplete: !stream || response.events.last == "[DONE]")
                calls.withLock { $0.append(call) }
            }
        }
        return calls.withLock { $0 }
    }

    /// Every call that got an answer from the pool has exactly one audit record (after the
    /// spool is replayed); fails naming what is missing or doubled.
    private func assertEveryRecordOnce(_ stack: GatewayStack, _ calls: [Call], file: StaticString = #filePath,
                                       line: UInt = #line) throws {
        let ids = calls.compactMap(\.requestId)
        var counts: [String: Int] = [:]
        do {
            try waitUntil("every call's audit record is in the stream", timeout: .seconds(60)) {
                counts = (try? stack.auditCounts()) ?? [:]
                return ids.allSatisfy { counts[$0] != nil }
            }
        } catch {
            XCTFail("\(ids.filter { counts[$0] == nil }.count) of \(ids.count) records missing", file: file, line: line)
        }
        XCTAssertEqual(ids.filter { (counts[$0] ?? 0) > 1 }.count, 0, "records appended twice", file: file, line: line)
    }

    /// Redis stopped for 10 s, then paused (SIGSTOP) for 5 s, under load from 8 clients on a
    /// limited route with `on_redis_error: fail_open`: every call is answered (200, or a
    /// documented refusal), none waits past the Redis timeout plus a margin, service is
    /// normal within 2 s of Redis returning, and no audit record is lost or doubled.
    func testRedisStoppedAndPausedUnderLoad() throws {
        let stack = try GatewayStack(config: { Self.config($0, workers: 4, limit: 1_000_000) }, persistentRedis: true)
        defer { stack.stop() }
        let key = try stack.createKey(name: "soak-redis")
        nonisolated(unsafe) let faulty = stack
        let faults = Thread {
            sleep(3)
            faulty.stopRedis()             // t = 3 s: stopped
            sleep(10)
            try? faulty.startRedis()       // t = 13 s: back
            sleep(5)
            if let pid = faulty.redis?.pid { kill(pid, SIGSTOP) }   // t = 18 s: paused
            sleep(5)
            if let pid = faulty.redis?.pid { kill(pid, SIGCONT) }   // t = 23 s: back
        }
        faults.start()
        let calls = load(stack, key: key, clients: 8, duration: .seconds(30)) { index in
            (["chat", "claude", "chat", "bedrock"][index % 4], index % 3 == 0)
        }
        let byStatus = Dictionary(grouping: calls, by: \.status).mapValues(\.count)
        let slowest = calls.map(\.took).max() ?? .zero
        print("redis faults: \(calls.count) calls, statuses \(byStatus), slowest \(slowest)")
        for call in calls.sorted(by: { $0.took > $1.took }).prefix(12) {
            print("  slow: \(call.route) stream \(call.stream) started \(call.startedAt) took \(call.took) status \(call.status)")
        }
        XCTAssertGreaterThan(calls.count, 500)
        XCTAssertTrue(calls.allSatisfy { [200, 503].contains($0.status) }, "statuses \(byStatus)")
        // One Redis round trip may wait the timeout (500 ms) before the call is served
        // from the local allowance; a margin for the 2-core machine.
        XCTAssertLessThan(slowest, .milliseconds(800), "no call waits past the Redis timeout (500 ms) plus a margin")
        for back in [Duration.seconds(13), .seconds(23)] {
            let after = calls.filter { $0.startedAt >= back + .seconds(2) && $0.startedAt < back + .seconds(5) }
            XCTAssertFalse(after.isEmpty)
            XCTAssertTrue(after.allSatisfy { $0.status == 200 && $0.took < .milliseconds(500) },
                          "normal within 2 s of Redis returning at \(back)")
        }
        XCTAssertTrue(calls.filter { $0.status == 200 }.allSatisfy(\.streamComplete), "every admitted stream completed")
        try assertEveryRecordOnce(stack, calls)
    }

    /// 60 s (SOAK_SECONDS), 8 workers, 16 clients mixing JSON and streams over four routes,
    /// one of them limited per key: admitted calls never exceed the limit, no gateway 5xx,
    /// every call audited exactly once, memory growth reported in MB/min.
    func testMixedSoakWithEightWorkers() throws {
        let seconds = Int(ProcessInfo.processInfo.environment["SOAK_SECONDS"] ?? "") ?? 60
        let limit = 300
        let stack = try GatewayStack(config: { Self.config($0, workers: 8, limit: limit) })
        defer { stack.stop() }
        let key = try stack.createKey(name: "soak")
        // Warm every worker and thread on the same mix (the limited route aside, whose
        // window the measured run needs whole) until RSS settles, then sample it every 5 s:
        // a thread's first calls of each kind fill its malloc arena and caches, a one-off
        // that would otherwise read as growth.
        let warm = ["chat", "claude", "bedrock"]
        _ = load(stack, key: key, clients: 16, duration: .seconds(10)) { index in (warm[index % warm.count], index % 2 == 1) }
        let samples = Mutex<[(Duration, Int)]>([])
        let sampling = Atomic<Bool>(true)
        nonisolated(unsafe) let sampled = stack
        let sampler = Thread {
            let begun = ContinuousClock.now
            while sampling.load(ordering: .relaxed) {
                samples.withLock { $0.append((ContinuousClock.now - begun, sampled.workerRSS() >> 20)) }
                sleep(5)
            }
        }
        sampler.start()
        let routes = ["chat", "claude", "bedrock", "limited"]
        let calls = load(stack, key: key, clients: 16, duration: .seconds(seconds)) { index in
            (routes[index % routes.count], index % 2 == 1)
        }
        sampling.store(false, ordering: .relaxed)
        let limited = calls.filter { $0.route == "limited" }
        let admitted = limited.filter { $0.status == 200 }.count
        let byStatus = Dictionary(grouping: calls, by: \.status).mapValues(\.count)
        let points = samples.withLock { $0 }
        // The slope of the second half: memory that settles (the last threads' arenas) bends
        // the curve early; a leak keeps it straight to the end.
        let growth = Self.slopeMBPerMinute(Array(points.suffix(max(2, points.count / 2))))
        print("soak: \(calls.count) calls in \(seconds) s, statuses \(byStatus), limited route admitted \(admitted) of "
              + "\(limited.count) (limit \(limit)), worker RSS \(points.first?.1 ?? 0) -> \(points.last?.1 ?? 0) MB, "
              + "growth over the second half \(String(format: "%.1f", growth)) MB/min")
        XCTAssertGreaterThan(limited.count, limit, "the limited route was asked for more than its limit")
        XCTAssertEqual(admitted, limit, "admitted calls = the limit, exactly")
        XCTAssertTrue(limited.allSatisfy { $0.status == 200 || $0.status == 429 }, "\(byStatus)")
        XCTAssertFalse(calls.contains { $0.status >= 500 || $0.status == 0 }, "no gateway 5xx: \(byStatus)")
        XCTAssertTrue(calls.filter { $0.status == 200 }.allSatisfy(\.streamComplete), "every admitted stream completed")
        XCTAssertLessThan(growth, 30, "worker memory keeps growing")
        try assertEveryRecordOnce(stack, calls)
    }

    /// Least-squares slope of (time, MB) samples, in MB per minute.
    static func slopeMBPerMinute(_ points: [(Duration, Int)]) -> Double {
        guard points.count >= 2 else { return 0 }
        let xs = points.map { Double($0.0.components.seconds) / 60 }, ys = points.map { Double($0.1) }
        let mx = xs.reduce(0, +) / Double(xs.count), my = ys.reduce(0, +) / Double(ys.count)
        let num = zip(xs, ys).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }
        let den = xs.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
        return den == 0 ? 0 : num / den
    }
}
