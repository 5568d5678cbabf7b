import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SluiceCore
import SluiceRedis
import XCTest

/// `RedisConnection` against a real `redis-server` started on a free loopback port.
final class RedisConnectionTests: XCTestCase {
    private var server: RedisServerFixture!

    override func setUpWithError() throws {
        // A write to a connection the server has reset must fail, not kill the test runner.
        signal(SIGPIPE, SIG_IGN)
        server = try RedisServerFixture.start()
    }

    override func tearDown() {
        server?.stop()
        server = nil
    }

    // MARK: Commands and replies

    func testReplyKinds() throws {
        let redis = RedisConnection(config: server.config())
        XCTAssertEqual(try redis.command(["PING"]), .status("PONG"))
        XCTAssertEqual(try redis.command(["SET", "k", "v"]), .status("OK"))
        XCTAssertEqual(try redis.command(["GET", "k"]), .string(Array("v".utf8)))
        XCTAssertEqual(try redis.command(["GET", "missing"]), .null)
        XCTAssertEqual(try redis.command(["INCRBY", "n", "41"]), .integer(41))
        XCTAssertEqual(try redis.command(["INCR", "n"]).integer, 42)
        XCTAssertEqual(try redis.command(["GET", "n"]).integer, 42, "numeric bulk strings read as integers")
        XCTAssertEqual(try redis.command(["RPUSH", "l", "a", "b", "c"]), .integer(3))
        XCTAssertEqual(try redis.command(["LRANGE", "l", "0", "-1"]),
                       .array([.string(Array("a".utf8)), .string(Array("b".utf8)), .string(Array("c".utf8))]))
        XCTAssertEqual(try redis.command(["LRANGE", "nothing", "0", "-1"]), .array([]))
        XCTAssertEqual(try redis.command(["HSET", "h", "f1", "v1", "f2", "v2"]), .integer(2))
        XCTAssertEqual(try redis.command(["HGETALL", "h"]).fieldMap, ["f1": "v1", "f2": "v2"])
        XCTAssertEqual(try redis.command(["MGET", "k", "missing"]), .array([.string(Array("v".utf8)), .null]))
    }

    func testEveryCataloguedScriptHasTheSHA1RedisGivesIt() throws {
        let redis = RedisConnection(config: server.config())
        XCTAssertEqual(Set(RedisScript.catalog.map(\.name)).count, RedisScript.catalog.count, "names are unique")
        for (name, script) in RedisScript.catalog {
            XCTAssertEqual(try redis.checked(["SCRIPT", "LOAD", script.source]).text, script.sha1, name)
        }
    }

    func testScriptsRedisForgotAreSentAgainInOrderWithTheirReplies() throws {
        let redis = RedisConnection(config: server.config())
        let first = RedisScript("return 'first:' .. ARGV[1]")
        let second = RedisScript("return redis.call('INCR', KEYS[1])")
        _ = try redis.evaluateAll([(first, [], ["a"]), (second, ["n"], [])])
        XCTAssertEqual(try redis.checked(["SCRIPT", "FLUSH"]), .status("OK"))
        // Both unknown now: each is sent again with its source, once, and answers in place.
        let replies = try redis.evaluateAll([(first, [], ["b"]), (second, ["n"], []), (first, [], ["c"])])
        XCTAssertEqual(replies.map(\.text), ["first:b", "2", "first:c"])
        XCTAssertEqual(replies[1].integer, 2, "the counter moved once per call: never twice")
        XCTAssertEqual(try redis.command(["GET", "n"]).text, "2")
    }

    func testBinarySafeKeysAndValues() throws {
        let redis = RedisConnection(config: server.config())
        let value = "a\u{0}b\r\nc d\u{0}\r\n*3\r\n$1\r\n é 😀 "
        let key = "key with spaces\r\nand\u{0}nul"
        XCTAssertEqual(try redis.command(["SET", key, value]), .status("OK"))
        XCTAssertEqual(try redis.command(["GET", key]), .string(Array(value.utf8)))
        XCTAssertEqual(try redis.command(["STRLEN", key]), .integer(value.utf8.count))
        XCTAssertEqual(try redis.command(["EXISTS", "key with spaces"]), .integer(0), "the key was not cut at a space or NUL")

        XCTAssertEqual(try redis.command(["SET", "empty", ""]), .status("OK"))
        XCTAssertEqual(try redis.command(["GET", "empty"]), .string([]))
        XCTAssertEqual(try redis.command(["STRLEN", "empty"]), .integer(0))

        let fields = try redis.command(["HSET", "h", "", "empty name", "f\u{0}", "\r\n"])
        XCTAssertEqual(fields, .integer(2))
        XCTAssertEqual(try redis.command(["HGETALL", "h"]).fieldMap, ["": "empty name", "f\u{0}": "\r\n"])
    }

    func testManyAndLongArgumentsKeepTheirLengths() throws {
        let redis = RedisConnection(config: server.config())
        // Lengths of one to five digits, and more arguments than fit in one digit or two.
        let values = (0..<120).map { String(repeating: "x", count: $0 * $0) }
        XCTAssertEqual(try redis.command(["RPUSH", "list"] + values), .integer(values.count))
        guard case .array(let items) = try redis.command(["LRANGE", "list", "0", "-1"]) else { return XCTFail() }
        XCTAssertEqual(items.map { $0.text ?? "?" }, values)
        let big = String(repeating: "é", count: 40_000)
        XCTAssertEqual(try redis.command(["SET", "big", big]), .status("OK"))
        XCTAssertEqual(try redis.command(["STRLEN", "big"]), .integer(80_000))
    }

    func testPipelineReturnsRepliesInOrder() throws {
        let redis = RedisConnection(config: server.config())
        let commands = (0..<200).map { ["INCRBY", "counter", String($0)] }
        let replies = try redis.pipeline(commands)
        XCTAssertEqual(replies.count, 200)
        var total = 0
        for (index, reply) in replies.enumerated() {
            total += index
            XCTAssertEqual(reply, .integer(total), "reply \(index)")
        }
    }

    func testErrorRepliesStayInPlaceInAPipeline() throws {
        let redis = RedisConnection(config: server.config())
        let replies = try redis.pipeline([
            ["SET", "text", "abc"],
            ["INCR", "text"],
            ["NOSUCHCOMMAND", "x"],
            ["GET", "text"],
            ["LPUSH", "text", "x"],
            ["PING"],
        ])
        XCTAssertEqual(replies.count, 6)
        XCTAssertEqual(replies[0], .status("OK"))
        guard case .error(let notInteger) = replies[1] else { return XCTFail("expected an error, got \(replies[1])") }
        XCTAssertTrue(notInteger.hasPrefix("ERR"), notInteger)
        guard case .error(let unknown) = replies[2] else { return XCTFail("expected an error, got \(replies[2])") }
        XCTAssertTrue(unknown.lowercased().contains("unknown command"), unknown)
        XCTAssertEqual(replies[3], .string(Array("abc".utf8)))
        guard case .error(let wrongType) = replies[4] else { return XCTFail("expected an error, got \(replies[4])") }
        XCTAssertTrue(wrongType.hasPrefix("WRONGTYPE"), wrongType)
        XCTAssertEqual(replies[5], .status("PONG"))
        XCTAssertEqual(try redis.command(["PING"]), .status("PONG"), "the connection is still usable")
    }

    func testCommandReturnsErrorRepliesAndCheckedThrowsThem() throws {
        let redis = RedisConnection(config: server.config())
        _ = try redis.command(["SET", "text", "abc"])
        guard case .error = try redis.command(["INCR", "text"]) else { return XCTFail("command returns the error reply") }
        XCTAssertThrowsError(try redis.checked(["INCR", "text"])) { error in
            let redisError = error as? RedisError
            XCTAssertEqual(redisError?.kind, .server)
            XCTAssertTrue(redisError?.message.hasPrefix("ERR") ?? false, "\(error)")
        }
        XCTAssertEqual(try redis.checked(["GET", "text"]), .string(Array("abc".utf8)))
        XCTAssertEqual(try redis.checked(["PING"]), .status("PONG"), "a server error does not break the connection")
    }

    func testTransactionThroughPipeline() throws {
        let redis = RedisConnection(config: server.config())
        let replies = try redis.pipeline([["MULTI"], ["SET", "a", "1"], ["INCR", "a"], ["EXEC"]])
        XCTAssertEqual(replies[0], .status("OK"))
        XCTAssertEqual(replies[1], .status("QUEUED"))
        XCTAssertEqual(replies[2], .status("QUEUED"))
        XCTAssertEqual(replies[3], .array([.status("OK"), .integer(2)]))
    }

    // MARK: Connection failures

    func testNothingListeningFailsQuicklyWithConnectionError() throws {
        let port = try freeLoopbackPort()
        let redis = RedisConnection(config: RedisConfig(url: RedisURL(address: .tcp(host: "127.0.0.1", port: port)),
                                                        timeout: .seconds(5)))
        let clock = ContinuousClock()
        let start = clock.now
        XCTAssertThrowsError(try redis.command(["PING"], idempotent: true)) { error in
            XCTAssertEqual((error as? RedisError)?.kind, .connection, "\(error)")
            XCTAssertTrue("\(error)".contains("127.0.0.1:\(port)"), "names the address: \(error)")
        }
        XCTAssertLessThan(clock.now - start, .seconds(1), "refused at once, not after the 5 s timeout")
    }

    func testIdempotentCommandSucceedsAfterServerRestart() throws {
        let redis = RedisConnection(config: server.config())
        XCTAssertEqual(try redis.command(["SET", "before", "1"]), .status("OK"))
        try server.restart()
        // The old connection is dead; an idempotent command is retried once on a new one.
        XCTAssertEqual(try redis.command(["GET", "before"], idempotent: true), .null, "a fresh server has no data")
        XCTAssertEqual(try redis.command(["SET", "after", "2"]), .status("OK"))
        XCTAssertEqual(try redis.pipeline([["GET", "after"], ["PING"]], idempotent: true),
                       [.string(Array("2".utf8)), .status("PONG")])
    }

    func testNonIdempotentCommandIsNotResentAfterRestartButNextCommandReconnects() throws {
        let redis = RedisConnection(config: server.config())
        XCTAssertEqual(try redis.command(["PING"]), .status("PONG"))
        try server.restart()
        XCTAssertThrowsError(try redis.command(["INCR", "once"])) { error in
            XCTAssertEqual((error as? RedisError)?.kind, .connection, "\(error)")
        }
        XCTAssertEqual(try redis.command(["INCR", "once"]), .integer(1),
                       "the failed INCR was not applied behind the caller's back, and the connection reopened")
    }

    func testCommandsFailWhileServerIsDownAndRecoverWhenItIsBack() throws {
        let redis = RedisConnection(config: server.config(timeout: .milliseconds(500)))
        XCTAssertEqual(try redis.command(["PING"]), .status("PONG"))
        server.stop()
        XCTAssertThrowsError(try redis.command(["PING"], idempotent: true)) { error in
            XCTAssertEqual((error as? RedisError)?.kind, .connection, "\(error)")
        }
        try server.restart()
        XCTAssertEqual(try redis.command(["PING"], idempotent: true), .status("PONG"))
    }

    func testReplySlowerThanTimeoutIsAConnectionErrorAndTheNextCommandWorks() throws {
        let redis = RedisConnection(config: server.config(timeout: .milliseconds(300)))
        let clock = ContinuousClock()
        let start = clock.now
        XCTAssertThrowsError(try redis.command(["BLPOP", "never", "3"])) { error in
            XCTAssertEqual((error as? RedisError)?.kind, .connection, "\(error)")
        }
        XCTAssertLessThan(clock.now - start, .milliseconds(2500), "the 300 ms timeout applies, not BLPOP's 3 s")
        // Within the hold-off a command fails at once instead of waiting the timeout again;
        // after it, the connection is opened again.
        let again = clock.now
        XCTAssertThrowsError(try redis.command(["PING"], idempotent: true))
        XCTAssertLessThan(clock.now - again, .milliseconds(50))
        usleep(UInt32(RedisConnection.holdOff.components.seconds) * 1_000_000 + 50_000)
        XCTAssertEqual(try redis.command(["PING"]), .status("PONG"))
    }

    func testAPausedServerCostsOneTimeoutPerHoldOffNotOnePerCommand() throws {
        let redis = RedisConnection(config: server.config(timeout: .milliseconds(200)))
        XCTAssertEqual(try redis.command(["PING"]), .status("PONG"))
        let pid = try XCTUnwrap(server.pid)
        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<5 {
            XCTAssertThrowsError(try redis.command(["PING"], idempotent: true)) { error in
                XCTAssertEqual((error as? RedisError)?.kind, .connection, "\(error)")
            }
        }
        let took = clock.now - start
        XCTAssertGreaterThanOrEqual(took, .milliseconds(200))
        XCTAssertLessThan(took, .milliseconds(450), "five commands, one timeout")
        kill(pid, SIGCONT)
        usleep(UInt32(RedisConnection.holdOff.components.seconds) * 1_000_000 + 50_000)
        XCTAssertEqual(try redis.command(["PING"], idempotent: true), .status("PONG"))
    }

    func testTheHoldOffIsSharedByTheProcesssConnectionsAndSaysNothingWasSent() throws {
        let open = RedisConnection(config: server.config(timeout: .milliseconds(200)))
        let other = RedisConnection(config: server.config(timeout: .milliseconds(200)))
        XCTAssertEqual(try open.command(["PING"]), .status("PONG"))
        XCTAssertEqual(try other.command(["PING"]), .status("PONG"))
        let pid = try XCTUnwrap(server.pid)
        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }
        XCTAssertThrowsError(try open.command(["INCR", "n"])) { error in
            XCTAssertEqual((error as? RedisError)?.notSent, false, "a timed-out command may have reached Redis")
        }
        let clock = ContinuousClock()
        let start = clock.now
        XCTAssertThrowsError(try other.command(["INCR", "n"])) { error in
            XCTAssertEqual((error as? RedisError)?.notSent, true, "held back: safe to send again")
        }
        XCTAssertLessThan(clock.now - start, .milliseconds(50), "the other connection does not wait out a timeout too")
        kill(pid, SIGCONT)
        usleep(UInt32(RedisConnection.holdOff.components.seconds) * 1_000_000 + 50_000)
        XCTAssertEqual(try other.command(["PING"], idempotent: true), .status("PONG"))
    }

    func testARefusedConnectionSaysNothingWasSent() throws {
        let config = server.config()
        server.stop()
        XCTAssertThrowsError(try RedisConnection(config: config).command(["INCR", "n"])) { error in
            XCTAssertEqual((error as? RedisError)?.notSent, true, "\(error)")
        }
    }

    func testCloseThenCommandReopens() throws {
        let redis = RedisConnection(config: server.config())
        let first = try XCTUnwrap(redis.command(["CLIENT", "ID"]).integer)
        redis.close()
        redis.close()  // twice is harmless
        let second = try XCTUnwrap(redis.command(["CLIENT", "ID"]).integer)
        XCTAssertNotEqual(first, second, "a new connection")
        XCTAssertEqual(try redis.command(["CLIENT", "ID"]).integer, second, "and it is kept")
    }

    // MARK: Set-up commands from the URL

    func testSelectsTheDatabaseFromTheURL() throws {
        let db5 = RedisConnection(config: server.config(database: 5))
        let db0 = RedisConnection(config: server.config())
        XCTAssertEqual(try db5.command(["SET", "where", "five"]), .status("OK"))
        XCTAssertEqual(try db0.command(["GET", "where"]), .null)
        XCTAssertEqual(try db5.command(["GET", "where"]), .string(Array("five".utf8)))
        XCTAssertTrue(try db5.command(["CLIENT", "INFO"]).text?.contains(" db=5 ") ?? false)
        XCTAssertEqual(try db0.command(["SELECT", "5"]), .status("OK"))
        XCTAssertEqual(try db0.command(["GET", "where"]), .string(Array("five".utf8)))
    }

    func testDatabaseFromConfigFileURLIsSelectedAgainAfterReconnect() throws {
        let config = try redisConfig(fromURL: "redis://127.0.0.1:\(server.port)/7")
        XCTAssertEqual(config.url.database, 7)
        let redis = RedisConnection(config: config)
        XCTAssertEqual(try redis.command(["SET", "k", "v"]), .status("OK"))
        try server.restart()
        XCTAssertEqual(try redis.command(["SET", "k", "again"], idempotent: true), .status("OK"))
        XCTAssertTrue(try redis.command(["CLIENT", "INFO"]).text?.contains(" db=7 ") ?? false,
                      "the new connection selects the database too")
    }

    func testOutOfRangeDatabaseIsAServerError() throws {
        let redis = RedisConnection(config: server.config(database: 999))
        XCTAssertThrowsError(try redis.command(["PING"])) { error in
            XCTAssertEqual((error as? RedisError)?.kind, .server, "\(error)")
        }
    }
}

/// The same against a server started with `--requirepass`.
final class RedisAuthTests: XCTestCase {
    private let password = "s3cret-Pa55word-xyz"
    private var server: RedisServerFixture!

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        server = try RedisServerFixture.start(password: password)
    }

    override func tearDown() {
        server?.stop()
        server = nil
    }

    func testRightPasswordAuthenticates() throws {
        let redis = RedisConnection(config: server.config())
        XCTAssertEqual(try redis.command(["SET", "k", "v"]), .status("OK"))
        XCTAssertEqual(try redis.command(["GET", "k"]), .string(Array("v".utf8)))
    }

    func testPasswordAndDatabaseFromConfigFileURL() throws {
        let config = try redisConfig(fromURL: "redis://:\(password)@127.0.0.1:\(server.port)/3")
        let redis = RedisConnection(config: config)
        XCTAssertEqual(try redis.command(["SET", "k", "v"]), .status("OK"))
        XCTAssertTrue(try redis.command(["CLIENT", "INFO"]).text?.contains(" db=3 ") ?? false)
    }

    func testDefaultUserNameWithPassword() throws {
        let config = try redisConfig(fromURL: "redis://default:\(password)@127.0.0.1:\(server.port)")
        XCTAssertEqual(config.url.username, "default")
        XCTAssertEqual(try RedisConnection(config: config).command(["PING"]), .status("PONG"))
    }

    func testWrongPasswordIsAServerErrorThatDoesNotShowThePassword() throws {
        let wrong = "wrong-Pa55word-abc"
        let redis = RedisConnection(config: server.config(password: .some(wrong)))
        XCTAssertThrowsError(try redis.command(["PING"], idempotent: true)) { error in
            let redisError = error as? RedisError
            XCTAssertEqual(redisError?.kind, .server, "\(error)")
            for text in ["\(error)", String(reflecting: error), redisError?.message ?? ""] {
                XCTAssertFalse(text.contains(wrong), text)
                XCTAssertFalse(text.contains(password), text)
            }
            XCTAssertTrue("\(error)".contains("127.0.0.1:\(server.port)"), "names the server: \(error)")
        }
        // Every later attempt fails the same way (no half-authenticated connection is kept).
        XCTAssertThrowsError(try redis.command(["GET", "k"])) { error in
            XCTAssertEqual((error as? RedisError)?.kind, .server, "\(error)")
        }
    }

    func testNoPasswordGetsNOAUTHReplies() throws {
        let redis = RedisConnection(config: server.config(password: .some(nil)))
        guard case .error(let message) = try redis.command(["GET", "k"]) else { return XCTFail("expected NOAUTH") }
        XCTAssertTrue(message.hasPrefix("NOAUTH"), message)
        XCTAssertThrowsError(try redis.checked(["GET", "k"])) { error in
            XCTAssertEqual((error as? RedisError)?.kind, .server)
        }
    }
}

/// The Redis part of a minimal `sluice.yaml` with `url`, as the gateway would load it.
private func redisConfig(fromURL url: String, file: StaticString = #filePath, line: UInt = #line) throws -> RedisConfig {
    struct NoSecrets: SecretResolving {
        func environmentValue(_ name: String) -> String? { nil }
        func fileContents(_ path: String) throws -> String { throw FixtureError("no files") }
    }
    let yaml = """
        redis: { url: "\(url)", timeout: 2s }
        providers:
          local: { kind: openai_compatible, base_url: "http://127.0.0.1:1/v1" }
        routes:
          r: { type: chat, endpoints: [ { provider: local, model: m } ] }
        """
    return try ConfigLoader.parse(yaml: yaml, fileName: "sluice.yaml", secrets: NoSecrets()).config.redis
}
