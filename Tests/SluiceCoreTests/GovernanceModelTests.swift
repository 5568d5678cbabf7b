import SluiceCore
import XCTest

/// The pure parts of governance: tag resolution, required tags, which counters apply,
/// prices, header formats and the config sections.
final class GovernanceModelTests: XCTestCase {
    private func load(_ yaml: String) throws -> LoadedConfig {
        try ConfigLoader.parse(yaml: yaml, fileName: "sluice.yaml", secrets: FakeSecrets())
    }

    private let base = """
        redis: { url: "redis://localhost" }
        providers: { p: { kind: openai } }

        """

    // MARK: Tags

    func testForcedTagsWinAndDisallowedClientTagsAreDropped() {
        let policy = AccessPolicy(tags: ["team": "support"], clientTags: .names(["project_id"]))
        let resolved = policy.resolveTags(client: ["team": "marketing", "project_id": "bot", "user": "x"])
        XCTAssertEqual(resolved.tags, ["team": "support", "project_id": "bot"])
        XCTAssertEqual(resolved.ignored, ["team", "user"])
        XCTAssertEqual(AccessPolicy(tags: ["team": "a"]).resolveTags(client: ["team": "a"]).ignored, [],
                       "repeating the forced value is not an override")
        XCTAssertEqual(AccessPolicy(clientTags: .none).resolveTags(client: ["a": "b"]).tags, [:])
    }

    func testRequiredTagsNameWhatIsMissingOrWrong() {
        let required = RequiredTags(["team": ["support", "marketing"], "project_id": []])
        XCTAssertThrowsError(try required.check(["team": "support"], scope: "This gateway")) { error in
            let error = error as! GatewayError
            XCTAssertEqual(error.httpStatus, 400)
            XCTAssertTrue(error.message.contains("'project_id'"), error.message)
        }
        XCTAssertThrowsError(try required.check(["team": "finance", "project_id": "x"], scope: "The model 'chat'")) { error in
            XCTAssertTrue((error as! GatewayError).message.contains("allowed values: marketing, support"))
        }
        XCTAssertNoThrow(try required.check(["team": "marketing", "project_id": "anything"], scope: "x"))
    }

    // MARK: Counters

    func testCountersFollowTheirScopes() throws {
        let yaml = base + """
            limits:
              - { per: key, requests: 100, window: 1m }
              - { per: tag, tag: team, tokens: 5000, window: 1h }
              - { per: tag, tag: team, value: marketing, requests: 10, window: 1m }
              - { per: principal, requests: 7, window: 1m }
            routes:
              chat:
                endpoints: [ { name: e, provider: p, model: m } ]
                limits: [ { per: route, requests: 50, window: 1s }, { per: endpoint, requests: 3, window: 1m } ]
            """
        let config = try load(yaml).config
        let route = try XCTUnwrap(config.routes["chat"])
        let record = GatewayKeyRecord(id: "key_1", name: "", hash: "h", displayPrefix: "", routes: nil, createdAt: 0,
                                      limits: [LimitConfig(per: .key, tokens: 99, window: .seconds(60))])
        let counters = LimitPlanner.counters(config: config, route: route, caller: .key(record), tags: ["team": "support"])
        XCTAssertEqual(counters.map(\.label), [
            "99 tokens per 1m for key key_1",
            "100 requests per 1m for key key_1",
            "5000 tokens per 1h for tag team=support",
            "50 requests per 1s for route chat",
        ])
        XCTAssertEqual(Set(counters.map(\.name)).count, counters.count, "every counter has its own key")
        let marketing = LimitPlanner.counters(config: config, route: route, caller: .principal(name: "bob", policy: AccessPolicy()),
                                              tags: ["team": "marketing"])
        XCTAssertEqual(marketing.map(\.label), [
            "5000 tokens per 1h for tag team=marketing", "10 requests per 1m for tag team=marketing",
            "7 requests per 1m for principal bob", "50 requests per 1s for route chat",
        ])
        let endpoint = try XCTUnwrap(route.endpoints.first)
        XCTAssertEqual(LimitPlanner.endpointCounters(config: config, route: route, endpoint: endpoint).map(\.label),
                       ["3 requests per 1m for endpoint e of route chat"])
    }

    func testBudgetsApplyByScope() throws {
        let yaml = base + """
            budgets:
              team-day: { per: tag, tag: team, amount: 50, period: day }
              one-team: { per: tag, tag: team, value: marketing, amount: 5.5, period: month, thresholds: [80, 50] }
              keys: { per: key, amount: 1, period: week, enforce: false }
              all: { per: gateway, amount: 1000, period: month }
            routes:
              chat: { endpoints: [ { provider: p, model: m } ] }
            """
        let config = try load(yaml).config
        let route = try XCTUnwrap(config.routes["chat"])
        let record = GatewayKeyRecord(id: "key_1", name: "", hash: "h", displayPrefix: "", routes: nil, createdAt: 0)
        let counters = BudgetCounter.counters(config: config, route: route, caller: .key(record), tags: ["team": "support"]) { _ in
            ("P", 0, 1)
        }
        XCTAssertEqual(counters.map(\.label), ["budget 'team-day' for team=support", "budget 'keys' for key_1", "budget 'all'"])
        XCTAssertEqual(config.governance.budgets[1].amountNanos, 5_500_000_000)
        XCTAssertEqual(config.governance.budgets[1].thresholds, [50, 80])
        XCTAssertFalse(config.governance.budgets[2].enforce)
    }

    func testACacheHitReservesItsRequestCountersOnly() throws {
        let requests = LimitCounter(name: "r", kind: .requests, limit: 10, windowMs: 60_000, label: "10 requests")
        let tokens = LimitCounter(name: "t", kind: .tokens, limit: 500, windowMs: 60_000, label: "500 tokens")
        let budget = BudgetConfig(name: "b", per: .gateway, amountNanos: 1_000, period: .day)
        var counter = BudgetCounter(budget: budget, scopeValue: "*", periodLabel: "P", periodStartMs: 0, periodEndMs: 1)
        counter.wantNanos = 900
        let plan = AdmissionPlan(id: "r:1", counters: [tokens, requests], reservedTokens: 320, budgets: [counter])
        XCTAssertEqual(plan.amounts, [320, 1])
        let hit = try XCTUnwrap(plan.forCacheHit)
        XCTAssertEqual(hit.counters, [requests])
        XCTAssertEqual(hit.amounts, [1], "no tokens reserved")
        XCTAssertEqual(hit.budgets, [], "no budget amount reserved")
        XCTAssertEqual(hit.id, plan.id)
        // Only tokens and budgets: a hit is admitted without a round trip.
        XCTAssertNil(AdmissionPlan(id: "r:2", counters: [tokens], reservedTokens: 5, budgets: [counter]).forCacheHit)
    }

    func testGovernanceConfigErrorsNameTheField() {
        let yaml = base + """
            admission: { on_redis_error: sometimes }
            budget_time_zone: Mars/Olympus
            budgets:
              bad: { per: tag, amount: -1, period: fortnight, webhook: "ftp://x" }
            routes:
              chat: { endpoints: [ { provider: p, model: m } ], required_tags: { team: support } }
            """
        XCTAssertThrowsError(try load(yaml)) { error in
            let text = "\(error)"
            for expected in ["admission.on_redis_error", "budget_time_zone", "budgets.bad.tag", "budgets.bad.amount",
                             "budgets.bad.period", "budgets.bad.webhook", "routes.chat.required_tags.team"] {
                XCTAssertTrue(text.contains(expected), "\(expected) missing in: \(text)")
            }
        }
    }

    // MARK: Prices and formats

    func testPricesMatchTheLongestPrefixAndOverridesWin() {
        let table = PriceTable(overrides: ["gpt-4o": ModelPrice(input: 1, output: 2), "azure/gpt-4o-mini": ModelPrice(input: 9, output: 9)])
        XCTAssertEqual(table.price(provider: "openai", model: "gpt-4o-mini-2024-07-18"), ModelPrice(input: 0.15, output: 0.60, cachedInput: 0.075))
        XCTAssertEqual(table.price(provider: "openai", model: "gpt-4o-2024-08-06"), ModelPrice(input: 1, output: 2))
        XCTAssertEqual(table.price(provider: "azure", model: "gpt-4o-mini"), ModelPrice(input: 9, output: 9))
        XCTAssertEqual(table.price(provider: "b", model: "us.anthropic.claude-3-5-sonnet-20241022-v2:0")?.output, 15)
        XCTAssertEqual(table.price(provider: "o", model: "gpt-4")?.input, 30)
        XCTAssertNil(table.price(provider: "o", model: "my-own-model"))
        // 1,000 prompt tokens (200 cached) and 500 completion tokens of gpt-4o:
        // 800 × $2.50/M + 200 × $1.25/M + 500 × $10/M = $0.00725.
        let cost = PriceTable().price(provider: "o", model: "gpt-4o")!.costNanos(TokenUsage(prompt: 1000, completion: 500, cached: 200))
        XCTAssertEqual(cost, 7_250_000)
    }

    func testRateLimitHeaderFormats() {
        XCTAssertEqual(RateLimitHeaders.format(ms: 120), "120ms")
        XCTAssertEqual(RateLimitHeaders.format(ms: 1500), "1.5s")
        XCTAssertEqual(RateLimitHeaders.format(ms: 20_000), "20s")
        XCTAssertEqual(RateLimitHeaders.format(ms: 360_000), "6m0s")
        XCTAssertEqual(RateLimitHeaders.format(ms: 3_723_000), "1h2m3s")
        XCTAssertEqual(Money.format(nanos: 12_340_000_000), "$12.34")
        XCTAssertEqual(Money.format(nanos: 150), "$0.000000")
        XCTAssertEqual(Money.format(nanos: 150_000), "$0.000150")
    }

    func testKeyPolicyRoundTripsThroughItsStoredFields() {
        let record = GatewayKeyRecord(id: "key_1", name: "bot", hash: "h", displayPrefix: "p", routes: ["chat"], createdAt: 5,
                                      tags: ["team": "support", "cost_center": "42"], clientTags: .names(["project_id"]),
                                      limits: [LimitConfig(per: .key, requests: 10, window: .seconds(60)),
                                               LimitConfig(per: .key, tokens: 500, window: .seconds(3600))],
                                      expiresAtMs: 99_000, rotatedTo: "key_2")
        let stored = Dictionary(uniqueKeysWithValues: record.fields)
        XCTAssertEqual(GatewayKeyRecord(fields: stored), record)
        XCTAssertFalse(record.isValid(atMs: 99_000))
        XCTAssertTrue(record.isValid(atMs: 98_999))
    }
}
