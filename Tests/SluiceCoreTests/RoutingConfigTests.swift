import SluiceCore
import XCTest

/// The routing and health fields of `sluice.yaml`: `health:`, a route's `default`, `retry`
/// and `prefer_warm`, and an endpoint's `params`, `headers`, `keep_warm` and `cold_after`.
final class RoutingConfigTests: XCTestCase {
    static let secrets = FakeSecrets(environment: ["TEAM_TOKEN": "tok-1"])

    static let fullConfig = """
        redis: { url: "redis://localhost" }
        providers:
          openai: { kind: openai }
          local: { kind: openai_compatible, base_url: "http://127.0.0.1:8000/v1" }
        health:
          window: 1m
          min_calls: 10
          failure_ratio: 0.25
          cooldown: 2s
          max_cooldown: 2m
        routes:
          chat:
            type: chat
            default: small
            prefer_warm: false
            retry: { on: [connect, timeout, 429, 503], attempts: 4, deadline: 90s, max_wait: 0s }
            rules:
              - { when: { priority: high }, use: big }
            endpoints:
              - name: big
                provider: openai
                model: gpt-4o
                weight: 3
                params:
                  temperature: 0.2
                  max_tokens: 512
                  response_format: { type: json_object }
                  stop: ["\\n", END]
                  user: "42"
                  logprobs: true
                  seed: null
                headers: { X-Team: platform, X-Token: "${env:TEAM_TOKEN}" }
              - name: small
                provider: local
                model: llama
                keep_warm: 5m
              - name: scaled
                provider: local
                model: qwen
                keep_warm: 5m
                cold_after: 90s
                fallback_only: true
              - name: lazy
                provider: local
                model: phi
                cold_after: 10m
                fallback_only: true
          embed:
            type: embeddings
            endpoints:
              - { provider: local, model: bge-m3 }
        """

    func testEveryNewFieldIsRead() throws {
        let config = try XCTUnwrap(loadConfig(Self.fullConfig, secrets: Self.secrets)).config

        XCTAssertEqual(config.health, HealthPolicy(window: .seconds(60), minCalls: 10, failureRatio: 0.25,
                                                   cooldown: .seconds(2), maxCooldown: .seconds(120)))

        let chat = try XCTUnwrap(config.routes["chat"])
        XCTAssertEqual(chat.defaultEndpoint, "small")
        XCTAssertFalse(chat.preferWarm)
        XCTAssertEqual(chat.retry, RetryConfig(
            on: FallbackConditions(connect: true, timeout: true, dropped: false, statuses: [429, 503]),
            attempts: 4, deadline: .seconds(90), maxWait: .zero))
        XCTAssertEqual(chat.rules, [RouteRule(when: ["priority": "high"], use: "big")])
        XCTAssertEqual(chat.endpoints.map(\.name), ["big", "small", "scaled", "lazy"])

        let big = chat.endpoints[0]
        XCTAssertEqual(big.upstreamKey, "openai/gpt-4o")
        XCTAssertEqual(big.weight, 3)
        XCTAssertEqual(big.params.map(\.name), ["temperature", "max_tokens", "response_format", "stop", "user",
                                                "logprobs", "seed"])
        XCTAssertEqual(big.params.map(\.json), ["0.2", "512", #"{"type":"json_object"}"#, #"["\n","END"]"#, #""42""#,
                                                "true", "null"])
        XCTAssertEqual(big.headers.map(\.name), ["X-Team", "X-Token"])
        XCTAssertEqual(big.headers.map(\.value), [Secret("platform", origin: "literal"), Secret("tok-1", origin: "env:TEAM_TOKEN")])
        XCTAssertNil(big.keepWarm)
        XCTAssertNil(big.coldAfter)

        let small = chat.endpoints[1]
        XCTAssertEqual(small.upstreamKey, "local/llama")
        XCTAssertEqual(small.keepWarm, .seconds(300))
        XCTAssertEqual(small.coldAfter, .seconds(300), "cold_after defaults to keep_warm")
        XCTAssertTrue(small.params.isEmpty)
        XCTAssertTrue(small.headers.isEmpty)

        let scaled = chat.endpoints[2]
        XCTAssertEqual(scaled.keepWarm, .seconds(300))
        XCTAssertEqual(scaled.coldAfter, .seconds(90))
        XCTAssertTrue(scaled.fallbackOnly)

        let lazy = chat.endpoints[3]
        XCTAssertNil(lazy.keepWarm)
        XCTAssertEqual(lazy.coldAfter, .seconds(600))

        // A route that sets none of the new fields gets the defaults.
        let embed = try XCTUnwrap(config.routes["embed"])
        XCTAssertNil(embed.defaultEndpoint)
        XCTAssertTrue(embed.preferWarm)
        XCTAssertEqual(embed.retry, RetryConfig())
        XCTAssertEqual(embed.retry.on, .defaults)
        XCTAssertNil(embed.retry.attempts)
        XCTAssertNil(embed.retry.deadline)
        XCTAssertEqual(embed.retry.maxWait, .seconds(5))
        XCTAssertNil(embed.endpoints[0].keepWarm)
        XCTAssertNil(embed.endpoints[0].coldAfter)
    }

    func testHealthDefaultsWhenAbsentOrPartial() throws {
        let base = """
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            routes: { chat: { endpoints: [ { provider: openai, model: gpt-4o } ] } }
            """
        XCTAssertEqual(try XCTUnwrap(loadConfig(base)).config.health, HealthPolicy())
        XCTAssertEqual(HealthPolicy(), HealthPolicy(window: .seconds(30), minCalls: 5, failureRatio: 0.5,
                                                    cooldown: .seconds(5), maxCooldown: .seconds(300)))
        let partial = try XCTUnwrap(loadConfig(base + "\nhealth: { min_calls: 3, cooldown: 500ms }\n")).config.health
        XCTAssertEqual(partial, HealthPolicy(minCalls: 3, cooldown: .milliseconds(500)))
        // max_cooldown equal to cooldown is allowed.
        let equal = try XCTUnwrap(loadConfig(base + "\nhealth: { cooldown: 1m, max_cooldown: 60s }\n")).config.health
        XCTAssertEqual(equal.maxCooldown, .seconds(60))
    }

    func testRetryOnWordsAndStatusesMapToFallbackConditions() throws {
        XCTAssertEqual(try retryOn("[connect, 5xx, overloaded, 429]"),
                       FallbackConditions(connect: true, timeout: false, dropped: false,
                                          statuses: Set(500...599).union([429])))
        XCTAssertEqual(try retryOn("[overloaded]"), FallbackConditions(connect: false, timeout: false, dropped: false,
                                                                       statuses: [529]))
        XCTAssertEqual(try retryOn("[timeout, dropped, 408, 409, 425, \"502\"]"),
                       FallbackConditions(connect: false, timeout: true, dropped: true, statuses: [408, 409, 425, 502]))
        XCTAssertEqual(try retryOn("[]"), FallbackConditions(connect: false, timeout: false, dropped: false, statuses: []),
                       "an empty list moves on from nothing")
    }

    // MARK: Refused configurations

    func testRetryOnAClientErrorIsRefused() {
        let issues = issuesFor(routeFields: "retry: { on: [connect, 400] }")
        XCTAssertEqual(issues.map(\.field), ["routes.chat.retry.on[1]"])
        XCTAssertTrue(issues.first?.message.contains("HTTP 400 is a client error") ?? false, "\(issues)")
        XCTAssertEqual(issues.first?.line, 5)

        for status in ["401", "403", "404", "413", "422"] {
            let issues = issuesFor(routeFields: "retry: { on: [\(status)] }")
            XCTAssertEqual(issues.count, 1, status)
            XCTAssertTrue(issues.first?.message.contains("client error") ?? false, "\(status): \(issues)")
        }
        // Statuses that are not errors at all cannot move on either.
        for status in ["200", "302"] {
            XCTAssertEqual(issuesFor(routeFields: "retry: { on: [\(status)] }").map(\.field), ["routes.chat.retry.on[0]"],
                           status)
        }
    }

    func testRetryOnUnknownWordIsRefused() {
        for word in ["sometimes", "4xx", "600", "-1", "Connect"] {
            let issues = issuesFor(routeFields: "retry: { on: [timeout, \"\(word)\"] }")
            XCTAssertEqual(issues.map(\.field), ["routes.chat.retry.on[1]"], word)
            XCTAssertTrue(issues.first?.message.hasPrefix("unknown failure '\(word)'") ?? false, "\(word): \(issues)")
        }
        XCTAssertEqual(issuesFor(routeFields: "retry: { on: connect }").map(\.message), ["expected a list, found a string"])
        XCTAssertEqual(issuesFor(routeFields: "retry: { attempts: 0 }").map(\.field), ["routes.chat.retry.attempts"])
        XCTAssertEqual(issuesFor(routeFields: "retry: { deadline: 0s }").map(\.field), ["routes.chat.retry.deadline"])
        XCTAssertEqual(issuesFor(routeFields: "retry: { tries: 3 }").map(\.message),
                       ["unknown field 'tries' (known: on, attempts, deadline, max_wait)"])
    }

    func testDefaultNamingAnUnknownEndpointIsRefused() {
        let issues = issuesFor(routeFields: "default: nope")
        XCTAssertEqual(issues.map(\.field), ["routes.chat.default"])
        XCTAssertEqual(issues.first?.message, #"unknown endpoint "nope" (endpoints of this route: a, b)"#)
        // An endpoint's provider/model is not its name when it has an explicit name.
        XCTAssertEqual(issuesFor(routeFields: "default: openai/gpt-4o").map(\.field), ["routes.chat.default"])
        XCTAssertEqual(issuesFor(routeFields: "prefer_warm: sometimes").map(\.field), ["routes.chat.prefer_warm"])
    }

    func testParamsMayNotSetModelOrStream() {
        for name in ["model", "stream", "stream_options"] {
            let issues = issuesFor(endpointFields: "params: { temperature: 1, \(name): x }")
            XCTAssertEqual(issues.map(\.field), ["routes.chat.endpoints[0].params.\(name)"], name)
            XCTAssertEqual(issues.first?.message, "'\(name)' cannot be set per endpoint")
        }
        XCTAssertEqual(issuesFor(endpointFields: "params: { temperature: .inf }").map(\.message), ["numbers must be finite"])
        XCTAssertEqual(issuesFor(endpointFields: "params: [temperature]").map(\.message), ["expected a mapping, found a list"])
    }

    func testFailureRatioOutsideZeroToOneIsRefused() {
        for ratio in ["2", "1", "0", "-0.5", "1.5", "\"0.5\"", "half"] {
            let issues = issuesFor(health: "{ failure_ratio: \(ratio) }")
            XCTAssertEqual(issues.map(\.field), ["health.failure_ratio"], ratio)
            XCTAssertTrue(issues.first?.message.contains("between 0 and 1") ?? false, "\(ratio): \(issues)")
        }
    }

    func testMaxCooldownShorterThanCooldownIsRefused() {
        let issues = issuesFor(health: "{ cooldown: 10s, max_cooldown: 5s }")
        XCTAssertEqual(issues.map(\.field), ["health.max_cooldown"])
        XCTAssertEqual(issues.first?.message, "max_cooldown must not be shorter than cooldown")
        // Against the default max_cooldown (5m) too.
        XCTAssertEqual(issuesFor(health: "{ cooldown: 10m }").map(\.message), ["max_cooldown must not be shorter than cooldown"])
        XCTAssertEqual(issuesFor(health: "{ min_calls: 0 }").map(\.field), ["health.min_calls"])
        XCTAssertEqual(issuesFor(health: "{ window: 0s }").map(\.field), ["health.window"])
    }

    func testZeroKeepWarmAndColdAfterAreRefused() {
        let issues = issuesFor(endpointFields: "keep_warm: 0s")
        XCTAssertEqual(issues.map(\.field), ["routes.chat.endpoints[0].keep_warm"])
        XCTAssertEqual(issues.first?.message, "must be longer than zero")
        XCTAssertEqual(issuesFor(endpointFields: "cold_after: 0ms").map(\.field), ["routes.chat.endpoints[0].cold_after"])
        XCTAssertEqual(issuesFor(endpointFields: "keep_warm: soon").map(\.field), ["routes.chat.endpoints[0].keep_warm"])
    }

    func testSeveralMistakesAreReportedTogether() {
        let error = configIssues("""
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            health: { failure_ratio: 2 }
            routes:
              chat:
                default: nope
                retry: { on: [400, bogus] }
                endpoints:
                  - { name: a, provider: openai, model: m, keep_warm: 0s, params: { model: x } }
            """)
        XCTAssertEqual(error.issues.map(\.field), [
            "health.failure_ratio", "routes.chat.default", "routes.chat.retry.on[0]", "routes.chat.retry.on[1]",
            "routes.chat.endpoints[0].keep_warm", "routes.chat.endpoints[0].params.model",
        ])
    }

    // MARK: Helpers

    /// The issues of a config whose route `chat` (endpoints `a` and `b`) has `routeFields`.
    private func issuesFor(routeFields: String, file: StaticString = #filePath, line: UInt = #line) -> [ConfigIssue] {
        configIssues("""
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            routes:
              chat:
                \(routeFields)
                endpoints:
                  - { name: a, provider: openai, model: gpt-4o }
                  - { name: b, provider: openai, model: gpt-4o-mini }
            """, file: file, line: line).issues
    }

    /// The issues of a config whose only endpoint has `endpointFields` too.
    private func issuesFor(endpointFields: String, file: StaticString = #filePath, line: UInt = #line) -> [ConfigIssue] {
        configIssues("""
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            routes:
              chat:
                endpoints:
                  - { name: a, provider: openai, model: gpt-4o, \(endpointFields) }
            """, file: file, line: line).issues
    }

    /// The issues of a config with `health: <health>`.
    private func issuesFor(health: String, file: StaticString = #filePath, line: UInt = #line) -> [ConfigIssue] {
        configIssues("""
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            health: \(health)
            routes: { chat: { endpoints: [ { provider: openai, model: gpt-4o } ] } }
            """, file: file, line: line).issues
    }

    /// `retry.on` of a route whose retry is `{on: <list>}`.
    private func retryOn(_ list: String, file: StaticString = #filePath, line: UInt = #line) throws -> FallbackConditions {
        let config = try XCTUnwrap(loadConfig("""
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            routes:
              chat:
                retry: { on: \(list) }
                endpoints: [ { provider: openai, model: gpt-4o } ]
            """, file: file, line: line), file: file, line: line).config
        return try XCTUnwrap(config.routes["chat"], file: file, line: line).retry.on
    }
}
