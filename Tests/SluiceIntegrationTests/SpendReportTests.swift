import Foundation
import SluiceCore
import SluiceRedis
import XCTest

/// `sluice report`: the HTML page is rendered by a real browser (Debian's headless
/// Chromium) to a PNG that must not be blank, and the figures in the rendered DOM must
/// match `sluice usage --json`.
final class SpendReportTests: XCTestCase {
    func testTheReportRendersInChromiumAndItsFiguresMatchSluiceUsage() throws {
        guard let chromium = which("chromium") ?? which("chromium-browser") else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("CI must install Debian's chromium") }
            throw XCTSkip("chromium is not installed (apt-get install chromium)")
        }
        let stack = try GatewayStack(config: { stack in
            GatewayStack.mockConfig(stack, workers: 1, threads: 4, """
            prices:
              priced-model: { input: 2.0, output: 8.0 }
            budgets:
              team-month: { per: tag, tag: team, amount: 1.00, period: month }
            routes:
              chat: { type: chat, endpoints: [ { provider: mock, model: mock-gpt } ] }
              priced: { type: chat, endpoints: [ { provider: mock, model: "priced-model@words=40" } ] }
              cached: { type: chat, cache: { ttl: 1m }, endpoints: [ { provider: mock, model: mock-gpt } ] }
              flaky:
                type: chat
                endpoints:
                  - { name: bad, provider: mock, model: "mock-gpt@status=503" }
                  - { name: good, provider: mock, model: mock-gpt, fallback_only: true }
            principals:
              "*": {}
            """)
        })
        defer { stack.stop() }
        func createKey(_ name: String) throws -> String {
            try stack.sluice(["keys", "create", "--config", stack.configPath, "--name", name, "--quiet", "--client-tags", "*"])
                .output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let key = try createKey("report"), other = try createKey("report-2")
        // A tag value a client chose, with markup in it: the page must show it as text.
        // `cached`: one miss, then two hits; `flaky`: each call fails over from `bad` to `good`.
        let calls: [(route: String, team: String, count: Int, key: String)] = [
            ("chat", "support", 5, key), ("priced", "marketing", 3, other), ("priced", "<b>ops</b>", 2, key),
            ("cached", "support", 3, key), ("flaky", "support", 2, other),
        ]
        for call in calls {
            for _ in 0..<call.count {
                let response = stack.client.post("/v1/chat/completions", key: call.key,
                                                  #"{"model":"\#(call.route)","messages":[{"role":"user","content":"hello there"}]}"#,
                                                  extraHeaders: [("X-Sluice-Tags", "team=\(call.team)")])
                XCTAssertEqual(response.status, 200, response.text)
            }
        }
        // Earlier days, as the usage totals hold them, so the page has more than one bar.
        let redis = RedisConnection(config: RedisConfig(url: RedisURL(address: .tcp(host: "127.0.0.1", port: stack.redisPort)),
                                                        keyPrefix: "sluice"))
        defer { redis.close() }
        let keys = RedisKeys(prefix: "sluice")
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        for back in [1, 3, 6] {
            let day = String(AuditRecord.iso8601(nowMs - Int64(back) * 86_400_000).prefix(10))
            _ = try redis.checked(["HINCRBY", keys.usage(day: day, dimension: "route"), "priced|requests", String(back * 4)])
            _ = try redis.checked(["HINCRBY", keys.usage(day: day, dimension: "route"), "priced|cost_micros", String(back * 2500)])
            _ = try redis.checked(["HINCRBY", keys.usage(day: day, dimension: "tag:team"), "marketing|cost_micros", String(back * 2500)])
        }
        func usage(_ arguments: [String]) throws -> [[String: Any]] {
            let result = try stack.sluice(arguments + ["--config", stack.configPath, "--json"])
            XCTAssertEqual(result.status, 0, result.output)
            return result.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        var routes: [[String: Any]] = []
        try waitUntil("every call is in the usage totals", timeout: .seconds(10)) {
            routes = (try? usage(["usage", "--by", "route", "--since", "30d"])) ?? []
            return routes.first { $0["route"] as? String == "chat" }?["requests"] as? Int == 5
                && routes.first { $0["route"] as? String == "priced" }?["requests"] as? Int == 5 + 4 + 12 + 24
                && routes.first { $0["route"] as? String == "flaky" }?["requests"] as? Int == 2
        }
        let byKey = try usage(["usage", "--by", "key", "--since", "30d"])
        let byTeam = try usage(["usage", "--by", "tag:team", "--since", "30d"])
        let byEndpoint = try usage(["usage", "--by", "endpoint", "--since", "30d"])
        let budgets = try usage(["usage", "budgets"])
        XCTAssertEqual(byKey.count, 2)
        XCTAssertEqual(budgets.count, 3, "team-month for support, marketing and <b>ops</b>: \(budgets)")

        let html = stack.directory.appendingPathComponent("report.html").path
        let written = try stack.sluice(["report", "--config", stack.configPath, "--since", "30d", "--out", html])
        XCTAssertEqual(written.status, 0, written.output)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        XCTAssertFalse(page.contains("<b>ops</b>"), "a client's tag value is markup-escaped")
        XCTAssertTrue(page.contains("&lt;b&gt;ops&lt;/b&gt;"))
        XCTAssertFalse(page.contains("<script"), "the page runs no script")
        XCTAssertFalse(page.contains("http://") || page.contains("https://"), "the page loads nothing from the network")

        // Rendered by the browser: the DOM it built, and a screenshot.
        let profile = stack.directory.appendingPathComponent("chromium").path
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=\(profile)",
                      "--window-size=1100,2400"]
        let dumped = try runCommand(chromium, common + ["--dump-dom", "file://\(html)"])
        XCTAssertEqual(dumped.status, 0, dumped.output)
        let dom = dumped.output

        // Top routes and keys: the visible cells equal `sluice usage --by route|key`.
        func micros(_ row: [String: Any]) -> Int { Int(((row["cost"] as? Double) ?? 0) * 1_000_000 + 0.5) }
        for (rows, attribute) in [(routes, "route"), (byKey, "key")] {
            let table = try XCTUnwrap(Self.section(dom, "top-\(attribute)s"))
            for row in rows {
                let group = try XCTUnwrap(row[attribute] as? String)
                let expected = [group, "\(row["requests"] ?? "")", "\(row["prompt_tokens"] ?? "")",
                                "\(row["completion_tokens"] ?? "")", Money.format(nanos: Int64(micros(row)) * 1000)]
                XCTAssertEqual(Self.cells(table, attribute: "data-\(attribute)", value: group).prefix(5).map { $0 }, expected,
                               "\(attribute) \(group)")
            }
        }
        let totalCost = routes.reduce(0) { $0 + micros($1) }
        XCTAssertTrue(dom.contains("data-total=\"cost\" data-value=\"\(totalCost)\""), "total cost \(totalCost)")
        XCTAssertTrue(dom.contains("<b>\(Money.format(nanos: Int64(totalCost) * 1000))</b>"), "the total as shown")

        // The tag chart's stacks, summed per value, equal `sluice usage --by tag:team`.
        let tagChart = try XCTUnwrap(Self.section(dom, "tag:team"), "a chart per tag seen in the window")
        var stacked: [String: Int] = [:]
        for match in tagChart.matches(of: try Regex(#"<rect data-day="[^"]*" data-group="([^"]*)" data-value="(\d+)""#)) {
            let group = String(match.output[1].substring ?? ""), value = Int(match.output[2].substring ?? "") ?? 0
            stacked[Self.unescaped(group), default: 0] += value
        }
        XCTAssertEqual(stacked, Dictionary(uniqueKeysWithValues: byTeam.map { ($0["tag:team"] as? String ?? "", micros($0)) }
            .filter { $0.1 > 0 }))

        // Four days with spend on the route chart: today and the three seeded days.
        let routeChart = try XCTUnwrap(Self.section(dom, "route"))
        let days = Set(routeChart.matches(of: try Regex(#"data-day="(\d{4}-\d\d-\d\d)""#)).compactMap {
            $0.output[1].substring.map(String.init)
        })
        XCTAssertEqual(days.count, 4, "bars on four days")

        // Budgets: the spend shown and in data- attributes equal `sluice usage budgets`; the
        // same rows Redis-only (--redis, no config), but for `enforced`.
        let budgetSection = try XCTUnwrap(Self.section(dom, "budgets"))
        for budget in budgets {
            let scope = try XCTUnwrap(budget["scope"] as? String)
            let spent = Int64(((budget["spent_usd"] as? Double) ?? 0) * 1e9 + 0.5)
            let shown = "\(Money.format(nanos: spent)) of \(Money.format(nanos: Int64(((budget["amount_usd"] as? Double) ?? 0) * 1e9 + 0.5)))"
            let block = try XCTUnwrap(budgetSection.components(separatedBy: "data-scope=\"\(Self.escaped(scope))\"").dropFirst().first,
                                      scope)
            XCTAssertTrue(block.hasPrefix(" data-spent-nanos=\"\(spent)\""), "\(scope): \(block.prefix(80))")
            XCTAssertTrue(block.contains(shown), "\(scope) shows \(shown)")
        }
        let redisOnly = try runCommand(stack.binary, ["usage", "budgets", "--json", "--redis", "redis://127.0.0.1:\(stack.redisPort)/0"])
        let unconfigured = redisOnly.output.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        func comparable(_ rows: [[String: Any]]) -> [String] {
            rows.map { row in ["budget", "per", "scope", "period", "period_end", "spent_usd", "amount_usd"].map { "\(row[$0] ?? "")" }
                .joined(separator: " ") }.sorted()
        }
        XCTAssertEqual(comparable(unconfigured), comparable(budgets), redisOnly.output)
        XCTAssertTrue(unconfigured.allSatisfy { $0["enforced"] is NSNull }, redisOnly.output)
        // The burn-down: a point at the end of each UTC day of the month so far, each day's
        // spend from the usage totals (marketing's seeded day, when it falls in this month).
        let marketing = try XCTUnwrap(budgetSection.components(separatedBy: "data-scope=\"team=marketing\"").dropFirst().first?
            .components(separatedBy: "</svg>").first)
        let dayOfMonth = Int(AuditRecord.iso8601(nowMs).dropFirst(8).prefix(2)) ?? 0
        XCTAssertTrue(marketing.contains("data-points=\"\(dayOfMonth + 1)\""), "start, \(dayOfMonth - 1) day ends, now: \(marketing)")
        let yesterday = String(AuditRecord.iso8601(nowMs - 86_400_000).prefix(10))
        if dayOfMonth > 1 { XCTAssertTrue(marketing.contains("\(yesterday)=2500"), marketing) }
        // The same points in `sluice report --json`.
        let json = try stack.sluice(["report", "--config", stack.configPath, "--since", "30d", "--json"])
        let spend = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any], json.output)
        let marketingJSON = try XCTUnwrap((spend["budgets"] as? [[String: Any]])?.first { $0["scope"] as? String == "team=marketing" })
        let daily = marketingJSON["daily_cost"] as? [[String: Any]] ?? []
        XCTAssertEqual(daily.count, dayOfMonth)
        if dayOfMonth > 1 { XCTAssertEqual(daily.first { $0["day"] as? String == yesterday }?["cost"] as? Double, 0.0025) }

        // Endpoint error rates over the window equal `sluice usage --by endpoint`: every
        // flaky call failed on `bad` and succeeded on `good`.
        let endpointSection = try XCTUnwrap(Self.section(dom, "endpoints"))
        XCTAssertEqual(Set(byEndpoint.compactMap { $0["endpoint"] as? String }).isSuperset(of: ["flaky bad", "flaky good"]), true)
        for row in byEndpoint {
            let name = try XCTUnwrap(row["endpoint"] as? String)
            let cells = Self.cells(endpointSection, attribute: "data-endpoint", value: name)
            XCTAssertEqual(Array(cells.prefix(3)), [Self.escaped(name).replacingOccurrences(of: " ", with: " / "),
                                                    "\(row["requests"] ?? "")", "\(row["errors"] ?? "")"], name)
        }
        XCTAssertEqual(byEndpoint.first { $0["endpoint"] as? String == "flaky bad" }?["errors"] as? Int, 2)
        XCTAssertEqual(byEndpoint.first { $0["endpoint"] as? String == "flaky good" }?["errors"] as? Int, 0)
        // Sluice's response cache: one miss and two hits on `cached`.
        let cached = try XCTUnwrap(routes.first { $0["route"] as? String == "cached" })
        XCTAssertEqual(cached["response_cache_lookups"] as? Int, 3)
        XCTAssertEqual(cached["response_cache_hits"] as? Int, 2)
        XCTAssertEqual(Array(Self.cells(try XCTUnwrap(Self.section(dom, "response-cache")), attribute: "data-response-cache-route",
                                        value: "cached").prefix(4)), ["cached", "3", "2", "66.7%"])

        // Not blank: many colours, a good part of the page drawn, and the charts' own
        // colours (the first two series' fills) on many sampled pixels. The same page with
        // its SVGs hidden must fall below those counts, so a page whose charts did not
        // render fails here.
        func survey(_ file: String) throws -> [Double] {
            let png = file + ".png"
            let shot = try runCommand(chromium, common + ["--screenshot=\(png)", "file://\(file)"])
            XCTAssertEqual(shot.status, 0, shot.output)
            let survey = try runCommand("/usr/bin/env", ["python3", "-c", Self.pngSurvey, png, "4e79a7", "f28e2b"])
            XCTAssertEqual(survey.status, 0, survey.output)
            let figures = survey.output.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            XCTAssertEqual(figures.count, 4, survey.output)
            return figures + [0, 0, 0, 0]
        }
        let figures = try survey(html)
        XCTAssertGreaterThan(figures[0], 20, "distinct colours in the screenshot")
        XCTAssertGreaterThan(figures[1], 0.02, "share of pixels that are not the background")
        XCTAssertGreaterThan(figures[2], 2500, "sampled pixels of #4e79a7 (first series, burn-down)")
        XCTAssertGreaterThan(figures[3], 70, "sampled pixels of #f28e2b (second series)")
        let hidden = html + ".no-svg.html"
        try page.replacingOccurrences(of: "<svg ", with: "<svg style=\"display:none\" ")
            .write(toFile: hidden, atomically: true, encoding: .utf8)
        let withoutCharts = try survey(hidden)
        XCTAssertLessThanOrEqual(withoutCharts[2], 2500, "without its SVGs the page has few #4e79a7 pixels (table bars): \(withoutCharts)")
        XCTAssertLessThanOrEqual(withoutCharts[3], 70, "and few #f28e2b (legends): \(withoutCharts)")
    }

    /// The text of `<section id="ID">` in `dom`.
    static func section(_ dom: String, _ id: String) -> String? {
        dom.components(separatedBy: "<section id=\"\(escaped(id))\"").dropFirst().first?.components(separatedBy: "</section>").first
    }

    /// The visible text of each cell of the table row whose `attribute` is `value`.
    static func cells(_ html: String, attribute: String, value: String) -> [String] {
        guard let row = html.components(separatedBy: "<tr \(attribute)=\"\(escaped(value))\"").dropFirst().first?
            .components(separatedBy: "</tr>").first else { return [] }
        return row.components(separatedBy: "<td").dropFirst().map { cell in
            let inner = cell.drop { $0 != ">" }.dropFirst()
            return String(inner.prefix { $0 != "<" })
        }
    }

    /// As the page (and Chromium's DOM) writes text in an attribute or cell.
    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func unescaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
    }

    /// Decodes an 8-bit RGB/RGBA PNG with the standard library only; prints the number of
    /// distinct colours, the share of pixels unlike the most common one, and for each colour
    /// given after the file (`4e79a7`) the sampled pixels within 24 of it per channel.
    static let pngSurvey = #"""
    import sys, zlib, struct, collections
    data = open(sys.argv[1], 'rb').read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
    pos, idat = 8, b''
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b'IHDR':
            width, height, depth, colour = struct.unpack('>IIBB', body[:10])
        elif kind == b'IDAT':
            idat += body
        pos += 12 + length
    assert depth == 8 and colour in (2, 6), (depth, colour)
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    previous, counts, i = bytearray(stride), collections.Counter(), 0
    for _ in range(height):
        kind, line = raw[i], bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = previous[x]
            c = previous[x - bpp] if x >= bpp else 0
            if kind == 1: line[x] = (line[x] + a) & 255
            elif kind == 2: line[x] = (line[x] + b) & 255
            elif kind == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        counts.update(bytes(line[x:x + 3]) for x in range(0, stride, bpp * 4))
        previous = line
    total = sum(counts.values())
    def near(pixel, colour): return all(abs(pixel[k] - colour[k]) <= 24 for k in range(3))
    shades = [bytes.fromhex(c) for c in sys.argv[2:]]
    print(len(counts), (total - counts.most_common(1)[0][1]) / total,
          *[sum(n for pixel, n in counts.items() if near(pixel, shade)) for shade in shades])
    """#
}
