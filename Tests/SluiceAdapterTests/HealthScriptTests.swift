import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SluiceCore
import SluiceRedis
import XCTest

/// The shared-health Lua scripts (`HealthScripts`) run through `RedisConnection.evaluate`
/// against a real `redis-server`: tripping, the half-open probe lease, the growing
/// cooldown, recovery, and the keep-warm claim.
final class HealthScriptTests: XCTestCase {
    private var server: RedisServerFixture!
    private var redis: RedisConnection!
    /// A second responder, on its own connection.
    private var other: RedisConnection!

    /// First cooldown in ms, small enough to wait out.
    private let base = 300
    /// Longest cooldown in ms.
    private let longest = 10_000
    /// A one-day window, so no window boundary falls between the calls of one test.
    private let window = 86_400_000

    override func setUpWithError() throws {
        signal(SIGPIPE, SIG_IGN)
        server = try RedisServerFixture.start()
        redis = RedisConnection(config: server.config())
        other = RedisConnection(config: server.config())
    }

    override func tearDown() {
        redis = nil
        other = nil
        server?.stop()
        server = nil
    }

    // MARK: Tripping

    func testFewerThanMinCallsDoNotTripAndTheFourthFailureTrips() throws {
        let key = freshKey()
        for call in 1...3 {
            XCTAssertEqual(try report(key, "fail"), "", "failure \(call) of 3 is below min_calls")
            XCTAssertEqual(try snapshot(key).state, 0)
        }
        XCTAssertEqual(try report(key, "fail"), "tripped:\(base)")
        let cooling = try snapshot(key)
        XCTAssertEqual(cooling.state, 1)
        XCTAssertTrue((base - 200...base).contains(cooling.until - cooling.now),
                      "until \(cooling.until) should be about now \(cooling.now) + \(base)")
        XCTAssertEqual(try hash(key)["trips"], "1")
        XCTAssertEqual(try hash(key)["last_error"], "connect")
        // A failure during the cooldown does not trip again.
        XCTAssertEqual(try report(key, "fail"), "")
        XCTAssertEqual(try snapshot(key).until, cooling.until)
        // Every report refreshes the key's TTL.
        let ttl = try XCTUnwrap(try redis.command(["TTL", key]).integer)
        XCTAssertTrue((1...60).contains(ttl), "ttl \(ttl)")
    }

    func testTheFailureRatioMustBeExceeded() throws {
        let key = freshKey()
        XCTAssertEqual(try report(key, "ok"), "")
        XCTAssertEqual(try report(key, "ok"), "")
        XCTAssertEqual(try report(key, "fail"), "")
        XCTAssertEqual(try report(key, "fail"), "", "2 of 4 failed: not more than half")
        XCTAssertEqual(try report(key, "neutral"), "", "neutral outcomes are not counted")
        XCTAssertEqual(try snapshot(key).state, 0)
        XCTAssertEqual(try report(key, "fail"), "tripped:\(base)", "3 of 5 failed")
        XCTAssertEqual(try snapshot(key).state, 1)
    }

    func testOneEntryCountsSeveralSuccesses() throws {
        let key = freshKey()
        // Five successes in one entry (a batch of calls), then four failures: 4 of 9 is not
        // over the ratio of 0.5, though four alone would trip.
        XCTAssertEqual(try report(key, "ok", count: 5), "")
        for _ in 0..<4 { XCTAssertEqual(try report(key, "fail"), "") }
        XCTAssertEqual(try hash(key)["w_ok"], "5")
        XCTAssertEqual(try hash(key)["w_fail"], "4")
        XCTAssertEqual(try report(key, "fail"), "", "5 failures of 10 are not over half")
        XCTAssertEqual(try report(key, "fail"), "tripped:\(base)", "6 of 11 are")
    }

    func testRetryAfterTripsAtOnceBelowMinCalls() throws {
        let key = freshKey()
        XCTAssertEqual(try report(key, "fail", retryAfter: 2_000), "tripped:2000")
        let cooling = try snapshot(key)
        XCTAssertEqual(cooling.state, 1)
        XCTAssertTrue((1_800...2_000).contains(cooling.until - cooling.now), "\(cooling.until - cooling.now)")
        // A longer Retry-After during the cooldown extends it; a shorter one does not.
        XCTAssertEqual(try report(key, "fail", retryAfter: 500), "")
        XCTAssertEqual(try snapshot(key).until, cooling.until)
        XCTAssertEqual(try report(key, "fail", retryAfter: 5_000), "")
        let extended = try snapshot(key)
        XCTAssertTrue((4_800...5_000).contains(extended.until - extended.now), "\(extended.until - extended.now)")
    }

    // MARK: The half-open probe

    func testAfterTheCooldownOneCallerGetsTheProbeAndAnotherSeesProbing() throws {
        let key = freshKey()
        try trip(key)
        try waitOutCooldown(key)

        let first = try snapshot(key)
        XCTAssertEqual(first.state, 2, "the first caller after the cooldown holds the probe lease")
        XCTAssertEqual(try snapshot(key, on: other).state, 3, "another responder sees the probe under way")
        XCTAssertEqual(try snapshot(key).state, 3, "the lease is granted once, whoever asks")
        let keepWarm = try claim(key, on: other)
        XCTAssertEqual(keepWarm, 0, "keep-warm does not probe while a probe lease is held")
    }

    func testProbeLeaseExpires() throws {
        let key = freshKey()
        try trip(key)
        try waitOutCooldown(key)
        XCTAssertEqual(try snapshot(key, lease: 200).state, 2)
        XCTAssertEqual(try snapshot(key, on: other).state, 3)
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(try snapshot(key, on: other).state, 2, "an expired lease is granted again")
    }

    func testAFailedProbeDoublesTheCooldownAndASuccessfulOneRecovers() throws {
        let key = freshKey()
        try trip(key)
        try waitOutCooldown(key)
        XCTAssertEqual(try snapshot(key).state, 2)
        XCTAssertEqual(try report(key, "fail", probe: true), "tripped:\(2 * base)")
        let cooling = try snapshot(key)
        XCTAssertEqual(cooling.state, 1)
        XCTAssertTrue((2 * base - 200...2 * base).contains(cooling.until - cooling.now), "\(cooling.until - cooling.now)")
        XCTAssertEqual(try hash(key)["trips"], "2")

        try waitOutCooldown(key)
        XCTAssertEqual(try snapshot(key).state, 2)
        XCTAssertEqual(try report(key, "ok", latency: 123, probe: true), "recovered")
        let healthy = try snapshot(key)
        XCTAssertEqual(healthy.state, 0)
        XCTAssertEqual(healthy.until, 0)
        XCTAssertEqual(healthy.latency, 123)
        XCTAssertTrue((healthy.now - 1_000...healthy.now).contains(healthy.lastOk), "last_ok \(healthy.lastOk)")
        XCTAssertEqual(try snapshot(key, on: other).state, 0)
        // Failures before the trip no longer count: one new failure does not trip.
        XCTAssertEqual(try report(key, "fail"), "")
        XCTAssertEqual(try snapshot(key).state, 0)
    }

    func testTheCooldownKeepsDoublingUpToTheLongest() throws {
        let key = freshKey()
        try trip(key)
        var expected = base
        for _ in 0..<4 {
            try waitOutCooldown(key)
            XCTAssertEqual(try snapshot(key).state, 2)
            expected = min(expected * 2, 1_000)
            XCTAssertEqual(try report(key, "fail", probe: true, longest: 1_000), "tripped:\(expected)")
        }
        XCTAssertEqual(expected, 1_000)
    }

    func testReleasingAnUnusedProbeLeaseLetsTheNextCallerProbe() throws {
        let key = freshKey()
        try trip(key)
        try waitOutCooldown(key)
        XCTAssertEqual(try snapshot(key).state, 2)
        XCTAssertEqual(try snapshot(key, on: other).state, 3)
        XCTAssertEqual(try report(key, "release"), "")
        XCTAssertEqual(try snapshot(key, on: other).state, 2, "the released lease is granted to the next caller")
        XCTAssertEqual(try snapshot(key).state, 3)
        // Releasing touched neither the cooldown nor the counts.
        XCTAssertEqual(try hash(key)["trips"], "1")
    }

    func testAProbeThatLearnedNothingGivesItsLeaseBackWithoutRecovering() throws {
        let key = freshKey()
        try trip(key)
        try waitOutCooldown(key)
        XCTAssertEqual(try snapshot(key, owner: "a").state, 2)
        // The client left before any answer: not a recovery, and the next caller may probe.
        XCTAssertEqual(try report(key, "none", probe: true, owner: "a"), "")
        XCTAssertEqual(try snapshot(key, on: other, owner: "b").state, 2, "the lease went back")
        XCTAssertNotEqual(try hash(key)["until"], "0", "still not recovered")
        // A 400 answered by the endpoint does show it is up.
        XCTAssertEqual(try report(key, "neutral", probe: true, owner: "b"), "recovered")
        XCTAssertEqual(try snapshot(key).state, 0)
    }

    func testOnlyTheHolderCanGiveBackAProbeLease() throws {
        let key = freshKey()
        try trip(key)
        try waitOutCooldown(key)
        XCTAssertEqual(try snapshot(key, lease: 200, owner: "late").state, 2)
        usleep(300_000)
        XCTAssertEqual(try snapshot(key, on: other, owner: "current").state, 2, "the first lease expired")
        // The first holder finishes late and releases what it thinks is its lease.
        XCTAssertEqual(try report(key, "release", owner: "late"), "")
        XCTAssertEqual(try snapshot(key, owner: "third").state, 3, "the current holder keeps its lease")
        XCTAssertEqual(try report(key, "release", owner: "current"), "")
        XCTAssertEqual(try snapshot(key, owner: "third").state, 2)
    }

    // MARK: Keep-warm

    func testKeepWarmClaimIsWonOncePerQuietIntervalAndProbesAfterACooldown() throws {
        let key = freshKey()
        var claims = try (0..<10).map { _ in try claim(key, interval: 500) }
        XCTAssertEqual(claims.filter { $0 == 1 }.count, 1, "\(claims)")
        XCTAssertEqual(claims.filter { $0 == 0 }.count, 9, "\(claims)")

        Thread.sleep(forTimeInterval: 0.6)
        claims = try (0..<10).map { index in try claim(key, interval: 500, on: index.isMultiple(of: 2) ? redis : other) }
        XCTAssertEqual(claims.filter { $0 == 1 }.count, 1, "\(claims)")
        XCTAssertEqual(claims.filter { $0 == 0 }.count, 9, "\(claims)")

        // Traffic counts as warmth: a report moves last_traffic too.
        Thread.sleep(forTimeInterval: 0.6)
        XCTAssertEqual(try report(key, "ok"), "")
        XCTAssertEqual(try claim(key, interval: 500), 0)

        XCTAssertEqual(try report(key, "fail", retryAfter: base), "tripped:\(base)")
        claims = try (0..<10).map { _ in try claim(key, interval: 1) }
        XCTAssertEqual(claims, Array(repeating: 0, count: 10), "no pings while cooling")

        try waitOutCooldown(key)
        claims = try (0..<10).map { index in try claim(key, interval: 1, on: index.isMultiple(of: 2) ? redis : other) }
        XCTAssertEqual(claims.filter { $0 == 2 }.count, 1, "\(claims)")
        XCTAssertEqual(claims.filter { $0 == 0 }.count, 9, "\(claims)")
        XCTAssertEqual(try snapshot(key).state, 3, "the keep-warm ping holds the probe lease")
        XCTAssertEqual(try report(key, "ok", probe: true), "recovered")
        XCTAssertEqual(try snapshot(key).state, 0)
    }

    // MARK: Script loading

    func testShaMatchesScriptLoadAndEvaluateSurvivesScriptFlush() throws {
        for script in [HealthScripts.snapshot, HealthScripts.report, HealthScripts.keepWarmClaim] {
            XCTAssertEqual(script.sha1.count, 40)
            XCTAssertEqual(try redis.checked(["SCRIPT", "LOAD", script.source]).text, script.sha1)
        }
        let key = freshKey()
        XCTAssertEqual(try snapshot(key).state, 0)

        XCTAssertEqual(try redis.checked(["SCRIPT", "FLUSH"]), .status("OK"))
        XCTAssertEqual(try redis.checked(["SCRIPT", "EXISTS", HealthScripts.snapshot.sha1]), .array([.integer(0)]))
        // EVALSHA now fails with NOSCRIPT; evaluate falls back to EVAL and still answers.
        XCTAssertEqual(try snapshot(key).state, 0)
        XCTAssertEqual(try report(key, "fail", retryAfter: 1_000), "tripped:1000")
        XCTAssertEqual(try snapshot(key, on: other).state, 1)
        XCTAssertEqual(try redis.checked(["SCRIPT", "EXISTS", HealthScripts.snapshot.sha1, HealthScripts.report.sha1]),
                       .array([.integer(1), .integer(1)]), "EVAL cached the scripts for the next EVALSHA")

        // A real script error is still thrown, not swallowed by the fallback.
        XCTAssertThrowsError(try redis.evaluate(RedisScript("return redis.call('NOSUCHCOMMAND')"), keys: [], arguments: []))
    }

    // MARK: Helpers

    private struct Snapshot {
        var now: Int
        var state: Int
        var until: Int
        var lastOk: Int
        var latency: Int
    }

    private func freshKey() -> String { "t:ep:\(UUID().uuidString)" }

    private func snapshot(_ key: String, lease: Int = 10_000, on connection: RedisConnection? = nil, owner: String = "",
                          file: StaticString = #filePath, line: UInt = #line) throws -> Snapshot {
        let reply = try (connection ?? redis).evaluate(HealthScripts.snapshot, keys: [key],
                                                       arguments: [String(lease), owner])
        guard case .array(let items) = reply else {
            XCTFail("unexpected reply \(reply)", file: file, line: line)
            throw FixtureError("unexpected snapshot reply")
        }
        let values = items.compactMap(\.integer)
        XCTAssertEqual(values.count, 7, "\(reply)", file: file, line: line)
        guard values.count == 7 else { throw FixtureError("unexpected snapshot reply") }
        // The reply also parses as a HealthSnapshot.
        let parsed = try XCTUnwrap(HealthSnapshot.parse(values, upstreams: ["u"]), file: file, line: line)
        XCTAssertEqual(parsed.now, Int64(values[0]), file: file, line: line)
        return Snapshot(now: values[0], state: values[1], until: values[2], lastOk: values[3], latency: values[4])
    }

    /// One attempt's outcome under min_calls 4, ratio 0.5, cooldown `base` .. `longest`, TTL 60 s.
    private func report(_ key: String, _ outcome: String, latency: Int = 10, retryAfter: Int = 0, probe: Bool = false,
                        longest: Int? = nil, owner: String = "", count: Int = 1,
                        file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let arguments = [String(window), "4", "0.5", String(base), String(longest ?? self.longest), "60",
                         outcome, String(latency), String(retryAfter), "connect", probe ? "1" : "0", String(count), owner]
        let reply = try redis.evaluate(HealthScripts.report, keys: [key], arguments: arguments)
        guard case .array(let items) = reply, items.count == 1, let text = items[0].text else {
            XCTFail("unexpected reply \(reply)", file: file, line: line)
            throw FixtureError("unexpected report reply")
        }
        return text
    }

    private func claim(_ key: String, interval: Int, lease: Int = 10_000, on connection: RedisConnection? = nil) throws -> Int {
        let reply = try (connection ?? redis).evaluate(HealthScripts.keepWarmClaim, keys: [key],
                                                       arguments: [String(interval), String(lease)])
        guard case .integer(let value) = reply else { throw FixtureError("unexpected keep-warm reply \(reply)") }
        return value
    }

    private func claim(_ key: String, on connection: RedisConnection) throws -> Int {
        try claim(key, interval: 60_000, on: connection)
    }

    /// Four failures: trips with the first cooldown.
    private func trip(_ key: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for _ in 0..<3 { XCTAssertEqual(try report(key, "fail"), "", file: file, line: line) }
        XCTAssertEqual(try report(key, "fail"), "tripped:\(base)", file: file, line: line)
    }

    /// Sleeps until Redis's clock passes the key's cooldown end.
    private func waitOutCooldown(_ key: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fields = try hash(key)
        let until = try XCTUnwrap(fields["until"].flatMap { Double($0) }, file: file, line: line)
        let now = try redisTime()
        if until >= now { Thread.sleep(forTimeInterval: (until - now + 30) / 1_000) }
    }

    private func redisTime() throws -> Double {
        guard case .array(let parts) = try redis.checked(["TIME"]), parts.count == 2,
              let seconds = parts[0].integer, let micros = parts[1].integer else {
            throw FixtureError("unexpected TIME reply")
        }
        return Double(seconds) * 1_000 + Double(micros / 1_000)
    }

    private func hash(_ key: String) throws -> [String: String] {
        try redis.checked(["HGETALL", key]).fieldMap
    }
}
