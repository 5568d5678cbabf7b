import Foundation
import Glibc
import SluiceCore
@testable import SluiceGateway
import XCTest

/// A reload's admin record: which routes, providers and budgets were added, removed or
/// changed (names only, never a value), and who sent the SIGHUP.
final class ReloadAuditTests: XCTestCase {
    private func config(_ text: String) throws -> GatewayConfig {
        try ConfigFile.load(text: text, name: "sluice.yaml").config
    }

    private func parsed(_ action: AdminAudit.Action) throws -> (text: String, details: [String: Any]) {
        let text = action.json(requestId: "admin-1", nowMs: 1_796_000_000_000, who: [])
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        return (text, try XCTUnwrap(object["details"] as? [String: Any]))
    }

    private let before = """
        redis: { url: "redis://127.0.0.1:6379" }
        providers:
          openai: { kind: openai, api_key: "${env:HOME}" }
          local: { kind: openai_compatible, base_url: "http://127.0.0.1:8000/v1" }
          spare: { kind: openai_compatible, base_url: "http://127.0.0.1:8001/v1" }
        budgets:
          team: { per: tag, tag: team, amount: 10, period: day }
          all: { per: gateway, amount: 100, period: month }
          gone: { per: route, amount: 1, period: week }
        routes:
          chat: { endpoints: [ { provider: openai, model: gpt-4o } ] }
          local: { endpoints: [ { provider: local, model: llama } ] }
          limited: { endpoints: [ { provider: local, model: m } ], limits: [ { per: route, requests: 10, window: 1m } ] }
          old: { endpoints: [ { provider: spare, model: m } ] }
        """

    func testAddedRemovedAndChangedNamesNeverValues() throws {
        let old = try config(before)
        let new = try config("""
            redis: { url: "redis://127.0.0.1:6379" }
            providers:
              openai: { kind: openai, api_key: "${env:PATH}" }
              local: { kind: openai_compatible, base_url: "http://127.0.0.1:8000/v1" }
              anthropic: { kind: anthropic, api_key: "${env:HOME}" }
            budgets:
              team: { per: tag, tag: team, amount: 12.5, period: day }
              all: { per: gateway, amount: 100, period: month }
              keys: { per: key, amount: 5, period: day }
            routes:
              chat: { endpoints: [ { provider: openai, model: gpt-4o-mini } ] }
              local: { endpoints: [ { provider: local, model: llama } ] }
              limited: { endpoints: [ { provider: local, model: m } ], limits: [ { per: route, requests: 20, window: 1m } ] }
              fresh: { endpoints: [ { provider: anthropic, model: claude } ] }
            """)
        let action = ReloadAudit.action(path: "/etc/sluice/sluice.yaml", text: "text", old: old, new: new, generation: 2, error: nil)
        XCTAssertEqual(action.name, "config.reload")
        let (text, details) = try parsed(action)
        XCTAssertEqual(details["result"] as? String, "applied")
        XCTAssertEqual(details["generation"] as? Int, 2)
        XCTAssertEqual(details["sha256"] as? String, Digest.sha256Hex(Array("text".utf8)))
        XCTAssertEqual(details["routes_added"] as? [String], ["fresh"])
        XCTAssertEqual(details["routes_removed"] as? [String], ["old"])
        XCTAssertEqual(details["routes_changed"] as? [String], ["chat", "limited"], "a model and a limit changed")
        XCTAssertEqual(details["providers_added"] as? [String], ["anthropic"])
        XCTAssertEqual(details["providers_removed"] as? [String], ["spare"])
        XCTAssertEqual(details["providers_changed"] as? [String], ["openai"], "its credential changed")
        XCTAssertEqual(details["budgets_added"] as? [String], ["keys"])
        XCTAssertEqual(details["budgets_removed"] as? [String], ["gone"])
        XCTAssertEqual(details["budgets_changed"] as? [String], ["team"], "its amount changed")
        // Names only: no secret, no amount, no model.
        for value in [ProcessInfo.processInfo.environment["HOME"], ProcessInfo.processInfo.environment["PATH"],
                      "gpt-4o", "12.5", "claude"] {
            XCTAssertFalse(text.contains(try XCTUnwrap(value)), "\(value ?? "") in \(text)")
        }
    }

    func testAnUnchangedReloadChangesNothingAndARefusedOneHasNoDiff() throws {
        let old = try config(before), same = try config(before)
        let (_, details) = try parsed(ReloadAudit.action(path: "sluice.yaml", text: before, old: old, new: same,
                                                          generation: 3, error: nil))
        for kind in ["routes", "providers", "budgets"] {
            for change in ["added", "removed", "changed"] {
                XCTAssertEqual(details["\(kind)_\(change)"] as? [String], [], "\(kind)_\(change)")
            }
        }
        let (_, refused) = try parsed(ReloadAudit.action(path: "sluice.yaml", text: "redis: [", old: old, new: nil,
                                                          generation: 3, error: "sluice.yaml:1:8: redis: expected a mapping"))
        XCTAssertEqual(refused["result"] as? String, "refused")
        XCTAssertNil(refused["routes_changed"])
        XCTAssertEqual(refused["error"] as? String, "sluice.yaml:1:8: redis: expected a mapping")
    }

    func testDiffOfTwoTables() {
        let change = ReloadAudit.diff(["a": 1, "b": 2, "c": 3], ["b": 2, "c": 4, "d": 5])
        XCTAssertEqual(change.added, ["d"])
        XCTAssertEqual(change.removed, ["a"])
        XCTAssertEqual(change.changed, ["c"])
    }

    /// A SIGHUP's sender, as the master reads it from `sigtimedwait`'s `siginfo_t`.
    func testTheSignalsSenderIsReadAndNamed() throws {
        Signals.block([SIGUSR2])
        defer { Signals.unblock([SIGUSR2]) }
        // To this thread only (it blocks the signal), so no other thread can take it.
        XCTAssertEqual(pthread_kill(pthread_self(), SIGUSR2), 0)
        let received = try XCTUnwrap(Signals.waitWithSender(for: [SIGUSR2], timeout: .seconds(2)))
        XCTAssertEqual(received.signal, SIGUSR2)
        XCTAssertEqual(received.sender, Signals.Sender(pid: getpid(), uid: getuid()))
        XCTAssertNil(Signals.waitWithSender(for: [SIGUSR2], timeout: .milliseconds(10)), "nothing else pending")

        let root = AdminAudit.who(signalledBy: Signals.Sender(pid: 4242, uid: 0))
        let members = Dictionary(root.map { ($0.key, $0.json) }) { first, _ in first }
        XCTAssertEqual(members["user"], "\"root\"", "the uid's name from the user database")
        XCTAssertEqual(members["uid"], "0")
        XCTAssertEqual(members["pid"], "4242", "the sender, not the master")
        XCTAssertEqual(members["master_pid"], String(getpid()))
        XCTAssertEqual(members["signal"], "\"SIGHUP\"")
        XCTAssertNotNil(members["host"])
        let unknown = Dictionary(AdminAudit.who(signalledBy: nil).map { ($0.key, $0.json) }) { first, _ in first }
        XCTAssertEqual(unknown["sender"], "\"unknown\"")
        XCTAssertEqual(unknown["uid"], String(getuid()), "the master's own user")
    }
}
