import SluiceCore
import XCTest

/// `MetricsScripts.Sums` (what a settler adds a batch's records to) gives exactly the totals
/// of every record's `increments(for:)` added up, series texts and all, and keeps giving them
/// after it empties its totals or its table of series texts.
final class MetricsSumsTests: XCTestCase {
    /// The reference: each record's increments, as text, read back and added up.
    private func folded(_ records: [AuditRecord], metricTags: [String]) -> [String: Double] {
        var sums: [String: Double] = [:]
        for record in records {
            for increment in MetricsScripts.increments(for: record, metricTags: metricTags) {
                sums[increment.series, default: 0] += Double(increment.amount) ?? .nan
            }
        }
        return sums
    }

    /// Records that reach every series: streams with and without a first byte, fallbacks,
    /// cut streams, cache and reasoning tokens, keys and principals, and labels to escape.
    private func records(count: Int) -> [AuditRecord] {
        var generator = SystemRandomNumberGenerator()
        let routes: [String?] = ["chat", "a\"b\\c", nil, "line\nbreak", "ünï"]
        let endpoints: [String?] = ["primary", "backup", nil, "q\"uote"]
        return (0..<count).map { index in
            func maybe(_ value: Int) -> Int? { Bool.random(using: &generator) ? value : nil }
            let attempts = (0..<Int.random(in: 0...3, using: &generator)).map { attempt in
                AuditRecord.Attempt(endpoint: endpoints[attempt % endpoints.count] ?? "-", provider: "openai",
                                    status: attempt == 0 ? 502 : 200, error: attempt == 0 ? "status_502" : "ok",
                                    latencyMs: attempt, probe: false)
            }
            let stream = index % 3 == 0
            var record = AuditRecord(requestId: "r\(index)", timeMs: 1_795_030_400_000 + Int64(index),
                                     keyId: index % 4 == 0 ? nil : "key_\(index % 7)", path: "/v1/chat/completions",
                                     route: routes[index % routes.count], endpoint: endpoints[index % endpoints.count],
                                     provider: "openai", providerModel: "gpt-4o",
                                     tags: index % 2 == 0 ? ["team": "t\(index % 5)", "project": "p\"\(index % 3)"] : [:],
                                     status: [200, 429, 502, 200][index % 4], attempts: attempts,
                                     latencyMs: Int.random(in: 0...400_000, using: &generator),
                                     ttfbMs: stream ? maybe(Int.random(in: 0...90_000, using: &generator)) : nil,
                                     promptTokens: maybe(Int.random(in: 0...50_000, using: &generator)),
                                     completionTokens: maybe(Int.random(in: 0...9_000, using: &generator)),
                                     usageSource: .provider,
                                     cost: Bool.random(using: &generator) ? Double.random(in: 0...3, using: &generator) : nil,
                                     stream: stream, streamCompleted: stream ? Bool.random(using: &generator) : nil)
            record.cacheReadTokens = maybe(Int.random(in: 0...40_000, using: &generator))
            record.cacheWriteTokens = maybe(77)
            record.cacheWrite1hTokens = maybe(5)
            record.reasoningTokens = maybe(1234)
            if index % 4 == 0 { record.principal = index % 8 == 0 ? "alice@example.com" : nil }
            return record
        }
    }

    func testSumsEqualEveryRecordsIncrementsAddedUp() {
        let tags = ["team", "project", "absent"]
        let records = records(count: 600)
        var sums = MetricsScripts.Sums(metricTags: tags)
        // Three batches, the totals emptied between them as after each flush.
        for batch in stride(from: 0, to: records.count, by: 200) {
            let part = Array(records[batch..<(batch + 200)])
            for record in part { sums.add(record) }
            XCTAssertEqual(sums.values, folded(part, metricTags: tags))
            sums.removeAll()
            XCTAssertTrue(sums.isEmpty)
        }
        // Every kind of series came up.
        let names = Set(folded(records, metricTags: tags).keys.map { String($0.prefix { $0 != "{" }) })
        XCTAssertEqual(names, ["sluice_requests_total", "sluice_request_duration_seconds_bucket",
                               "sluice_request_duration_seconds_sum", "sluice_request_duration_seconds_count",
                               "sluice_time_to_first_byte_seconds_bucket", "sluice_time_to_first_byte_seconds_sum",
                               "sluice_time_to_first_byte_seconds_count", "sluice_tokens_total",
                               "sluice_prompt_cache_tokens_total", "sluice_cost_total", "sluice_cost_usd_total",
                               "sluice_fallbacks_total", "sluice_upstream_attempts_total", "sluice_streams_incomplete_total"])
    }

    /// Past its table's size (key ids are not bounded) it starts the table afresh and the
    /// totals stay right.
    func testSumsStayRightPastTheTableOfSeriesTexts() {
        let records = (0..<5_000).map { index in
            AuditRecord(requestId: "r\(index)", timeMs: 1_795_030_400_000, keyId: "key_\(index)", path: "/v1/chat/completions",
                        route: "chat", endpoint: "primary", status: 200, latencyMs: index, promptTokens: 3,
                        completionTokens: 4, usageSource: .provider, cost: 0.5)
        }
        var sums = MetricsScripts.Sums()
        for record in records { sums.add(record) }
        XCTAssertEqual(sums.values, folded(records, metricTags: []))
        XCTAssertEqual(sums.values["sluice_prompt_cache_tokens_total{route=\"chat\",key=\"key_4999\",kind=\"prompt\"}"], 3)
    }

    /// Every series of a call that reaches all of them, pinned as text (names, `le` bounds as
    /// `String(Double)`, amounts, order), so `eachSeries` itself is checked, not only `Sums`
    /// against `increments`, which both walk it.
    func testEverySeriesOfACallIsPinnedAsText() {
        var record = AuditRecord(requestId: "r", timeMs: 0, keyId: "key_a", path: "/v1/chat/completions", route: "chat",
                                 endpoint: "primary", provider: "openai", providerModel: "gpt-4o", tags: ["team": "a"],
                                 status: 200,
                                 attempts: [.init(endpoint: "backup", provider: "openai", status: 502, error: "status_502",
                                                  latencyMs: 3, probe: false),
                                            .init(endpoint: "primary", provider: "openai", status: 200, error: "ok",
                                                  latencyMs: 9, probe: false)],
                                 latencyMs: 1500, ttfbMs: 250, promptTokens: 10, completionTokens: 5, usageSource: .provider,
                                 cost: 0.25, stream: true, streamCompleted: false)
        record.cacheReadTokens = 3
        record.cacheWriteTokens = 2
        record.cacheWrite1hTokens = 1
        record.reasoningTokens = 4
        let got = MetricsScripts.increments(for: record, metricTags: ["team"]).map { "\($0.series) \($0.amount)" }
        XCTAssertEqual(got, [
            #"sluice_requests_total{route="chat",endpoint="primary",status="200"} 1"#,
            #"sluice_request_duration_seconds_bucket{route="chat",le="2.5"} 1"#,
            #"sluice_request_duration_seconds_sum{route="chat"} 1.5"#,
            #"sluice_request_duration_seconds_count{route="chat"} 1"#,
            #"sluice_time_to_first_byte_seconds_bucket{route="chat",le="0.25"} 1"#,
            #"sluice_time_to_first_byte_seconds_sum{route="chat"} 0.25"#,
            #"sluice_time_to_first_byte_seconds_count{route="chat"} 1"#,
            #"sluice_tokens_total{route="chat",kind="prompt"} 10"#,
            #"sluice_tokens_total{route="chat",kind="completion"} 5"#,
            #"sluice_tokens_total{route="chat",kind="cache_read"} 3"#,
            #"sluice_tokens_total{route="chat",kind="cache_write"} 2"#,
            #"sluice_tokens_total{route="chat",kind="cache_write_1h"} 1"#,
            #"sluice_tokens_total{route="chat",kind="reasoning"} 4"#,
            #"sluice_prompt_cache_tokens_total{route="chat",key="key_a",kind="prompt"} 10"#,
            #"sluice_prompt_cache_tokens_total{route="chat",key="key_a",kind="cache_read"} 3"#,
            #"sluice_cost_total{route="chat"} 0.25"#,
            #"sluice_cost_usd_total{tag="team",value="a"} 0.25"#,
            #"sluice_fallbacks_total{route="chat"} 1"#,
            #"sluice_upstream_attempts_total{route="chat",endpoint="backup",result="status_502"} 1"#,
            #"sluice_upstream_attempts_total{route="chat",endpoint="primary",result="ok"} 1"#,
            #"sluice_streams_incomplete_total{route="chat"} 1"#,
        ])
        // A bound written with its ".0", and past the last bound.
        for (ms, bound) in [(1000, "1.0"), (400_000, "+Inf")] {
            let plain = AuditRecord(requestId: "r", timeMs: 0, path: "/v1/chat/completions", route: "chat", status: 200,
                                    latencyMs: ms)
            XCTAssertEqual(MetricsScripts.increments(for: plain).map(\.series)[1],
                           "sluice_request_duration_seconds_bucket{route=\"chat\",le=\"\(bound)\"}")
        }
    }

    /// The escaping of label values, pinned as text.
    func testLabelValuesAreEscaped() {
        let record = AuditRecord(requestId: "r", timeMs: 0, path: "/v1/chat/completions", route: "a\"b\\c\nd",
                                 endpoint: "e", status: 200, latencyMs: 1)
        XCTAssertEqual(MetricsScripts.increments(for: record).first?.series,
                       #"sluice_requests_total{route="a\"b\\c\nd",endpoint="e",status="200"}"#)
    }
}
