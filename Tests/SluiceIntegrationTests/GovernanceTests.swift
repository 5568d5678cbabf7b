import Foundation
import Synchronization
import XCTest

/// Limits, token reservations, tags and budgets through real nginx, Redis and eight worker
/// processes: limits hold pool-wide, token counters settle to the provider's usage, forced
/// tags stay forced, and an enforced budget stops spending at its limit.
final class GovernanceTests: SharedStackTestCase {
    nonisolated(unsafe) private static var receiver: WebhookReceiver?

    override class var stackConfig: ((GatewayStack) -> String)? {
        let receiver = try? WebhookReceiver()
        Self.receiver = receiver
        return { stack in
            """
            server: { listen: "unix:\(stack.socketPath)", workers: 8, threads: 4, drain_timeout: 5s }
            redis: { url: "redis://127.0.0.1:\(stack.redisPort)/0", timeout: 500ms }
            audit: { spool_dir: "\(stack.directory.path)/spool" }
            providers:
              mock: { kind: openai_compatible, base_url: "http://127.0.0.1:\(stack.mockPort)/v1", api_key: "${env:SLUICE_TEST_MOCK_KEY}" }
            prices:
              budget-model: { input: 0, output: 10000 }
            budget_time_zone: Europe/Berlin
            budgets:
              marketing-daily:
                per: tag
                tag: team
                value: marketing
                amount: 0.20
                period: day
                thresholds: [50, 80, 100]
                webhook: "http://127.0.0.1:\(receiver?.port ?? 9)/hook"
              per-team:
                per: tag
                tag: team
                amount: 0.20
                period: month
              watch-only:
                per: route
                value: watched
                amount: 0.01
                period: week
                enforce: false
            routes:
              rpm:
                type: chat
                endpoints: [ { provider: mock, model: rpm } ]
                limits: [ { per: route, requests: 100, window: 1m } ]
              leased-idle:
                type: chat
                endpoints: [ { provider: mock, model: "leased-idle@delay=2500ms" } ]
                limits: [ { per: route, requests: 4096, window: 1m } ]
              leased-tokens:
                type: chat
                endpoints: [ { provider: mock, model: "leased-tokens@words=30" } ]
                limits: [ { per: route, tokens: 10000000, window: 1m } ]
              leased:
                type: chat
                endpoints: [ { provider: mock, model: leased } ]
                limits: [ { per: route, requests: 2048, window: 1m } ]
              tpm:
                type: chat
                endpoints: [ { provider: mock, model: "tpm@words=90" } ]
                limits: [ { per: route, tokens: 2000, window: 1m } ]
              tagged:
                type: chat
                required_tags: { team: [support, marketing] }
                endpoints: [ { provider: mock, model: tagged } ]
              open: { type: chat, endpoints: [ { provider: mock, model: open } ] }
              spend: { type: chat, endpoints: [ { provider: mock, model: budget-model } ] }
              watched: { type: chat, endpoints: [ { provider: mock, model: budget-model } ] }
              per-endpoint:
                type: chat
                default: first
                limits: [ { per: endpoint, value: first, requests: 2, window: 1m } ]
                endpoints:
                  - { name: first, provider: mock, model: ep-first }
                  - { name: second, provider: mock, model: ep-second, fallback_only: true }
            principals:
              "*": {}
            """
        }
    }

    override class func tearDown() {
        receiver?.stop()
        super.tearDown()
    }

    private func key(_ options: [String] = []) throws -> String {
        let stack = try gateway()
        let result = try stack.sluice(["keys", "create", "--config", stack.configPath, "--name", "governance", "--quiet"] + options)
        XCTAssertEqual(result.status, 0, result.output)
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func chat(_ route: String, key: String, tags: String? = nil, maxTokens: Int? = nil,
                      content: String = "hello there") throws -> TestResponse {
        let cap = maxTokens.map { ",\"max_tokens\":\($0)" } ?? ""
        let body = #"{"model":"\#(route)"\#(cap),"messages":[{"role":"user","content":"\#(content)"}]}"#
        return try gateway().client.post("/v1/chat/completions", key: key, body,
                                         extraHeaders: tags.map { [("X-Sluice-Tags", $0)] } ?? [])
    }

    /// Runs `count` calls of `call` from `threads` client threads; returns every response.
    private func concurrently(_ count: Int, threads: Int, _ call: @escaping @Sendable (Int) -> TestResponse) -> [TestResponse] {
        let responses = Mutex<[TestResponse]>([])
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            while true {
                let index = next.add(1, ordering: .relaxed).oldValue
                guard index < count else { return }
                let response = call(index)
                responses.withLock { $0.append(response) }
            }
        }
        return responses.withLock { $0 }
    }

    private func redis(_ arguments: [String]) throws -> String {
        guard let cli = which("redis-cli") else { throw XCTSkip("redis-cli is needed") }
        return try runCommand(cli, ["-p", "\(gateway().redisPort)", "--raw"] + arguments).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// How many admission script calls named the counter `hash` while `body` ran (every
    /// command goes to the slow log meanwhile; an admission names the hash, then the
    /// reservation lifetime, 900000 ms).
    private func admissionScripts(naming hash: String, _ body: () throws -> Void) throws -> Int {
        _ = try redis(["CONFIG", "SET", "slowlog-log-slower-than", "0"])
        _ = try redis(["CONFIG", "SET", "slowlog-max-len", "100000"])
        _ = try redis(["SLOWLOG", "RESET"])
        try body()
        let log = try redis(["SLOWLOG", "GET", "100000"])
        _ = try redis(["CONFIG", "SET", "slowlog-log-slower-than", "10000"])
        return log.components(separatedBy: hash + "\n900000").count - 1
    }

    /// Waits until the limit counter `hash` totals `expected` (what was admitted, or used).
    private func waitForTotal(_ hash: String, _ expected: Int, _ what: String, timeout: Duration = .seconds(5)) throws {
        try waitUntil(what, timeout: timeout) { (try? redis(["HGET", hash, "total"])) == String(expected) }
    }

    // MARK: Limits

    func testRequestLimitHoldsAcrossEightProcesses() throws {
        let stack = try gateway()
        XCTAssertEqual(stack.workerPids().count, 8)
        let key = try key()
        let client = stack.client
        let responses = concurrently(300, threads: 24) { _ in
            client.post("/v1/chat/completions", key: key, #"{"model":"rpm","messages":[{"role":"user","content":"hi"}]}"#)
        }
        let admitted = responses.filter { $0.status == 200 }
        let refused = responses.filter { $0.status == 429 }
        XCTAssertEqual(admitted.count, 100, "a 100-per-minute limit admits exactly 100 within the minute")
        XCTAssertEqual(refused.count, 200)
        XCTAssertEqual(stack.mockCount(model: "rpm"), 100, "refused calls never reach the provider")
        let sample = try XCTUnwrap(refused.first)
        XCTAssertEqual(sample.errorCode, "rate_limit_exceeded")
        XCTAssertEqual(sample.errorType, "requests")
        XCTAssertNotNil(sample.header("retry-after").flatMap(Int.init))
        XCTAssertEqual(sample.header("x-ratelimit-limit-requests"), "100")
        XCTAssertEqual(sample.header("x-ratelimit-remaining-requests"), "0")
        XCTAssertNotNil(sample.header("x-ratelimit-reset-requests"))
        let remaining = admitted.compactMap { $0.header("x-ratelimit-remaining-requests").flatMap(Int.init) }
        XCTAssertEqual(Set(remaining), Set(0..<100), "every admitted call saw its own remaining count")
    }

    func testLeasedCallsNeverOvershootAndTheirUnusedRestGoesBack() throws {
        // 2048 per minute is large enough for leases (16 calls is at most a 64th of it): while
        // the counter is under half its limit, the eight processes admit most calls from room
        // Redis granted them ahead; past half, every call is decided in Redis.
        let stack = try gateway()
        let key = try key()
        let client = stack.client
        let body = #"{"model":"leased","messages":[{"role":"user","content":"hi"}]}"#
        let call: @Sendable (Int) -> TestResponse = { _ in client.post("/v1/chat/completions", key: key, body) }
        var early: [TestResponse] = []
        let admissions = try admissionScripts(naming: "sluice:lim:route=leased|route||leased|r60000:w") {
            early = concurrently(700, threads: 16, call)
        }
        XCTAssertEqual(early.filter { $0.status == 200 }.count, 700)
        XCTAssertGreaterThan(admissions, 0)
        XCTAssertLessThan(admissions, 700 / 4, "under half the limit, most calls are admitted from leases")

        let late = concurrently(1_400, threads: 16, call)
        let admitted = 700 + late.filter { $0.status == 200 }.count
        XCTAssertEqual(late.filter { $0.status == 200 || $0.status == 429 }.count, 1_400, "every call admitted or refused")
        XCTAssertLessThanOrEqual(admitted, 2_048, "leases never let more through than the limit")
        XCTAssertGreaterThan(admitted, 1_900, "leases are used up by busy processes")
        try waitForTotal("sluice:lim:route=leased|route||leased|r60000:w", admitted, "the unused rest of every lease went back")
        let last = concurrently(150, threads: 8, call)
        XCTAssertEqual(admitted + last.filter { $0.status == 200 }.count, 2_048, "exactly the limit within the minute")
        XCTAssertEqual(stack.mockCount(model: "leased"), 2_048, "refused calls never reach the provider")
    }

    func testTokensAdmittedFromLeasesSettleToTheReportedUsage() throws {
        // 10M tokens a minute is leased (16 calls' reservations are far under a 64th of
        // it): each call reserves from its worker's lease, settles the difference to its
        // true usage in the lease's bucket, and the unused rest goes back.
        let stack = try gateway()
        let key = try key()
        let client = stack.client
        var responses: [TestResponse] = []
        let counter = "sluice:lim:route=leased-tokens|route||leased-tokens|t60000:w"
        let admissions = try admissionScripts(naming: counter) {
            responses = concurrently(240, threads: 12) { _ in
                client.post("/v1/chat/completions", key: key,
                            #"{"model":"leased-tokens","max_tokens":100,"messages":[{"role":"user","content":"hello there"}]}"#)
            }
        }
        XCTAssertEqual(responses.filter { $0.status == 200 }.count, 240)
        XCTAssertLessThan(admissions, 240 / 4, "most calls reserved their tokens from leases")
        let reported = responses.map { (($0.json["usage"] as? [String: Any])?["total_tokens"] as? Int) ?? -1 }
        XCTAssertFalse(reported.contains(-1))
        try waitForTotal(counter, reported.reduce(0, +), "every call settled and every lease's rest went back")
    }

    func testAQuietProcessGivesItsUnusedLeaseBackWithinASecond() throws {
        // One slow call (its answer takes 2.5 s) on a quiet gateway: it takes a lease of 16 at
        // admission, and nothing else happens in its process until it ends.
        let key = try key()
        let counter = "sluice:lim:route=leased-idle|route||leased-idle|r60000:w"
        let client = try gateway().client
        let call = Thread { _ = client.post("/v1/chat/completions", key: key, #"{"model":"leased-idle","messages":[{"role":"user","content":"hi"}]}"#) }
        call.start()
        try waitUntil("the call was admitted with a lease", timeout: .seconds(2)) {
            (Int((try? redis(["HGET", counter, "total"])) ?? "") ?? 0) > 1
        }
        // The settler returned the rest when the lease ended, while the call still ran.
        try waitForTotal(counter, 1, "the lease's unused 15 went back", timeout: .milliseconds(1_500))
        try waitUntil("the slow call finished", timeout: .seconds(5)) { call.isFinished }
    }

    func testTokenReservationsNeverOvershootAndSettleToTheReportedUsage() throws {
        let stack = try gateway()
        let key = try key()
        let client = stack.client
        let responses = concurrently(60, threads: 20) { _ in
            client.post("/v1/chat/completions", key: key,
                        #"{"model":"tpm","max_tokens":100,"messages":[{"role":"user","content":"hello there"}]}"#)
        }
        let admitted = responses.filter { $0.status == 200 }
        XCTAssertGreaterThan(admitted.count, 0)
        XCTAssertGreaterThan(responses.filter { $0.status == 429 }.count, 0, "the limit must bind in this test")
        XCTAssertEqual(responses.filter { $0.status == 429 }.first?.errorType, "tokens")
        let reported = admitted.map { (($0.json["usage"] as? [String: Any])?["total_tokens"] as? Int) ?? -1 }
        XCTAssertFalse(reported.contains(-1))
        let used = reported.reduce(0, +)
        XCTAssertLessThanOrEqual(used, 2000, "concurrent calls never overshoot the token limit")
        try waitForTotal("sluice:lim:route=tpm|route||tpm|t60000:w", used, "every reservation is settled")
    }

    func testKeyLimitsAndHeaders() throws {
        let key = try key(["--limit", "requests=2/1m", "--limit", "tokens=100000/1h"])
        let first = try chat("open", key: key)
        XCTAssertEqual(first.status, 200, first.text)
        XCTAssertEqual(first.header("x-ratelimit-limit-requests"), "2")
        XCTAssertEqual(first.header("x-ratelimit-remaining-requests"), "1")
        XCTAssertEqual(first.header("x-ratelimit-limit-tokens"), "100000")
        XCTAssertEqual(try chat("open", key: key).status, 200)
        let third = try chat("open", key: key)
        XCTAssertEqual(third.status, 429, third.text)
        XCTAssertTrue(third.text.contains("2 requests per 1m for key key_"), third.text)
    }

    func testEndpointLimitMovesCallsToTheNextEndpoint() throws {
        let key = try key()
        let endpoints = try (0..<4).map { _ in try chat("per-endpoint", key: key).header("x-sluice-endpoint") ?? "-" }
        XCTAssertEqual(endpoints, ["first", "first", "second", "second"])
    }

    // MARK: Tags

    func testForcedTagsCannotBeChangedByTheClient() throws {
        let key = try key(["--tag", "team=support", "--client-tags", "project_id"])
        let response = try chat("tagged", key: key, tags: "team=marketing, project_id=bot, user=mallory")
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertEqual(response.header("x-sluice-ignored-tags"), "team,user")
        let requestId = try XCTUnwrap(response.header("x-sluice-request-id"))
        var record = ""
        try waitUntil("the audit record is written", timeout: .seconds(5)) {
            record = (try? redis(["XREVRANGE", "sluice:audit", "+", "-", "COUNT", "50"])) ?? ""
            return record.contains(requestId)
        }
        let line = try XCTUnwrap(record.components(separatedBy: "\n").first { $0.contains("\"request_id\":\"\(requestId)\"") })
        XCTAssertTrue(line.contains(#""tags":{"project_id":"bot","team":"support"}"#), line)
    }

    func testRequiredTagsAreNamedInA400() throws {
        let key = try key()
        let missing = try chat("tagged", key: key)
        XCTAssertEqual(missing.status, 400)
        XCTAssertEqual(missing.errorCode, "missing_required_tag")
        XCTAssertTrue(missing.text.contains("'team'"), missing.text)
        let wrong = try chat("tagged", key: key, tags: "team=finance")
        XCTAssertEqual(wrong.status, 400)
        XCTAssertTrue(wrong.text.contains("support, marketing") || wrong.text.contains("marketing, support"), wrong.text)
        XCTAssertEqual(try chat("tagged", key: key, tags: "team=support").status, 200)
    }

    // MARK: Keys

    func testRotatedKeyWorksThroughItsGraceThenIsRefused() throws {
        let stack = try gateway()
        let old = try key()
        XCTAssertEqual(try chat("open", key: old).status, 200)
        let list = try stack.sluice(["keys", "list", "--config", stack.configPath]).output
        let id = try XCTUnwrap(list.components(separatedBy: "\n").first { $0.contains(String(old.prefix(14))) }?
            .split(separator: " ").first.map(String.init))
        let rotated = try stack.sluice(["keys", "rotate", id, "--grace", "2s", "--config", stack.configPath, "--quiet"])
        XCTAssertEqual(rotated.status, 0, rotated.output)
        let new = rotated.output.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertNotEqual(new, old)
        XCTAssertEqual(try chat("open", key: old).status, 200, "the old key works during its grace period")
        XCTAssertEqual(try chat("open", key: new).status, 200)
        let rotatedAt = ContinuousClock.now
        try waitUntil("the old key is refused", timeout: .seconds(10)) { (try? chat("open", key: old).status) == 401 }
        XCTAssertLessThan(ContinuousClock.now - rotatedAt, .seconds(2 + 5), "refused within 5 s of the grace period's end")
        XCTAssertEqual(try chat("open", key: new).status, 200)
    }

    func testExpiredKeyIsRefused() throws {
        let key = try key(["--expires", "1s"])
        XCTAssertEqual(try chat("open", key: key).status, 200)
        usleep(1_200_000)
        let refused = try chat("open", key: key)
        XCTAssertEqual(refused.status, 401)
        XCTAssertTrue(refused.text.contains("expired"), refused.text)
    }

    // MARK: Budgets

    func testEnforcedBudgetStopsSpendingAtItsLimitAndAlerts() throws {
        let stack = try gateway()
        let key = try key()
        // Each call costs 3 output tokens × $0.01 = $0.03 and reserves 5 × $0.01 = $0.05.
        var statuses: [Int] = []
        // A call's settlement lands with its audit record, in its worker's settler round trip
        // just after the response; the next call may be admitted before that, so the calls
        // are 10 ms apart to see every earlier one settled.
        for _ in 0..<8 {
            statuses.append(try chat("spend", key: key, tags: "team=marketing", maxTokens: 5, content: "hi there").status)
            usleep(10_000)
        }
        XCTAssertEqual(statuses, [200, 200, 200, 200, 200, 200, 429, 429], "$0.18 spent; one more call could pass $0.20")
        let refused = try chat("spend", key: key, tags: "team=marketing", maxTokens: 5, content: "hi there")
        XCTAssertEqual(refused.errorCode, "budget_exceeded")
        XCTAssertTrue(refused.text.contains("marketing-daily"), refused.text)
        XCTAssertEqual(refused.header("x-should-retry"), nil, "not spent yet: calls in flight could free the rest")

        var report = ""
        try waitUntil("the budget report shows the spend", timeout: .seconds(5)) {
            report = (try? stack.sluice(["usage", "budgets", "--config", stack.configPath, "--json"]).output) ?? ""
            return report.contains("\"spent_usd\":0.180000")
        }
        let line = try XCTUnwrap(report.components(separatedBy: "\n").first { $0.contains("marketing-daily") }, report)
        XCTAssertTrue(line.contains("\"scope\":\"team=marketing\""), line)
        XCTAssertTrue(line.contains("\"amount_usd\":0.200000"), line)
        XCTAssertFalse(line.contains("\"burn_usd_per_hour\":0.000000"), line)
        XCTAssertFalse(line.contains("\"runs_out_at\":null"), "at this burn rate it runs out today: \(line)")

        try waitUntil("the 50% and 80% alerts reach the webhook", timeout: .seconds(10)) {
            (Self.receiver?.received.filter { $0.contains("marketing-daily") }.count ?? 0) >= 2
        }
        let alerts = Self.receiver?.received ?? []
        XCTAssertTrue(alerts.contains { $0.contains("\"threshold_percent\":50") })
        XCTAssertTrue(alerts.contains { $0.contains("\"threshold_percent\":80") })
        let stream = try redis(["XREVRANGE", "sluice:audit", "+", "-", "COUNT", "200"])
        XCTAssertTrue(stream.contains(#""kind":"alert","type":"budget_threshold""#), "alerts are audit records of kind alert")
    }

    func testConcurrentCallsCannotOvershootAnEnforcedBudget() throws {
        let stack = try gateway()
        let key = try key()
        let client = stack.client
        let responses = concurrently(40, threads: 16) { _ in
            client.post("/v1/chat/completions", key: key,
                        #"{"model":"spend","max_tokens":5,"messages":[{"role":"user","content":"hi there"}]}"#,
                        extraHeaders: [("X-Sluice-Tags", "team=concurrent")])
        }
        let admitted = responses.filter { $0.status == 200 }.count
        XCTAssertLessThanOrEqual(admitted, 6, "$0.20 pays for at most six $0.03 calls")
        XCTAssertGreaterThan(admitted, 0)
        var report = ""
        try waitUntil("the spend is settled", timeout: .seconds(5)) {
            report = (try? stack.sluice(["usage", "budgets", "--config", stack.configPath, "--json"]).output) ?? ""
            return report.contains("team=concurrent") && report.contains("\"reserved_usd\":0.000000")
        }
        let line = try XCTUnwrap(report.components(separatedBy: "\n").first { $0.contains("team=concurrent") }, report)
        let spent = try XCTUnwrap(line.components(separatedBy: "\"spent_usd\":").last?.split(separator: ",").first.flatMap { Double($0) })
        XCTAssertEqual(spent, Double(admitted) * 0.03, accuracy: 1e-9)
        XCTAssertLessThanOrEqual(spent, 0.20)
    }

    func testAlertOnlyBudgetKeepsServing() throws {
        let key = try key()
        let statuses = try (0..<3).map { _ in try chat("watched", key: key, maxTokens: 5, content: "hi there").status }
        XCTAssertEqual(statuses, [200, 200, 200], "an alert-only budget never refuses")
        let table = try gateway().sluice(["usage", "budgets", "--config", try gateway().configPath]).output
        XCTAssertTrue(table.contains("watch-only"), table)
        XCTAssertTrue(table.contains("spent (alert only)"), table)
    }
}

/// Admission with Redis stopped: fail-open admits a small per-process allowance and then
/// refuses; fail-closed refuses at once. Both answer 503 with Retry-After.
final class GovernanceOutageTests: XCTestCase {
    private func config(_ mode: String) -> (GatewayStack) -> String {
        { stack in
            """
            server: { listen: "unix:\(stack.socketPath)", workers: 1, threads: 2, drain_timeout: 5s }
            redis: { url: "redis://127.0.0.1:\(stack.redisPort)/0", timeout: 300ms }
            audit: { spool_dir: "\(stack.directory.path)/spool" }
            admission: { on_redis_error: \(mode), local_requests: 3, local_window: 1m }
            providers:
              mock: { kind: openai_compatible, base_url: "http://127.0.0.1:\(stack.mockPort)/v1", api_key: "${env:SLUICE_TEST_MOCK_KEY}" }
            routes:
              limited:
                type: chat
                endpoints: [ { provider: mock, model: limited } ]
                limits: [ { per: key, requests: 1000, window: 1m } ]
            """
        }
    }

    private func call(_ stack: GatewayStack, key: String) -> TestResponse {
        stack.client.post("/v1/chat/completions", key: key, #"{"model":"limited","messages":[{"role":"user","content":"hi"}]}"#)
    }

    func testFailOpenAdmitsTheLocalAllowanceThenRefuses() throws {
        let stack = try GatewayStack(config: config("fail_open"))
        defer { stack.stop() }
        let key = try stack.createKey()
        XCTAssertEqual(call(stack, key: key).status, 200)
        stack.redis?.stop()
        let statuses = (0..<5).map { _ in call(stack, key: key).status }
        XCTAssertEqual(statuses, [200, 200, 200, 503, 503], "three calls from the local allowance, then 503")
        let refused = call(stack, key: key)
        XCTAssertEqual(refused.header("retry-after"), "1")
        XCTAssertEqual(refused.errorCode, "backend_unavailable")
        let log = (try? String(contentsOf: stack.directory.appendingPathComponent("pool.log"), encoding: .utf8)) ?? ""
        XCTAssertTrue(log.contains("LIMITS AND BUDGETS ARE NOT ENFORCED"), "fail-open is logged loudly")
    }

    func testFailClosedRefusesWithoutRedis() throws {
        let stack = try GatewayStack(config: config("fail_closed"))
        defer { stack.stop() }
        let key = try stack.createKey()
        XCTAssertEqual(call(stack, key: key).status, 200)
        stack.redis?.stop()
        let refused = call(stack, key: key)
        XCTAssertEqual(refused.status, 503, refused.text)
        XCTAssertEqual(refused.header("retry-after"), "1")
        XCTAssertTrue(refused.text.contains("Limits cannot be checked"), refused.text)
    }
}
