import Foundation
import SluiceTestSupport
import XCTest

/// `sluice serve` under systemd's `Type=notify`: READY=1 once every worker accepts,
/// RELOADING=1 … READY=1 around a reload, STOPPING=1 on SIGTERM — read from a datagram
/// socket standing in for systemd's, as `NOTIFY_SOCKET` names it.
final class SystemdNotifyTests: XCTestCase {
    func testReadinessReloadAndStopAreReportedToSystemd() throws {
        let receiver = try NotifyReceiver()
        defer { receiver.close() }
        let stack = try GatewayStack(poolEnvironment: ["NOTIFY_SOCKET": receiver.path])
        defer { stack.stop() }
        let pool = try XCTUnwrap(stack.pool)

        let ready = try XCTUnwrap(receiver.next(timeout: .seconds(10)), "no READY=1 from the pool")
        XCTAssertTrue(ready.contains("READY=1"), ready)
        XCTAssertTrue(ready.contains("STATUS=serving: 2 workers"), ready)
        // Sent only after both workers reported that they accept.
        let log = pool.log
        let readyLines = log.components(separatedBy: "\n").enumerated().filter { $0.element.contains("worker ready") }.map(\.offset)
        let announced = try XCTUnwrap(log.components(separatedBy: "\n").firstIndex { $0.contains("every worker accepts") })
        XCTAssertEqual(readyLines.count, 2, log)
        XCTAssertTrue(readyLines.allSatisfy { $0 < announced }, log)
        // The workers do not inherit the variable (they would otherwise talk to systemd too).
        for pid in stack.workerPids() {
            let environment = try String(contentsOfFile: "/proc/\(pid)/environ", encoding: .utf8)
            XCTAssertFalse(environment.contains("NOTIFY_SOCKET"), "worker \(pid) inherited NOTIFY_SOCKET")
        }

        // A good reload: RELOADING=1 with the monotonic time, then READY=1 once the new
        // generation accepts.
        stack.reload()
        let reloading = try XCTUnwrap(receiver.next(timeout: .seconds(5)))
        XCTAssertTrue(reloading.contains("RELOADING=1"), reloading)
        XCTAssertNotNil(reloading.range(of: #"MONOTONIC_USEC=\d+"#, options: .regularExpression), reloading)
        let reloaded = try XCTUnwrap(receiver.next(timeout: .seconds(10)))
        XCTAssertTrue(reloaded.contains("READY=1") && reloaded.contains("generation 2"), reloaded)

        // A refused reload ends the reload at once; the running generation stays.
        try stack.writeConfig("not: [valid")
        stack.reload()
        XCTAssertTrue(try XCTUnwrap(receiver.next(timeout: .seconds(5))).contains("RELOADING=1"))
        let refused = try XCTUnwrap(receiver.next(timeout: .seconds(5)))
        XCTAssertTrue(refused.contains("READY=1") && refused.contains("reload refused"), refused)

        kill(pool.pid, SIGTERM)
        let stopping = try XCTUnwrap(receiver.next(timeout: .seconds(5)))
        XCTAssertTrue(stopping.contains("STOPPING=1"), stopping)
    }
}

/// A unix datagram socket that collects sd_notify messages.
private final class NotifyReceiver {
    let path: String
    private let descriptor: Int32

    init() throws {
        path = NSTemporaryDirectory() + "sluice-notify-\(UUID().uuidString.prefix(8)).sock"
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard UnixSocketAddress.bind(descriptor, to: path) == 0 else { throw StackError("cannot bind \(path)") }
    }

    /// The next datagram, or `nil` after `timeout`.
    func next(timeout: Duration) -> String? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let millis = Int32(timeout.components.seconds * 1000)
        guard poll(&poller, 1, millis) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        return count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self) : nil
    }

    func close() {
        Glibc.close(descriptor)
        unlink(path)
    }
}
