import Foundation
import SluiceCore
@testable import SluiceRedis
import XCTest

/// `RedisConnection` under Redis Sentinel, against real `redis-server`s and Sentinels on
/// loopback: it finds the primary through the Sentinels, never writes to a replica, and
/// follows a failover.
final class SentinelTests: XCTestCase {
    private var servers: [RedisServerFixture] = []

    override func tearDown() {
        for server in servers.reversed() { server.stop() }
        servers = []
        super.tearDown()
    }

    private func sentinelConfig(_ sentinels: [RedisServerFixture], master: String, timeout: Duration = .seconds(1)) -> RedisConfig {
        RedisConfig(url: RedisURL(address: .sentinel(RedisSentinels(masterName: master, nodes: sentinels.map {
            RedisSentinels.Node(host: "127.0.0.1", port: $0.port)
        }))), timeout: timeout)
    }

    private func direct(_ server: RedisServerFixture) -> RedisConnection {
        RedisConnection(config: server.config())
    }

    private func role(_ server: RedisServerFixture) -> String? {
        guard case .array(let parts)? = try? direct(server).command(["ROLE"]) else { return nil }
        return parts.first?.text
    }

    /// Waits until `condition` holds, polling every 50 ms.
    private func waitUntil(_ what: String, timeout: Duration, _ condition: () -> Bool) throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTFail("timed out waiting for \(what)")
        throw FixtureError("timed out waiting for \(what)")
    }

    func testFindsThePrimaryAndFollowsAFailoverWithoutWritingToAReplica() throws {
        let primary = try RedisServerFixture.start()
        servers.append(primary)
        let replica = try RedisServerFixture.start(extraArguments: ["--replicaof", "127.0.0.1", String(primary.port)])
        servers.append(replica)
        let master = "main\(UInt16.random(in: 0...UInt16.max))"
        let sentinels = try (0..<3).map { _ in
            try RedisServerFixture.startSentinel([
                "sentinel monitor \(master) 127.0.0.1 \(primary.port) 2",
                "sentinel down-after-milliseconds \(master) 800",
                "sentinel failover-timeout \(master) 4000",
            ])
        }
        servers += sentinels
        // A failover needs the Sentinels to know the replica and each other.
        try waitUntil("the Sentinels to know the replica and each other", timeout: .seconds(15)) {
            sentinels.allSatisfy { sentinel in
                let view = (try? direct(sentinel).command(["SENTINEL", "MASTER", master]))?.fieldMap ?? [:]
                return view["num-slaves"] == "1" && view["num-other-sentinels"] == "2"
            }
        }

        let connection = RedisConnection(config: sentinelConfig(sentinels, master: master))
        XCTAssertEqual(try connection.checked(["SET", "before", "1"]), .status("OK"))
        try waitUntil("the replica to acknowledge the write", timeout: .seconds(10)) {
            (try? connection.checked(["WAIT", "1", "200"])) == .integer(1)
        }
        let directory = try XCTUnwrap(connection.sentinelDirectory)
        XCTAssertEqual(directory.status.primary?.port, primary.port)
        XCTAssertEqual(directory.status.switchesSeen, 0)

        primary.kill9()
        let killed = ContinuousClock.now
        var failures: [RedisError] = []
        try waitUntil("a write through the Sentinels to succeed again", timeout: .seconds(20)) {
            do {
                return try connection.checked(["SET", "after", "2"]) == .status("OK")
            } catch {
                failures.append(error as! RedisError)
                Thread.sleep(forTimeInterval: 0.05)
                return false
            }
        }
        let outage = ContinuousClock.now - killed
        // Every failed write failed as a connection error; after the first (sent on the
        // connection open when the primary died, so it may have been applied as far as the
        // client can tell), none reached a server.
        XCTAssertFalse(failures.isEmpty)
        for failure in failures {
            XCTAssertEqual(failure.kind, .connection, "\(failure)")
        }
        for failure in failures.dropFirst() {
            XCTAssertTrue(failure.notSent, "\(failure)")
        }
        XCTAssertEqual(directory.status.primary?.port, replica.port, "writes go to the promoted replica")
        XCTAssertEqual(directory.status.switchesSeen, 1)
        XCTAssertEqual(role(replica), "master")
        XCTAssertEqual(try direct(replica).command(["GET", "after"]).text, "2")
        XCTAssertEqual(try direct(replica).command(["GET", "before"]).text, "1", "replicated before the failover")
        print("failover seen by the client after \(outage) (\(failures.count) failed writes)")
    }

    func testANodeThatBecameAReplicaIsLeftAndTheSentinelsAskedAgain() throws {
        let primary = try RedisServerFixture.start()
        servers.append(primary)
        let other = try RedisServerFixture.start()
        servers.append(other)
        let master = "main\(UInt16.random(in: 0...UInt16.max))"
        let sentinel = try RedisServerFixture.startSentinel([
            "sentinel monitor \(master) 127.0.0.1 \(primary.port) 1",
            "sentinel down-after-milliseconds \(master) 60000",
        ])
        servers.append(sentinel)

        let connection = RedisConnection(config: sentinelConfig([sentinel], master: master))
        XCTAssertEqual(try connection.checked(["SET", "k", "1"]), .status("OK"))

        // The primary is demoted behind the Sentinel's back; the open connection's next write
        // is refused (READONLY), which the connection reports as not sent.
        XCTAssertEqual(try direct(primary).checked(["REPLICAOF", "127.0.0.1", String(other.port)]), .status("OK"))
        XCTAssertThrowsError(try connection.checked(["SET", "k", "2"])) { error in
            let error = error as! RedisError
            XCTAssertEqual(error.kind, .connection)
            XCTAssertTrue(error.notSent)
            XCTAssertTrue(error.message.contains("replica"), error.message)
        }
        // The Sentinel still names it: a new connection checks ROLE and writes nothing.
        XCTAssertThrowsError(try connection.checked(["SET", "k", "3"])) { error in
            let error = error as! RedisError
            XCTAssertTrue(error.notSent)
            XCTAssertTrue(error.message.contains("not the primary"), error.message)
        }
    }

    func testNoSentinelAnsweringIsANotSentConnectionError() throws {
        let port = try freeLoopbackPort()
        let connection = RedisConnection(config: RedisConfig(url: RedisURL(address: .sentinel(RedisSentinels(
            masterName: "main", nodes: [RedisSentinels.Node(host: "127.0.0.1", port: port)]))), timeout: .milliseconds(300)))
        XCTAssertThrowsError(try connection.command(["PING"])) { error in
            let error = error as! RedisError
            XCTAssertEqual(error.kind, .connection)
            XCTAssertTrue(error.notSent)
            XCTAssertTrue(error.message.contains("no Sentinel named the primary of 'main'"), error.message)
        }
    }
}
