import Foundation
import SluiceCore
import SluiceRedis
import XCTest

/// Admin actions — keys created, rotated and revoked, configuration reloads applied or
/// refused — are audit records of kind `admin` in the chained stream, with who did them,
/// shown by `sluice audit tail --kind admin`; never a key or a secret.
final class AdminAuditTests: XCTestCase {
    func testKeyActionsAndReloadsAreAdminRecords() throws {
        let stack = try GatewayStack()
        defer { stack.stop() }
        let created = try stack.sluice(["keys", "create", "--config", stack.configPath, "--name", "ops-bot", "--json",
                                        "--routes", "chat"])
        XCTAssertEqual(created.status, 0, created.output)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(created.output.utf8)) as? [String: Any])
        let key = try XCTUnwrap(object["key"] as? String), id = try XCTUnwrap(object["id"] as? String)
        let rotated = try stack.sluice(["keys", "rotate", "--config", stack.configPath, id, "--grace", "0s", "--json"])
        XCTAssertEqual(rotated.status, 0, rotated.output)
        let newId = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(rotated.output.utf8)) as? [String: Any])?["id"] as? String)
        XCTAssertEqual(try stack.sluice(["keys", "revoke", "--config", stack.configPath, newId]).status, 0)

        // A reload that adds a route, then one that is refused.
        try stack.writeConfig(GatewayStack.config(stack, extraRoutes: "  added: { type: chat, endpoints: [ { provider: mock, model: mock-gpt } ] }"))
        stack.reload()
        try waitUntil("the reload is applied", timeout: .seconds(5)) { stack.pool!.log.contains("configuration reloaded") }
        let applied = try String(contentsOfFile: stack.configPath, encoding: .utf8)
        try stack.writeConfig("redis: [broken")
        stack.reload()
        try waitUntil("the reload is refused", timeout: .seconds(5)) { stack.pool!.log.contains("reload refused") }
        try stack.writeConfig(applied)  // for the commands below

        var records: [[String: Any]] = []
        try waitUntil("five admin records", timeout: .seconds(5)) {
            let tail = (try? bounded(stack, ["audit", "tail", "--config", stack.configPath, "--kind", "admin", "--from", "-10m",
                                           "--count", "5", "--json"]))?.output ?? ""
            records = tail.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            return records.count == 5
        }
        XCTAssertEqual(records.map { $0["kind"] as? String }, Array(repeating: "admin", count: 5), "--kind admin shows only admin records")
        XCTAssertEqual(records.compactMap { $0["action"] as? String },
                       ["keys.create", "keys.rotate", "keys.revoke", "config.reload", "config.reload"])
        let details = records.map { $0["details"] as? [String: Any] ?? [:] }
        XCTAssertEqual(details[0]["key_id"] as? String, id)
        XCTAssertEqual(details[0]["name"] as? String, "ops-bot")
        XCTAssertEqual(details[0]["routes"] as? [String], ["chat"])
        XCTAssertEqual(details[1]["new_key_id"] as? String, newId)
        XCTAssertEqual(details[2]["key_id"] as? String, newId)
        XCTAssertEqual(details[3]["result"] as? String, "applied")
        XCTAssertEqual(details[3]["routes_added"] as? [String], ["added"])
        XCTAssertEqual(details[3]["routes_removed"] as? [String], [])
        XCTAssertEqual(details[3]["routes_changed"] as? [String], [])
        XCTAssertEqual(details[3]["providers_changed"] as? [String], [])
        // Who reloaded: the process that sent the SIGHUP (this test) and its user, not the master.
        let reloader = try XCTUnwrap(records[3]["who"] as? [String: Any])
        XCTAssertEqual(reloader["pid"] as? Int, Int(getpid()))
        XCTAssertEqual(reloader["uid"] as? Int, Int(getuid()))
        XCTAssertEqual(reloader["signal"] as? String, "SIGHUP")
        XCTAssertEqual(reloader["master_pid"] as? Int, Int(stack.pool!.pid))
        XCTAssertEqual(reloader["user"] as? String, records[0]["who"].flatMap { ($0 as? [String: Any])?["user"] as? String })
        XCTAssertEqual(details[3]["sha256"] as? String, Digest.sha256Hex(Array(applied.utf8)))
        XCTAssertEqual(details[4]["result"] as? String, "refused")
        XCTAssertEqual(details[4]["sha256"] as? String, Digest.sha256Hex(Array("redis: [broken".utf8)))
        XCTAssertNotNil(details[4]["error"] as? String)
        let who = try XCTUnwrap(records[0]["who"] as? [String: Any])
        XCTAssertNotNil(who["user"] as? String)
        XCTAssertNotNil(who["host"] as? String)
        XCTAssertEqual(who["uid"] as? Int, Int(getuid()))

        // Never a key, its hash or a provider secret; and the chain holds with them.
        let stream = try bounded(stack, ["audit", "tail", "--config", stack.configPath, "--from", "-10m", "--count", "5", "--json"]).output
        for secret in [key, GatewayKeyFormat.hash(key), stack.mockKey] { XCTAssertFalse(stream.contains(secret)) }
        let verify = try stack.sluice(["audit", "verify", "--config", stack.configPath])
        XCTAssertEqual(verify.status, 0, verify.output)
        XCTAssertTrue(verify.output.contains("chain intact"), verify.output)
        // The plain tail shows them as ADMIN lines.
        let lines = try bounded(stack, ["audit", "tail", "--config", stack.configPath, "--kind", "admin", "--from", "-10m",
                                      "--count", "1"]).output
        XCTAssertTrue(lines.contains("ADMIN") && lines.contains("keys.create"), lines)
    }

    func testAReloadsRecordWaitsForRedisAndIsNotLost() throws {
        let stack = try GatewayStack()
        defer { stack.stop() }
        stack.stopRedis()
        try stack.writeConfig(GatewayStack.config(stack, extraRoutes: "  later: { type: chat, endpoints: [ { provider: mock, model: mock-gpt } ] }"))
        stack.reload()
        try waitUntil("the record waits", timeout: .seconds(5)) { stack.pool!.log.contains("admin audit record waits for Redis") }
        try stack.startRedis()
        var tail = ""
        try waitUntil("the record is appended once Redis is back", timeout: .seconds(10)) {
            tail = (try? bounded(stack, ["audit", "tail", "--config", stack.configPath, "--kind", "admin", "--from", "-10m",
                                       "--count", "1", "--json"]))?.output ?? ""
            return tail.contains("config.reload")
        }
        XCTAssertTrue(tail.contains(#""routes_added":["later"]"#), tail)
    }

    /// `sluice ARGS` stopped after 10 s: a tail with `--count` waits for records that may
    /// never come.
    private func bounded(_ stack: GatewayStack, _ arguments: [String]) throws -> (status: Int32, output: String) {
        try runCommand("/usr/bin/timeout", ["10", stack.binary] + arguments, environment: ["SLUICE_TEST_MOCK_KEY": stack.mockKey])
    }
}
