import Foundation
import Synchronization
import XCTest

/// Debian's real Prometheus scrapes the gateway's `/metrics` through nginx, loads the
/// shipped alert rules (`prometheus/sluice.rules.yml`), and answers a rate query over
/// what it scraped through its HTTP API; every expression of the Grafana dashboard
/// (`grafana/sluice.json`) runs there, and the Redis alert's premise is checked by
/// stopping Redis.
final class PrometheusTests: XCTestCase {
    func testPrometheusScrapesTheGatewayLoadsTheRulesAndQueriesARate() throws {
        guard let prometheus = which("prometheus") else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("CI must install Debian's prometheus") }
            throw XCTSkip("prometheus is not installed (apt-get install prometheus)")
        }
        let stack = try GatewayStack(config: { stack in
            GatewayStack.mockConfig(stack, workers: 1, threads: 4, audit: "metric_tags: [team], metric_tag_values: 2", """
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
        func query(_ promql: String) -> [[String: Any]] { prometheusQuery(api, promql).results }
        func value(_ sample: [String: Any]) -> Double {
            ((sample["value"] as? [Any])?.last as? String).flatMap(Double.init) ?? .nan
        }

        // Traffic at about 20 calls a second while Prometheus scrapes, so the counter has
        // several scraped samples that grow.
        let stop = Counter(), statuses = Mutex<[Int]>([])
        let client = stack.client
        Thread.detachNewThread {
            // Three values of the metric tag `team` (two admitted, the third counted as
            // `other`), and every fourth call a stream (for the time-to-first-byte panel).
            for index in 0..<1200 where stop.value == 0 {
                let stream = index % 4 == 3 ? #","stream":true"# : ""
                let status = client.post("/v1/chat/completions", key: key,
                                         #"{"model":"chat","messages":[{"role":"user","content":"hi"}]\#(stream)}"#,
                                         extraHeaders: [("X-Sluice-Tags", "team=" + ["alpha", "beta", "gamma"][index % 3])]).status
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
        try checkDashboard(api, instance: "127.0.0.1:\(stack.nginxPort)")

        // Cost by tag: two values admitted, the third counted as `other`.
        var costs: [String: Double] = [:]
        try waitUntil("sluice_cost_usd_total has two values of team and other", timeout: .seconds(20)) {
            costs = Dictionary(query(#"sluice_cost_usd_total{tag="team"}"#).map {
                (($0["metric"] as? [String: String])?["value"] ?? "", value($0))
            }, uniquingKeysWith: +)
            return costs.count == 3 && costs["other"] != nil
        }
        XCTAssertEqual(Set(costs.keys).subtracting(["other"]).count, 2, "\(costs)")
        XCTAssertTrue(Set(costs.keys).isSubset(of: ["alpha", "beta", "gamma", "other"]), "\(costs)")
        XCTAssertTrue(costs.values.allSatisfy { $0 > 0 }, "\(costs)")

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

        // SluiceRedisUnavailable's premise: with Redis down, /metrics answers 503, so the
        // scrape fails (up == 0) and the alert is pending (it fires after its `for: 1m`).
        stop.add()
        stack.stopRedis()
        XCTAssertEqual(stack.client.send(.get, "/metrics").status, 503)
        try waitUntil("up is 0 and SluiceRedisUnavailable is pending", timeout: .seconds(20)) {
            query(#"up{job="sluice"}"#).map(value) == [0]
                && !query(#"ALERTS{alertname="SluiceRedisUnavailable",alertstate="pending"}"#).isEmpty
        }
    }

    /// Runs every target of every dashboard panel, with Grafana's variables filled in, and
    /// each template variable's `label_values` query: each must succeed, and each must
    /// return series except the panels that only have data when something goes wrong or
    /// under Sentinel.
    private func checkDashboard(_ api: TestClient, instance: String) throws {
        let path = GatewayStack.repository.appendingPathComponent("grafana/sluice.json").path
        let dashboard = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
            as? [String: Any])
        func fill(_ expression: String) -> String {
            [("$__rate_interval", "10s"), ("$__range", "2m"), ("$__interval", "5s"), ("$instance", instance),
             ("$route", ".*"), ("$tag", ".*")].reduce(expression) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
        }
        let mayBeEmpty: Set<String> = [
            "Fallbacks, incomplete streams, admission refusals",    // none happen
            "Audit drain lag",                                      // no drainer group
            "Redis failovers", "Redis replicas", "Redis primary in use",  // Sentinel only
            "Admissions decided without Redis",                     // Redis is up
        ]
        let panels = (dashboard["panels"] as? [[String: Any]] ?? []).filter { !($0["targets"] as? [Any] ?? []).isEmpty }
        XCTAssertGreaterThanOrEqual(panels.count, 20)
        var empty: [String] = []
        try? waitUntil("every traffic panel of the dashboard has data", timeout: .seconds(30)) {
            empty = []
            for panel in panels {
                let title = panel["title"] as? String ?? "?"
                for target in panel["targets"] as? [[String: Any]] ?? [] {
                    let expression = fill(target["expr"] as? String ?? "")
                    let result = prometheusQuery(api, expression)
                    if result.status != "success" { empty.append("\(title): \(expression): \(result.error)") }
                    if result.results.isEmpty && !mayBeEmpty.contains(title) { empty.append("\(title): \(expression): no series") }
                }
            }
            return empty.isEmpty
        }
        XCTAssertEqual(empty, [])
        for variable in (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? [] {
            guard let query = variable["query"] as? String, query.hasPrefix("label_values("),
                  let comma = query.lastIndex(of: ",") else { continue }
            let selector = fill(String(query[query.index(query.startIndex, offsetBy: 13)..<comma]))
            let label = query[query.index(after: comma)...].dropLast().trimmingCharacters(in: .whitespaces)
            let encoded = selector.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let response = api.send(.get, "/api/v1/label/\(label)/values?match%5B%5D=\(encoded)")
            let values = ((try? JSONSerialization.jsonObject(with: Data(response.text.utf8))) as? [String: Any])?["data"] as? [String]
            XCTAssertFalse(values?.isEmpty ?? true, "variable \(variable["name"] ?? "?"): \(query): \(response.text)")
        }
    }
}

/// One instant query through Prometheus's HTTP API: its status, result and error.
func prometheusQuery(_ api: TestClient, _ promql: String) -> (status: String, results: [[String: Any]], error: String) {
    let encoded = promql.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
    let response = api.send(.get, "/api/v1/query?query=\(encoded)")
    guard let object = try? JSONSerialization.jsonObject(with: Data(response.text.utf8)) as? [String: Any] else {
        return ("unreadable", [], "HTTP \(response.status): \(response.text)")
    }
    let results = (object["data"] as? [String: Any])?["result"] as? [[String: Any]] ?? []
    return (object["status"] as? String ?? "?", results, object["error"] as? String ?? "")
}
