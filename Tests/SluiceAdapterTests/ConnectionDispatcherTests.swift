import Foundation
import Glibc
@testable import SluiceGateway
import SluiceTestSupport
import Synchronization
import XCTest

/// The worker's dispatcher on real sockets (socket pairs and a Unix listener), without
/// nginx: kept connections come back to exactly one thread when their next request
/// arrives, a drain closes the idle ones, and no connection is ever held by two threads,
/// however many threads race for them.
final class ConnectionDispatcherTests: XCTestCase {
    private var listener: Int32 = -1
    private var path = ""

    override func setUpWithError() throws {
        path = NSTemporaryDirectory() + "dispatcher-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(listener, 0)
        XCTAssertEqual(UnixSocketAddress.bind(listener, to: path), 0)
        XCTAssertEqual(listen(listener, 16), 0)
        ConnectionDispatcher.prepare(listener: listener)
    }

    override func tearDown() {
        close(listener)
        unlink(path)
    }

    /// A connected pair: the pool's end (kept by the dispatcher) and nginx's.
    private func pair() -> (pool: Int32, nginx: Int32) {
        var ends: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends), 0)
        return (ends[0], ends[1])
    }

    /// Whether nginx's end sees the pool's end closed (EOF) within a second.
    private func closedByPool(_ nginx: Int32) -> Bool {
        var descriptor = pollfd(fd: nginx, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, 1000) == 1 else { return false }
        var byte: UInt8 = 0
        return read(nginx, &byte, 1) == 0
    }

    func testAKeptConnectionComesBackWhenItsNextRequestArrives() throws {
        let dispatcher = try XCTUnwrap(ConnectionDispatcher(listener: listener))
        let (pool, nginx) = pair()
        defer { close(pool); close(nginx) }
        dispatcher.keep(pool)
        XCTAssertEqual(dispatcher.idleCount, 1)
        XCTAssertNil(dispatcher.next(timeoutMs: 50), "nothing to read yet")
        XCTAssertEqual(write(nginx, "x", 1), 1)
        XCTAssertEqual(dispatcher.next(timeoutMs: 1000), pool)
        XCTAssertEqual(dispatcher.idleCount, 0)
        // Taken: the same readiness does not hand it to a second thread.
        XCTAssertNil(dispatcher.next(timeoutMs: 50))
        // Handed back with the byte still unread: ready again at once, under a new generation.
        dispatcher.keep(pool)
        XCTAssertEqual(dispatcher.next(timeoutMs: 1000), pool)
    }

    func testADrainClosesIdleConnectionsAndEveryOneHandedBackAfterIt() throws {
        let dispatcher = try XCTUnwrap(ConnectionDispatcher(listener: listener))
        let idle = (0..<3).map { _ in pair() }
        for connection in idle { dispatcher.keep(connection.pool) }
        XCTAssertEqual(dispatcher.idleCount, 3)
        dispatcher.stop()
        dispatcher.closeIdle()
        XCTAssertEqual(dispatcher.idleCount, 0)
        for connection in idle {
            XCTAssertTrue(closedByPool(connection.nginx), "an idle connection was left open by the drain")
            close(connection.nginx)
        }
        // Stopped: a connection handed back after its answer is closed, not kept.
        let late = pair()
        dispatcher.keep(late.pool)
        XCTAssertEqual(dispatcher.idleCount, 0)
        XCTAssertTrue(closedByPool(late.nginx))
        close(late.nginx)
        // And the listener is not accepted from any more.
        let client = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client) }
        _ = UnixSocketAddress.connect(client, to: path)
        XCTAssertNil(dispatcher.next(timeoutMs: 100))
    }

    func testAConnectionNginxClosedIsDroppedNotServed() throws {
        let dispatcher = try XCTUnwrap(ConnectionDispatcher(listener: listener))
        let (pool, nginx) = pair()
        dispatcher.keep(pool)
        close(nginx)
        XCTAssertNil(dispatcher.next(timeoutMs: 1000), "a hung-up connection has no request to serve")
        XCTAssertEqual(dispatcher.idleCount, 0)
    }

    /// Eight threads serve 32 kept connections while a driver sends 4,000 one-byte requests,
    /// eight at a time on distinct connections (each only once its previous answer came back,
    /// as nginx does), so the threads race for ready connections: every request is answered
    /// once, and no connection is ever held by two threads at a time.
    func testThreadsRacingForKeptConnectionsServeEachRequestOnce() throws {
        let dispatcher = try XCTUnwrap(ConnectionDispatcher(listener: listener))
        let pairs = (0..<32).map { _ in pair() }
        defer { for connection in pairs { close(connection.nginx) } }
        // Per descriptor number: how many threads hold it now.
        let slots = Int(pairs.map { max($0.pool, $0.nginx) }.max()!) + 1
        nonisolated(unsafe) let held = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: slots)
        for index in 0..<slots { (held + index).initialize(to: Atomic<Int>(0)) }
        defer { held.deinitialize(count: slots); held.deallocate() }
        let served = Atomic<Int>(0)
        let doubleHeld = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let exited = Atomic<Int>(0)
        for connection in pairs { dispatcher.keep(connection.pool) }
        let threads = (0..<8).map { _ in
            Thread {
                while !stop.load(ordering: .acquiring) {
                    guard let connection = dispatcher.next(timeoutMs: 20) else { continue }
                    if held[Int(connection)].add(1, ordering: .acquiringAndReleasing).newValue != 1 {
                        doubleHeld.add(1, ordering: .relaxed)
                    }
                    var byte: UInt8 = 0
                    if read(connection, &byte, 1) == 1 {
                        served.add(1, ordering: .relaxed)
                        _ = write(connection, &byte, 1)
                    }
                    held[Int(connection)].subtract(1, ordering: .acquiringAndReleasing)
                    dispatcher.keep(connection)
                }
                exited.add(1, ordering: .releasing)
            }
        }
        for thread in threads { thread.start() }
        var generator = SystemRandomNumberGenerator()
        let deadline = ContinuousClock.now + .seconds(60)
        rounds: for _ in 0..<500 where ContinuousClock.now < deadline {
            let batch = pairs.shuffled(using: &generator).prefix(8).map(\.nginx)
            for nginx in batch {
                var byte: UInt8 = 7
                XCTAssertEqual(write(nginx, &byte, 1), 1)
            }
            for nginx in batch {
                var descriptor = pollfd(fd: nginx, events: Int16(POLLIN), revents: 0)
                guard poll(&descriptor, 1, 5000) == 1 else {
                    XCTFail("a request was never answered")
                    break rounds
                }
                var byte: UInt8 = 0
                XCTAssertEqual(read(nginx, &byte, 1), 1)
            }
        }
        stop.store(true, ordering: .releasing)
        while exited.load(ordering: .acquiring) < threads.count && ContinuousClock.now < deadline + .seconds(5) {
            Thread.sleep(forTimeInterval: 0.01)
        }
        XCTAssertEqual(exited.load(ordering: .acquiring), threads.count)
        XCTAssertEqual(served.load(ordering: .relaxed), 4_000)
        XCTAssertEqual(doubleHeld.load(ordering: .relaxed), 0)
        XCTAssertEqual(dispatcher.idleCount, 32)
        dispatcher.stop()
        dispatcher.closeIdle()
        XCTAssertEqual(dispatcher.idleCount, 0)
    }

    /// A drain racing threads that hand connections back: every connection is closed, by
    /// the drain's sweep or by its own hand-back once the drain began, and none stays idle.
    func testADrainRacingHandBacksLeavesNoConnectionOpen() throws {
        for _ in 0..<20 {
            let dispatcher = try XCTUnwrap(ConnectionDispatcher(listener: listener))
            let pairs = (0..<64).map { _ in pair() }
            let pools = pairs.map(\.pool)
            let exited = Atomic<Int>(0)
            for first in 0..<4 {
                Thread {
                    for index in stride(from: first, to: pools.count, by: 4) { dispatcher.keep(pools[index]) }
                    exited.add(1, ordering: .releasing)
                }.start()
            }
            // The drain's one sweep, somewhere in the middle of the hand-backs.
            dispatcher.closeIdle()
            let deadline = ContinuousClock.now + .seconds(10)
            while exited.load(ordering: .acquiring) < 4 && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.001) }
            XCTAssertEqual(exited.load(ordering: .acquiring), 4)
            XCTAssertEqual(dispatcher.idleCount, 0)
            for connection in pairs {
                XCTAssertTrue(closedByPool(connection.nginx), "a connection handed back during the drain was left open")
                close(connection.nginx)
            }
        }
    }
}
