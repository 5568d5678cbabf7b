import Foundation
import SluiceCore
import XCTest

/// Gateway keys and identities asserted by nginx, through the shipped nginx config.
final class IdentityTests: SharedStackTestCase {
    private let chat = #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#

    /// The config grants every asserted principal the `chat` route, so a spoofed principal
    /// would get a 200: every attempt below must be a 401.
    func testClientsCannotAssertAPrincipal() throws {
        let stack = try gateway()
        let spoofs: [[(String, String)]] = [
            [("Sluice-Principal", "admin")],
            [("X-Sluice-Principal", "admin")],
            [("SLUICE_PRINCIPAL", "admin")],
            [("Sluice_Principal", "admin")],
            [("Authorization", "Basic YWRtaW46cGFzc3dvcmQ=")],
            [("X-Remote-User", "admin"), ("Remote-User", "admin")],
            [("Sluice-Credential", "admin"), ("SLUICE_CREDENTIAL", "admin")],
            [("sluice-principal", "admin")],
            [("X-SLUICE-PRINCIPAL", "admin")],
            [("Http-Sluice-Principal", "admin")],
            [("HTTP_SLUICE_PRINCIPAL", "admin")],
            [("Sluice-Principal ", "admin")],
            [("X-Forwarded-User", "admin"), ("X-Auth-Request-User", "admin"), ("X-Remote-User", "admin")],
            [("X-Forwarded-Email", "admin@example.com"), ("X-Auth-Request-Email", "admin@example.com")],
            [("Remote_User", "admin"), ("REMOTE_USER", "admin")],
            [("Proxy-Authorization", "Basic YWRtaW46cGFzc3dvcmQ=")],
            [("X-Sluice-Principal", "admin"), ("X-Sluice-Principal", "root")],
        ]
        for headers in spoofs {
            let response = stack.client.send(.post, "/v1/chat/completions", headers: headers, body: chat)
            // 401 from the pool, or 400 where nginx refuses a malformed header name outright.
            XCTAssertTrue([400, 401].contains(response.status), "\(headers): \(response.status) \(response.text)")
        }
    }

    func testAllThreeCredentialHeadersWork() throws {
        let stack = try gateway()
        let key = try stack.createKey(name: "headers")
        for header in [("Authorization", "Bearer \(key)"), ("x-api-key", key), ("api-key", key)] {
            let response = stack.client.send(.post, "/v1/chat/completions", headers: [header], body: chat)
            XCTAssertEqual(response.status, 200, "\(header.0): \(response.text)")
        }
    }

    func testKeysAreStoredHashedAndListedWithoutTheSecret() throws {
        let stack = try gateway()
        let key = try stack.createKey(name: "listed")
        let list = try stack.sluice(["keys", "list", "--config", stack.configPath])
        XCTAssertEqual(list.status, 0, list.output)
        XCTAssertTrue(list.output.contains("listed"))
        XCTAssertFalse(list.output.contains(key))
        // A long name: every row still lines up with the header; --json gives objects.
        _ = try stack.createKey(name: "a-key-name-longer-than-twenty-characters")
        let lines = try stack.sluice(["keys", "list", "--config", stack.configPath]).output.split(separator: "\n")
            .filter { $0.hasPrefix("ID") || $0.hasPrefix("key_") }
        let prefixColumn = try XCTUnwrap(lines.first?.range(of: "PREFIX")).lowerBound.utf16Offset(in: String(lines[0]))
        for line in lines.dropFirst() {
            XCTAssertTrue(Array(line)[prefixColumn...].starts(with: "sk-sluice-"), String(line))
        }
        let json = try stack.sluice(["keys", "list", "--config", stack.configPath, "--json"]).output.split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertTrue(json.contains { $0["name"] as? String == "listed" && $0["status"] as? String == "active" }, "\(json)")
        XCTAssertFalse(json.description.contains(key))
        // create, rotate and revoke --json: one object each; the hash never appears.
        func object(_ arguments: [String]) throws -> [String: Any] {
            let result = try stack.sluice(["keys"] + arguments + ["--config", stack.configPath, "--json"])
            XCTAssertEqual(result.status, 0, result.output)
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], result.output)
        }
        let created = try object(["create", "--name", "json-key", "--routes", "chat", "--limit", "requests=5/1m"])
        let newKey = try XCTUnwrap(created["key"] as? String)
        let id = try XCTUnwrap(created["id"] as? String)
        XCTAssertTrue(newKey.hasPrefix("sk-sluice-"))
        XCTAssertEqual(created["routes"] as? [String], ["chat"])
        XCTAssertFalse("\(created)".contains(GatewayKeyFormat.hash(newKey)))
        let rotated = try object(["rotate", id, "--grace", "0s"])
        XCTAssertEqual(rotated["replaces"] as? String, id)
        XCTAssertNotEqual(rotated["key"] as? String, newKey)
        let revoked = try object(["revoke", try XCTUnwrap(rotated["id"] as? String)])
        XCTAssertEqual(revoked["revoked"] as? Bool, true)
        let dump = try runCommand(which("redis-cli")!, ["-p", "\(stack.redisPort)", "--no-raw", "KEYS", "*"])
        XCTAssertFalse(dump.output.contains(key))
        XCTAssertTrue(dump.output.contains("sluice:key:"))
    }

    func testRevokedKeyIsRefusedWithinFiveSeconds() throws {
        let stack = try gateway()
        let key = try stack.createKey(name: "to-revoke")
        XCTAssertEqual(stack.client.post("/v1/chat/completions", key: key, chat).status, 200)
        let list = try stack.sluice(["keys", "list", "--config", stack.configPath]).output
        let line = try XCTUnwrap(list.split(separator: "\n").first { $0.contains("to-revoke") })
        let id = String(line.split(separator: " ")[0])
        XCTAssertEqual(try stack.sluice(["keys", "revoke", "--config", stack.configPath, id]).status, 0)
        let revoked = ContinuousClock.now
        try waitUntil("every responder refuses the revoked key", timeout: .seconds(5)) {
            // Several calls so both workers and several threads are asked.
            (0..<6).allSatisfy { _ in stack.client.post("/v1/chat/completions", key: key, chat).status == 401 }
        }
        XCTAssertLessThan(ContinuousClock.now - revoked, .seconds(5))
        XCTAssertEqual(try stack.sluice(["keys", "revoke", "--config", stack.configPath, "key_nope"]).status, 1)
    }
}
