import Foundation
import Synchronization
import XCTest

/// nginx keeps its FastCGI connections to the pool (`fastcgi_keep_conn on`, upstream
/// `keepalive 128` in the standalone template): idle ones wait in the worker's dispatcher,
/// not in a responder thread, and drains close them without failing a request.
final class KeptConnectionTests: XCTestCase {
    private let chat = #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#

    /// One worker with two threads; nginx may keep up to 128 idle connections to it.
    private func twoThreadStack() throws -> GatewayStack {
        try GatewayStack(config: { stack in
            GatewayStack.mockConfig(stack, workers: 1, threads: 2, """
            routes:
              chat: { type: chat, endpoints: [ { provider: mock, model: mock-gpt } ] }
              slow: { type: chat, endpoints: [ { provider: mock, model: "mock-gpt@delay=300ms" } ] }
            """)
        })
    }

    func testMoreKeptConnectionsThanThreadsServeEveryRequestAndAreReused() throws {
        let stack = try twoThreadStack()
        defer { stack.stop() }
        let key = try stack.createKey(name: "kept")
        // Eight clients at once against two threads: nginx opens eight connections and keeps
        // them. A thread that waited on its idle kept connection for nginx's next request
        // would leave the others' requests queued behind the listener until a timeout.
        let client = stack.client
        for round in 0..<3 {
            let statuses = Mutex<[Int]>([])
            let done = Counter()
            let started = ContinuousClock.now
            for _ in 0..<8 {
                Thread.detachNewThread {
                    let response = client.post("/v1/chat/completions", key: key,
                                               #"{"model":"slow","messages":[{"role":"user","content":"hi"}]}"#)
                    statuses.withLock { $0.append(response.status) }
                    done.add()
                }
            }
            try waitUntil("round \(round)'s eight calls end", timeout: .seconds(20)) { done.value == 8 }
            XCTAssertEqual(statuses.withLock { $0 }, Array(repeating: 200, count: 8), "round \(round)")
            // 8 calls of 300 ms on 2 threads: about 1.2 s.
            XCTAssertLessThan(ContinuousClock.now - started, .seconds(4), "round \(round) stalled")
        }
        // Idle now: nginx still holds connections to the pool (more than the threads), and a
        // run of calls reuses them instead of connecting for each.
        let worker = try XCTUnwrap(stack.workerPids().first)
        let idle = Self.poolConnections(of: worker, socket: stack.socketPath)
        XCTAssertGreaterThan(idle.count, 2, "idle kept connections outnumber the threads")
        for _ in 0..<20 {
            XCTAssertEqual(stack.client.post("/v1/chat/completions", key: key, chat).status, 200)
        }
        let after = Self.poolConnections(of: worker, socket: stack.socketPath)
        XCTAssertLessThanOrEqual(after.subtracting(idle).count, 1, "20 sequential calls opened at most one connection")
    }

    func testCallsAcrossReloadsAndAKilledWorkerAllSucceedOnKeptConnections() throws {
        let stack = try twoThreadStack()
        defer { stack.stop() }
        let key = try stack.createKey(name: "kept")
        for step in 0..<60 {
            // The old generation drains: it closes its kept connections after answering on
            // them or once they sat idle; nginx sees them closed and connects anew.
            if step == 15 || step == 30 { stack.reload() }
            // A killed worker's connections end with it; nginx drops them (a call nginx
            // sends on one in the instant the kernel tears the process down gets a 502,
            // as a call in flight on it does) and connects to the replacement worker.
            if step == 45, let worker = stack.workerPids().first {
                kill(worker, SIGKILL)
                try waitUntil("a replacement worker runs", timeout: .seconds(2)) {
                    let now = stack.workerPids()
                    return now.count == 1 && !now.contains(worker)
                }
            }
            let response = stack.client.post("/v1/chat/completions", key: key, chat)
            XCTAssertEqual(response.status, 200, "call \(step): \(response.text)")
            usleep(30_000)
        }
        try waitUntil("the old generations leave", timeout: .seconds(10)) { stack.workerPids().count == 1 }
        XCTAssertFalse(stack.pool!.log.contains("accept failed"), stack.pool!.log)
    }

    /// The pool-side ends of connections to `socket` that `pid` holds (their inodes).
    static func poolConnections(of pid: Int32, socket: String) -> Set<String> {
        // /proc/net/unix: "Num RefCount Protocol Flags Type St Inode Path"; an accepted
        // connection carries the listener's path, state 03 (connected).
        guard let table = try? String(contentsOfFile: "/proc/net/unix", encoding: .utf8) else { return [] }
        let accepted = Set(table.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 8, fields[5] == "03", fields[7] == socket else { return nil }
            return String(fields[6])
        })
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        let held = Set(descriptors.compactMap { fd -> String? in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"),
                  target.hasPrefix("socket:[") else { return nil }
            return String(target.dropFirst("socket:[".count).dropLast())
        })
        return accepted.intersection(held)
    }
}
