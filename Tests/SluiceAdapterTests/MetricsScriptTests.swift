import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SluiceCore
import SluiceRedis
import XCTest

/// The cost-by-tag series (`sluice_cost_usd_total{tag,value}`) against a real `redis-server`:
/// only the tags `audit.metric_tags` names get one, and `MetricsScripts.add` admits at most
/// `metric_tag_values` values per tag pool-wide, counting later ones as `other`.
final class MetricsScriptTests: RedisTestCase {
    func testOnlyTheMetricTagsGetACostSeriesWithTheirValueEscaped() {
        let record = AuditRecord(requestId: "r1", timeMs: 1_795_030_400_000, keyId: "key_abc", path: "/v1/chat/completions",
                                 route: "chat", endpoint: "primary", provider: "openai", providerModel: "gpt-4o",
                                 tags: ["team": "a\"b", "user": "u1"], status: 200, latencyMs: 5, promptTokens: 1,
                                 completionTokens: 1, usageSource: .provider, cost: 0.25)
        let plain = MetricsScripts.increments(for: record).map(\.series)
        XCTAssertFalse(plain.contains { $0.hasPrefix("sluice_cost_usd_total") })
        let tagged = MetricsScripts.increments(for: record, metricTags: ["team", "project"])
            .filter { $0.series.hasPrefix("sluice_cost_usd_total") }
        XCTAssertEqual(tagged.map(\.series), [#"sluice_cost_usd_total{tag="team",value="a\"b"}"#,
                                              #"sluice_cost_usd_total{tag="project",value="-"}"#])
        XCTAssertEqual(tagged.map(\.amount), ["0.25", "0.25"])
    }

    func testValuesPastTheCapCountAsOtherPoolWide() throws {
        func flush(_ pairs: [(String, String)]) throws {
            _ = try redis.evaluate(MetricsScripts.add, keys: [keys.metrics, keys.metricsTagValues],
                                   arguments: ["2"] + pairs.flatMap { [$0.0, $0.1] })
        }
        func series(_ value: String, tag: String = "team") -> String { "sluice_cost_usd_total{tag=\"\(tag)\",value=\"\(value)\"}" }
        // Two flushes, as from two processes: the cap holds across them.
        try flush([(series("alpha"), "1"), (series("beta"), "2"), ("sluice_cost_total{route=\"chat\"}", "3")])
        try flush([(series("gamma"), "4"), (series("alpha"), "0.5"), (series("delta"), "1"), (series("x", tag: "project"), "7")])
        let fields = try redis.command(["HGETALL", keys.metrics]).fieldMap.mapValues { Double($0) ?? .nan }
        XCTAssertEqual(fields, [series("alpha"): 1.5, series("beta"): 2, series("other"): 5,
                                series("x", tag: "project"): 7, "sluice_cost_total{route=\"chat\"}": 3])
        let admitted = try redis.command(["HGETALL", keys.metricsTagValues]).fieldMap
        XCTAssertEqual(admitted, ["team=alpha": "1", "team=beta": "1", "#team": "2", "project=x": "1", "#project": "1"])
    }
}
