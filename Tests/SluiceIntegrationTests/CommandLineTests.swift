import Foundation
import XCTest

/// `sluice check` and the shipped nginx configs, run as an operator would.
final class CommandLineTests: XCTestCase {
    private var binary: String {
        get throws {
            guard let path = GatewayStack.sluiceBinary else { throw XCTSkip("build the sluice binary first") }
            return path
        }
    }

    private func write(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "sluice-check-\(UUID().uuidString.prefix(8)).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Shell completions come from swift-argument-parser; bash must be able to load them.
    func testShellCompletionScripts() throws {
        for shell in ["bash", "zsh", "fish"] {
            let result = try runCommand(try binary, ["--generate-completion-script", shell])
            XCTAssertEqual(result.status, 0, result.output)
            XCTAssertTrue(result.output.contains("audit"), "\(shell): the subcommands are completed")
        }
        let script = NSTemporaryDirectory() + "sluice-completion-\(UUID().uuidString.prefix(8)).bash"
        try runCommand(try binary, ["--generate-completion-script", "bash"]).output
            .write(toFile: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: script) }
        let loaded = try runCommand("/bin/bash", ["-c", "source \(script) && complete -p sluice"])
        XCTAssertEqual(loaded.status, 0, loaded.output)
    }

    func testCheckAcceptsAValidConfigAndResolvesSecrets() throws {
        let path = try write("""
            redis: { url: "redis://127.0.0.1:6379/0" }
            providers:
              openai: { kind: openai, api_key: "${env:SLUICE_CHECK_KEY}" }
            routes:
              chat: { type: chat, endpoints: [ { provider: openai, model: gpt-4o } ] }
            """)
        let result = try runCommand(try binary, ["check", "--config", path], environment: ["SLUICE_CHECK_KEY": "sk-live-very-secret"])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertFalse(result.output.contains("sk-live-very-secret"))
        let json = try runCommand(try binary, ["check", "--config", path, "--json"], environment: ["SLUICE_CHECK_KEY": "sk-live-very-secret"])
        XCTAssertEqual(json.status, 0, json.output)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any], json.output)
        XCTAssertEqual(object["ok"] as? Bool, true)
        XCTAssertEqual(object["routes"] as? [String], ["chat"])
        let broken = try runCommand(try binary, ["check", "--config", path, "--json"])
        XCTAssertEqual(broken.status, 1, broken.output)
        let issues = try XCTUnwrap((JSONSerialization.jsonObject(with: Data(broken.output.utf8)) as? [String: Any])?["issues"]
                                   as? [[String: Any]], broken.output)
        XCTAssertEqual(issues.first?["field"] as? String, "providers.openai.api_key")
        XCTAssertEqual(issues.first?["line"] as? Int, 3)
    }

    func testCheckNamesFileLineAndFieldAndNeverPrintsSecrets() throws {
        let path = try write("""
            redis: { url: "redis://127.0.0.1:6379/0" }
            providers:
              openai: { kind: openai, api_key: "${env:SLUICE_CHECK_KEY}" }
            routes:
              chat:
                type: chat
                endpoints:
                  - { provider: opnai, model: gpt-4o }
              other: { type: chatt, endpoints: [ { provider: openai, model: "sk-live-very-secret" } ] }
            """)
        let result = try runCommand(try binary, ["check", "--config", path], environment: ["SLUICE_CHECK_KEY": "sk-live-very-secret"])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.output.contains("\(path):8:"), result.output)
        XCTAssertTrue(result.output.contains("routes.chat.endpoints[0].provider"), result.output)
        XCTAssertTrue(result.output.contains("routes.other.type"), result.output)

        let missing = try runCommand(try binary, ["check", "--config", path], environment: ["SLUICE_CHECK_KEY": ""])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.output.contains("SLUICE_CHECK_KEY"), missing.output)
    }

    func testEveryShippedNginxConfigPassesNginxT() throws {
        guard which("nginx") != nil else { throw XCTSkip("nginx is not installed") }
        let result = try runCommand(GatewayStack.repository.path + "/scripts/nginx-check", [])
        XCTAssertEqual(result.status, 0, result.output)
    }
}
