import Foundation
import Synchronization
import XCTest

/// Debian's real Prometheus scrapes the gateway's `/metrics` through nginx, loads the
/// shipped alert rules (`prometheus/sluice.rules.yml`), and answers a rate query over
/// what it scraped through its HTTP API.
final class PrometheusTests: XCTestCase {
    func testPrometheusScrapesTheGatewayLoadsTheRulesAndQueriesARate() throws {
        guard let prometheus = which("prometheus") else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("CI must install Debian's prometheus") }
            throw XCTSkip("prometheus is not installed (apt-get install prometheus)")
        }
        let stack = try GatewayStack(config: { stack in
            GatewayStack.mockConfig(stack, workers: 1, threads: 4, """
            prices:
              priced-model: { input: 2.0, output: 8.0 }
            budgets:
              tiny: { per: route, value: chat, amount: 0.000001, period: day, enforce: false }
            routes:
              chat: { type: chat, endpoints: [ { provider: mock, model: "priced-model@words=20" } ] }
            principals:
              "*": {}
            """)
        })
        defer { stack.stop() }
        let key = try stack.createKey(name: "prometheus")
        let port = freeLoopbackPort()
        let directory = stack.directory.appendingPathComponent("prometheus")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let rules = GatewayStack.repository.appendingPathComponent("prometheus/sluice.rules.yml").path
        let config = directory.appendingPathComponent("prometheus.yml").path
        try """
            global: { scrape_interval: 1s, evaluation_interval: 1s }
            rule_files: ["\(rules)"]
            scrape_configs:
              - job_name: sluice
                static_configs: [ { targets: ["127.0.0.1:\(stack.nginxPort)"] } ]
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let server = try ManagedProcess(name: "prometheus", executable: prometheus,
                                        arguments: ["--config.file=\(config)", "--storage.tsdb.path=\(directory.path)/data",
                                                    "--web.listen-address=127.0.0.1:\(port)"],
                                        logDirectory: directory)
        defer { server.stop() }
        let api = TestClient(baseURL: "http://127.0.0.1:\(port)")
        func query(_ promql: String) -> [[String: Any]] {
            let encoded = promql.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let response = api.send(.get, "/api/v1/query?query=\(encoded)")
            guard response.status == 200,
                  let object = try? JSONSerialization.jsonObject(with: Data(response.text.utf8)) as? [String: Any],
                  let data = object["data"] as? [String: Any] else { return [] }
            return data["result"] as? [[String: Any]] ?? []
        }
        func value(_ sample: [String: Any]) -> Double {
            ((sample["value"] as? [Any])?.last as? String).flatMap(Double.init) ?? .nan
        }

        // Traffic at about 20 calls a second while Prometheus scrapes, so the counter has
        // several scraped samples that grow.
        let stop = Counter(), statuses = Mutex<[Int]>([])
        let client = stack.client
        Thread.detachNewThread {
            for _ in 0..<1200 where stop.value == 0 {
                let status = client.post("/v1/chat/completions", key: key,
                                         #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#).status
                statuses.withLock { $0.append(status) }
                usleep(50_000)
            }
            stop.add()
        }
        defer { if stop.value == 0 { stop.add() } }
        var rate: [[String: Any]] = []
        try waitUntil("Prometheus has a rate of sluice_requests_total", timeout: .seconds(30)) {
            rate = query(#"sum by (route, status) (rate(sluice_requests_total{job="sluice"}[5s]))"#)
            return rate.contains { ($0["metric"] as? [String: String])?["route"] == "chat" && value($0) > 0 }
        }
        XCTAssertEqual(Set(statuses.withLock { $0 }), [200])
        let chat = try XCTUnwrap(rate.first { ($0["metric"] as? [String: String])?["route"] == "chat" })
        XCTAssertEqual((chat["metric"] as? [String: String])?["status"], "200")
        // Sent at up to 20 a second; the rate over a window is below that and above zero.
        XCTAssertLessThan(value(chat), 25)
        XCTAssertEqual(query(#"up{job="sluice"}"#).map(value), [1])
        XCTAssertGreaterThan(query("sluice_requests_total").map(value).reduce(0, +), 0)

        // The shipped rules load, evaluate without error, and the budget alert fires for the
        // alert-only budget that the calls overspent.
        var firing: [[String: Any]] = []
        try waitUntil("SluiceBudgetNearlySpent fires", timeout: .seconds(20)) {
            firing = query(#"ALERTS{alertname="SluiceBudgetNearlySpent",alertstate="firing"}"#)
            return !firing.isEmpty
        }
        XCTAssertEqual((firing.first?["metric"] as? [String: String])?["budget"], "tiny")
        let rulesResponse = api.send(.get, "/api/v1/rules")
        XCTAssertEqual(rulesResponse.status, 200)
        let groups = ((try JSONSerialization.jsonObject(with: Data(rulesResponse.text.utf8)) as? [String: Any])?["data"]
            as? [String: Any])?["groups"] as? [[String: Any]] ?? []
        let loaded = groups.flatMap { $0["rules"] as? [[String: Any]] ?? [] }
        XCTAssertGreaterThanOrEqual(loaded.count, 10, "every shipped rule is loaded")
        for rule in loaded {
            XCTAssertEqual(rule["health"] as? String, "ok", "rule \(rule["name"] ?? "?"): \(rule["lastError"] ?? "")")
        }
    }
}
