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
            principals:
              "*": {}
            """)
        })
        defer { stack.stop() }
        let created = try stack.sluice(["keys", "create", "--config", stack.configPath, "--name", "report", "--quiet",
                                        "--client-tags", "*"])
        let key = created.output.trimmingCharacters(in: .whitespacesAndNewlines)
        // A tag value a client chose, with markup in it: the page must show it as text.
        let calls: [(route: String, team: String, count: Int)] = [("chat", "support", 5), ("priced", "marketing", 3),
                                                                  ("priced", "<b>ops</b>", 2)]
        for call in calls {
            for _ in 0..<call.count {
                let response = stack.client.post("/v1/chat/completions", key: key,
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
        for back in [1, 3, 6] {
            let day = String(AuditRecord.iso8601(Int64(Date().timeIntervalSince1970 * 1000) - Int64(back) * 86_400_000).prefix(10))
            _ = try redis.checked(["HINCRBY", keys.usage(day: day, dimension: "route"), "priced|requests", String(back * 4)])
            _ = try redis.checked(["HINCRBY", keys.usage(day: day, dimension: "route"), "priced|cost_micros", String(back * 2500)])
            _ = try redis.checked(["HINCRBY", keys.usage(day: day, dimension: "tag:team"), "marketing|cost_micros", String(back * 2500)])
        }
        var usage: [[String: Any]] = []
        try waitUntil("every call is in the usage totals", timeout: .seconds(10)) {
            let output = (try? stack.sluice(["usage", "--config", stack.configPath, "--by", "route", "--since", "30d", "--json"]).output) ?? ""
            usage = output.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            return usage.first { $0["route"] as? String == "chat" }?["requests"] as? Int == 5
                && usage.first { $0["route"] as? String == "priced" }?["requests"] as? Int == 5 + 4 + 12 + 24
        }

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
        let dom = try runCommand(chromium, common + ["--dump-dom", "file://\(html)"])
        XCTAssertEqual(dom.status, 0, dom.output)
        for row in usage {
            let route = try XCTUnwrap(row["route"] as? String)
            let requests = try XCTUnwrap(row["requests"] as? Int)
            let costMicros = Int(((row["cost"] as? Double) ?? 0) * 1_000_000 + 0.5)
            XCTAssertTrue(dom.output.contains("data-route=\"\(route)\" data-requests=\"\(requests)\""),
                          "route \(route): \(requests) requests as sluice usage says")
            XCTAssertNotNil(dom.output.range(of: "data-route=\"\(route)\"[^>]*data-cost-micros=\"\(costMicros)\"",
                                             options: .regularExpression), "route \(route): cost \(costMicros) µ$")
        }
        let totalCost = usage.reduce(0) { $0 + Int((($1["cost"] as? Double) ?? 0) * 1_000_000 + 0.5) }
        XCTAssertTrue(dom.output.contains("data-total=\"cost\" data-value=\"\(totalCost)\""), "total cost \(totalCost)")
        XCTAssertTrue(dom.output.contains("id=\"tag:team\""), "a chart per tag seen in the window")
        XCTAssertTrue(dom.output.contains("data-budget=\"team-month\""), "the budget's burn-down")
        XCTAssertTrue(dom.output.contains("data-endpoint=\"priced/"), "endpoint error rates")
        // Four days with spend on the route chart: today and the three seeded days.
        let routeChart = try XCTUnwrap(dom.output.components(separatedBy: "id=\"route\"").dropFirst().first?
            .components(separatedBy: "</section>").first)
        let dayPattern = try Regex(#"<title>(\d{4}-\d\d-\d\d) "#)
        let days = Set(routeChart.matches(of: dayPattern).compactMap { $0.output[1].substring.map(String.init) })
        XCTAssertEqual(days.count, 4, "bars on four days")

        let png = stack.directory.appendingPathComponent("report.png").path
        let shot = try runCommand(chromium, common + ["--screenshot=\(png)", "file://\(html)"])
        XCTAssertEqual(shot.status, 0, shot.output)
        let survey = try runCommand("/usr/bin/env", ["python3", "-c", Self.pngSurvey, png])
        XCTAssertEqual(survey.status, 0, survey.output)
        let figures = survey.output.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        XCTAssertEqual(figures.count, 2, survey.output)
        // Not blank: many colours (bars, text, legend), and a good part of the page drawn.
        XCTAssertGreaterThan(figures.first ?? 0, 20, "distinct colours in the screenshot")
        XCTAssertGreaterThan(figures.last ?? 0, 0.02, "share of pixels that are not the background")
    }

    /// Decodes an 8-bit RGB/RGBA PNG with the standard library only; prints the number of
    /// distinct colours and the share of pixels unlike the most common one.
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
    print(len(counts), (total - counts.most_common(1)[0][1]) / total)
    """#
}
