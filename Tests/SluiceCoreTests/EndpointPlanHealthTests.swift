import Foundation
import SluiceCore
import XCTest

/// `EndpointPlan` with shared health (cooldowns, probes, warmth), the rule / `default`
/// precedence, `HealthSnapshot.parse`, `RetryPolicy`, and `APIRequest.upstreamBody` with
/// per-endpoint `params`.
final class EndpointPlanHealthTests: XCTestCase {
    private let now: Int64 = 1_700_000_000_000

    // MARK: Cooldowns and probes

    func testCoolingEndpointsAreSkipped() {
        let route = planRoute([ep("a"), ep("b"), ep("c"), ep("fb", fallbackOnly: true)])
        let health = snapshot(["a": .init(state: .cooling(until: now + 5_000)),
                               "c": .init(state: .cooling(until: now + 1))])
        for draw in stride(from: 0.0, to: 1.0, by: 0.01) {
            XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: draw, health: health)), ["b", "fb"],
                           "draw \(draw)")
        }
        // Without a snapshot (Redis unavailable) every endpoint counts as healthy.
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0, health: nil)), ["a", "b", "c", "fb"])
        // A cooling fallback is skipped too.
        let fbCooling = snapshot(["fb": .init(state: .cooling(until: now + 5_000))])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0, health: fbCooling)), ["a", "b", "c"])
    }

    func testProbeGrantedIsUsableButProbingByAnotherResponderIsNot() {
        let route = planRoute([ep("granted"), ep("probing"), ep("healthy")])
        let health = snapshot(["granted": .init(state: .probeGranted), "probing": .init(state: .probing)])
        // Weighted pick over the usable primaries only: bands granted [0, .5), healthy [.5, 1).
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0, health: health)), ["granted", "healthy"])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0.49, health: health)), ["granted", "healthy"])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0.5, health: health)), ["healthy", "granted"])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0.99, health: health)), ["healthy", "granted"])

        XCTAssertTrue(EndpointHealth(state: .healthy).isUsable)
        XCTAssertTrue(EndpointHealth(state: .probeGranted).isUsable)
        XCTAssertFalse(EndpointHealth(state: .probing).isUsable)
        XCTAssertFalse(EndpointHealth(state: .cooling(until: now)).isUsable)
    }

    func testWhenEveryEndpointIsCoolingThePlanIsTheOneWhoseCooldownEndsFirst() {
        let route = planRoute([ep("a"), ep("b", weight: 5), ep("fb", fallbackOnly: true)])
        let bSoonest = snapshot(["a": .init(state: .cooling(until: now + 5_000)),
                                 "b": .init(state: .cooling(until: now + 2_000)),
                                 "fb": .init(state: .cooling(until: now + 3_000))])
        for draw in [0, 0.5, 0.99] {
            XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: draw, health: bSoonest)), ["b"])
        }
        // Even a fallback_only endpoint, when it is the one that comes back first.
        let fbSoonest = snapshot(["a": .init(state: .cooling(until: now + 5_000)),
                                  "b": .init(state: .cooling(until: now + 2_000)),
                                  "fb": .init(state: .cooling(until: now + 1_000))])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: ["x": "y"], draw: 0, health: fbSoonest)), ["fb"])
        XCTAssertEqual(bSoonest.availableAt(ep("a")), now + 5_000)
        XCTAssertEqual(bSoonest.availableAt(ep("unknown")), now, "an upstream missing from the snapshot is available now")
    }

    // MARK: Rules and the default endpoint

    func testTagRuleFirstThenDefaultWhenNoRuleMatches() {
        let route = planRoute([ep("a"), ep("b"), ep("c"), ep("fb", fallbackOnly: true)],
                              rules: [RouteRule(when: ["team": "x"], use: "c")], defaultEndpoint: "b")
        let healthy = snapshot([:])
        for health in [nil, healthy] {
            // A matching rule wins; the default is not moved to the front.
            XCTAssertEqual(names(EndpointPlan.order(for: route, tags: ["team": "x"], draw: 0, health: health)),
                           ["c", "a", "b", "fb"])
            XCTAssertEqual(names(EndpointPlan.order(for: route, tags: ["team": "x"], draw: 0.5, health: health)),
                           ["c", "b", "a", "fb"])
            // No rule matches: the default first, then the weighted pick.
            XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0, health: health)), ["b", "a", "c", "fb"])
            XCTAssertEqual(names(EndpointPlan.order(for: route, tags: ["team": "y"], draw: 0.9, health: health)),
                           ["b", "c", "a", "fb"])
            // The default also picked by weight appears once.
            XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0.5, health: health)), ["b", "a", "c", "fb"])
        }
        // A fallback_only default goes first too.
        let fbDefault = planRoute([ep("a"), ep("fb", fallbackOnly: true)], defaultEndpoint: "fb")
        XCTAssertEqual(names(EndpointPlan.order(for: fbDefault, tags: [:], draw: 0.3, health: healthy)), ["fb", "a"])
    }

    func testRuleEndpointCoolingFallsBackToWeights() {
        let route = planRoute([ep("a", weight: 1), ep("b", weight: 1), ep("c"), ep("fb", fallbackOnly: true)],
                              rules: [RouteRule(when: ["team": "x"], use: "c")])
        let cCooling = snapshot(["c": .init(state: .cooling(until: now + 10_000))])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: ["team": "x"], draw: 0, health: cCooling)), ["a", "b", "fb"])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: ["team": "x"], draw: 0.9, health: cCooling)), ["b", "a", "fb"])

        let defaulted = planRoute([ep("a"), ep("b"), ep("c")], defaultEndpoint: "c")
        let probing = snapshot(["c": .init(state: .probing)])
        XCTAssertEqual(names(EndpointPlan.order(for: defaulted, tags: [:], draw: 0.9, health: probing)), ["b", "a"])
        // Once the default holds the probe lease it goes first again.
        let granted = snapshot(["c": .init(state: .probeGranted)])
        XCTAssertEqual(names(EndpointPlan.order(for: defaulted, tags: [:], draw: 0.9, health: granted)), ["c", "a", "b"])
    }

    func testFallbackOnlyEndpointsComeLastInDeclaredOrder() {
        let route = planRoute([ep("fb1", fallbackOnly: true), ep("a", coldAfter: .seconds(60)), ep("fb2", fallbackOnly: true),
                               ep("b"), ep("fb3", fallbackOnly: true)])
        // a is cold (never succeeded), so it goes after b, but still before every fallback.
        let health = snapshot(["b": .init(state: .healthy, lastSuccess: now - 1_000),
                               "fb2": .init(state: .cooling(until: now + 1_000))])
        for draw in stride(from: 0.0, to: 1.0, by: 0.1) {
            XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: draw, health: health)),
                           ["b", "a", "fb1", "fb3"], "draw \(draw)")
            XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: draw, health: nil)).suffix(3),
                           ["fb1", "fb2", "fb3"], "draw \(draw)")
        }
    }

    // MARK: Warmth

    func testPreferWarmPutsColdEndpointsAfterWarmOnesAndPicksAmongWarm() {
        let route = planRoute([
            ep("stale", coldAfter: .seconds(60)),      // last success 2 min ago: cold
            ep("never", coldAfter: .seconds(60)),      // never succeeded: cold
            ep("fresh", coldAfter: .seconds(60)),      // succeeded 1 s ago: warm
            ep("always"),                              // no cold_after: never cold
            ep("fb", fallbackOnly: true),
        ])
        let health = snapshot(["stale": .init(state: .healthy, lastSuccess: now - 120_000),
                               "fresh": .init(state: .healthy, lastSuccess: now - 1_000)])
        XCTAssertTrue(health.isCold(ep("stale", coldAfter: .seconds(60))))
        XCTAssertTrue(health.isCold(ep("never", coldAfter: .seconds(60))))
        XCTAssertFalse(health.isCold(ep("fresh", coldAfter: .seconds(60))))
        XCTAssertFalse(health.isCold(ep("always")))

        // Bands among the two warm ones: fresh [0, .5), always [.5, 1).
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0, health: health)),
                       ["fresh", "always", "stale", "never", "fb"])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0.7, health: health)),
                       ["always", "fresh", "stale", "never", "fb"])
        var firsts: [String: Int] = [:]
        for index in 0..<1_000 {
            let order = EndpointPlan.order(for: route, tags: [:], draw: (Double(index) + 0.5) / 1_000, health: health)
            firsts[order[0].name, default: 0] += 1
            XCTAssertEqual(Array(names(order).suffix(3)), ["stale", "never", "fb"])
        }
        XCTAssertEqual(firsts, ["fresh": 500, "always": 500])
    }

    func testWhenEveryPrimaryIsColdTheWeightedPickIsAmongTheColdOnes() {
        let route = planRoute([ep("a", weight: 1, coldAfter: .seconds(10)), ep("b", weight: 3, coldAfter: .seconds(10)),
                               ep("fb", fallbackOnly: true)])
        let health = snapshot(["a": .init(state: .healthy, lastSuccess: now - 60_000)])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0.2, health: health)), ["a", "b", "fb"])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0.3, health: health)), ["b", "a", "fb"])
    }

    func testColdnessBoundaryIsStrictlyLongerThanColdAfter() {
        let endpoint = ep("x", coldAfter: .seconds(60))
        XCTAssertFalse(snapshot(["x": .init(state: .healthy, lastSuccess: now - 60_000)]).isCold(endpoint))
        XCTAssertTrue(snapshot(["x": .init(state: .healthy, lastSuccess: now - 60_001)]).isCold(endpoint))
        XCTAssertTrue(snapshot([:]).isCold(endpoint), "no success recorded at all")
    }

    func testPreferWarmFalseIgnoresColdness() {
        let endpoints = [ep("cold1", coldAfter: .seconds(60)), ep("cold2", coldAfter: .seconds(60)), ep("warm"),
                         ep("fb", fallbackOnly: true)]
        let health = snapshot(["cold1": .init(state: .healthy, lastSuccess: now - 3_600_000)])
        let route = planRoute(endpoints, preferWarm: false)
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0, health: health)),
                       ["cold1", "cold2", "warm", "fb"])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0.5, health: health)),
                       ["cold2", "cold1", "warm", "fb"])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0.9, health: health)),
                       ["warm", "cold1", "cold2", "fb"])
        // The same route preferring warm endpoints moves both cold ones back.
        let preferring = planRoute(endpoints, preferWarm: true)
        XCTAssertEqual(names(EndpointPlan.order(for: preferring, tags: [:], draw: 0, health: health)),
                       ["warm", "cold1", "cold2", "fb"])
        // Without a snapshot there is nothing to tell cold from warm.
        XCTAssertEqual(names(EndpointPlan.order(for: preferring, tags: [:], draw: 0, health: nil)),
                       ["cold1", "cold2", "warm", "fb"])
    }

    func testWeights80To20OverTenThousandDrawsWithACoolingThirdEndpoint() {
        let route = planRoute([ep("big", weight: 80), ep("gone", weight: 50), ep("small", weight: 20)])
        let health = snapshot(["gone": .init(state: .cooling(until: now + 60_000))])
        var firsts: [String: Int] = [:]
        for index in 0..<10_000 {
            let order = EndpointPlan.order(for: route, tags: [:], draw: Double(index) / 10_000, health: health)
            firsts[order[0].name, default: 0] += 1
            XCTAssertEqual(order.count, 2)
        }
        XCTAssertEqual(firsts, ["big": 8_000, "small": 2_000])
    }

    // MARK: HealthSnapshot.parse

    func testHealthSnapshotParse() throws {
        let upstreams = ["p/healthy", "p/cooling", "p/granted", "p/probing", "p/odd"]
        let values = [1_000,
                      0, 0, 900, 42, 40, 3,
                      1, 4_000, 0, -1, -1, -1,
                      2, 500, 800, 0, -1, -1,
                      3, 600, -1, 17, 20, -1,
                      9, 7, 0, -5, -1, -1]
        let parsed = try XCTUnwrap(HealthSnapshot.parse(values, upstreams: upstreams))
        XCTAssertEqual(parsed.now, 1_000)
        XCTAssertEqual(parsed.byUpstream.count, 5)
        XCTAssertEqual(parsed.byUpstream["p/healthy"], EndpointHealth(state: .healthy, lastSuccess: 900, lastLatencyMs: 42,
                                                                      averageLatencyMs: 40, inFlight: 3))
        XCTAssertEqual(parsed.byUpstream["p/cooling"], EndpointHealth(state: .cooling(until: 4_000)))
        XCTAssertEqual(parsed.byUpstream["p/granted"], EndpointHealth(state: .probeGranted, lastSuccess: 800, lastLatencyMs: 0))
        XCTAssertEqual(parsed.byUpstream["p/probing"], EndpointHealth(state: .probing, lastLatencyMs: 17, averageLatencyMs: 20))
        XCTAssertEqual(parsed.byUpstream["p/odd"], EndpointHealth(state: .healthy))
        XCTAssertEqual(parsed.availableAt(ep("cooling")), 4_000)
        XCTAssertEqual(parsed.availableAt(ep("probing")), 1_000)

        // The parsed snapshot drives the plan.
        let route = planRoute([ep("cooling"), ep("probing"), ep("granted")])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0, health: parsed)), ["granted"])

        XCTAssertNotNil(HealthSnapshot.parse([5], upstreams: []))
        XCTAssertEqual(HealthSnapshot.parse([5], upstreams: [])?.byUpstream.count, 0)
    }

    func testHealthSnapshotParseRejectsWrongLengths() {
        XCTAssertNil(HealthSnapshot.parse([], upstreams: []))
        XCTAssertNil(HealthSnapshot.parse([1], upstreams: ["p/a"]))
        XCTAssertNil(HealthSnapshot.parse([1, 0, 0, 0, -1, -1], upstreams: ["p/a"]))
        XCTAssertNil(HealthSnapshot.parse([1, 0, 0, 0, -1, -1, -1, 0], upstreams: ["p/a"]))
        XCTAssertNil(HealthSnapshot.parse([1, 0, 0, 0, -1, -1, -1], upstreams: ["p/a", "p/b"]))
        XCTAssertNil(HealthSnapshot.parse([0, 0, 0, -1, -1, -1], upstreams: ["p/a"]), "the time must come first")
        XCTAssertNotNil(HealthSnapshot.parse([1, 0, 0, 0, -1, -1, -1], upstreams: ["p/a"]))
    }

    // MARK: RetryPolicy

    func testShouldTryNextWithDefaultConditions() {
        let defaults = FallbackConditions.defaults
        for status in [408, 429, 500, 502, 503, 504, 529, 599] {
            XCTAssertTrue(RetryPolicy.shouldTryNext(status: status, on: defaults), "\(status)")
        }
        for status in [200, 400, 401, 403, 404, 409, 413, 422, 425, 499, 600] {
            XCTAssertFalse(RetryPolicy.shouldTryNext(status: status, on: defaults), "\(status)")
        }
        XCTAssertTrue(RetryPolicy.shouldTryNext(.connect("refused"), on: defaults))
        XCTAssertTrue(RetryPolicy.shouldTryNext(.timeout(.firstByte), on: defaults))
        XCTAssertTrue(RetryPolicy.shouldTryNext(.transport("reset"), on: defaults))
        XCTAssertFalse(RetryPolicy.shouldTryNext(.aborted, on: defaults))
    }

    func testShouldTryNextWithCustomConditions() {
        let custom = FallbackConditions(connect: true, timeout: false, dropped: false, statuses: [409, 503])
        XCTAssertTrue(RetryPolicy.shouldTryNext(status: 503, on: custom))
        XCTAssertTrue(RetryPolicy.shouldTryNext(status: 409, on: custom))
        XCTAssertFalse(RetryPolicy.shouldTryNext(status: 429, on: custom))
        XCTAssertFalse(RetryPolicy.shouldTryNext(status: 500, on: custom))
        XCTAssertTrue(RetryPolicy.shouldTryNext(.connect("dns"), on: custom))
        XCTAssertFalse(RetryPolicy.shouldTryNext(.timeout(.total), on: custom))
        XCTAssertFalse(RetryPolicy.shouldTryNext(.transport("eof"), on: custom))
        XCTAssertFalse(RetryPolicy.shouldTryNext(.aborted, on: custom))

        let nothing = FallbackConditions(connect: false, timeout: true, dropped: true, statuses: [])
        XCTAssertFalse(RetryPolicy.shouldTryNext(status: 503, on: nothing))
        XCTAssertFalse(RetryPolicy.shouldTryNext(.connect("refused"), on: nothing))
        XCTAssertTrue(RetryPolicy.shouldTryNext(.timeout(.idle), on: nothing))
        XCTAssertTrue(RetryPolicy.shouldTryNext(.transport("eof"), on: nothing))
    }

    func testQuotaExhaustionIsA429WithAQuotaCodeNotAPlain429() {
        func upstream(_ status: Int, message: String = "Request failed", type: String? = nil,
                      code: String? = nil) -> GatewayError {
            GatewayError(upstreamStatus: status, message: message, type: type, code: code, param: nil, retryAfter: nil)
        }
        XCTAssertTrue(RetryPolicy.isQuotaExhausted(upstream(429, type: "insufficient_quota", code: "insufficient_quota")))
        XCTAssertTrue(RetryPolicy.isQuotaExhausted(upstream(429, code: "insufficient_quota")))
        XCTAssertTrue(RetryPolicy.isQuotaExhausted(upstream(429, type: "insufficient_quota")))
        XCTAssertTrue(RetryPolicy.isQuotaExhausted(upstream(429, code: "billing_hard_limit_reached")))
        XCTAssertTrue(RetryPolicy.isQuotaExhausted(upstream(
            429, message: "You Exceeded your current quota, please check your plan and billing details.")))

        XCTAssertFalse(RetryPolicy.isQuotaExhausted(upstream(
            429, message: "Rate limit reached for gpt-4o on requests per min.", type: "requests", code: "rate_limit_exceeded")))
        XCTAssertFalse(RetryPolicy.isQuotaExhausted(upstream(429)))
        XCTAssertFalse(RetryPolicy.isQuotaExhausted(upstream(403, code: "insufficient_quota")),
                       "only a 429 can mean the quota is used up")
        XCTAssertFalse(RetryPolicy.isQuotaExhausted(upstream(500, message: "You exceeded your current quota")))
        XCTAssertFalse(RetryPolicy.isQuotaExhausted(GatewayError(.upstreamUnavailable, "insufficient_quota")))
    }

    // MARK: upstreamBody with params

    func testParamReplacesAnExistingNumericFieldInPlace() throws {
        let body = #"{"model":"fast","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"max_tokens":10}"#
        let request = try APIRequest(operation: .chatCompletions, body: Array(body.utf8))
        let out = request.upstreamBody(model: "gpt-4o", params: [("temperature", "0.75")])
        XCTAssertEqual(text(out),
                       #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.75,"max_tokens":10}"#)
        let object = try jsonObject(out)
        XCTAssertEqual(object["temperature"] as? Double, 0.75)
        XCTAssertEqual(object["max_tokens"] as? Int, 10)
        XCTAssertEqual(object["model"] as? String, "gpt-4o")
        // The request itself is unchanged.
        XCTAssertEqual(request.body, Array(body.utf8))
    }

    func testParamsAreAddedBeforeTheClosingBrace() throws {
        let body = #"{"model":"fast","messages":[{"role":"user","content":"a } in text"}],"user":"u}"}"#
        let request = try APIRequest(operation: .chatCompletions, body: Array(body.utf8))
        let out = request.upstreamBody(model: "m", params: [
            ("top_p", "0.9"),
            ("response_format", #"{"type":"json_schema","json_schema":{"name":"x","strict":true}}"#),
            ("stop", #"["\n","END"]"#),
        ])
        XCTAssertEqual(text(out), #"{"model":"m","messages":[{"role":"user","content":"a } in text"}],"user":"u}","#
                       + #""top_p":0.9,"response_format":{"type":"json_schema","json_schema":{"name":"x","strict":true}},"#
                       + #""stop":["\n","END"]}"#)
        let object = try jsonObject(out)
        XCTAssertEqual(object["top_p"] as? Double, 0.9)
        XCTAssertEqual(object["user"] as? String, "u}")
        let format = try XCTUnwrap(object["response_format"] as? [String: Any])
        XCTAssertEqual(format["type"] as? String, "json_schema")
        XCTAssertEqual((format["json_schema"] as? [String: Any])?["strict"] as? Bool, true)
        XCTAssertEqual(object["stop"] as? [String], ["\n", "END"])
    }

    func testReplacingAndAddingTogetherWithWhitespaceAndTrailingNewline() throws {
        let body = "{\n  \"temperature\" : 1 ,\n  \"model\" : \"fast\",\n  \"messages\" : [ ],\n  \"seed\": 3\n}\n \r\n"
        let request = try APIRequest(operation: .chatCompletions, body: Array(body.utf8))
        let out = request.upstreamBody(model: "a\"b", params: [("seed", "42"), ("max_tokens", "64"),
                                                              ("temperature", "null")])
        XCTAssertEqual(text(out),
                       "{\n  \"temperature\" : null ,\n  \"model\" : \"a\\\"b\",\n  \"messages\" : [ ],\n  \"seed\": 42\n"
                       + ",\"max_tokens\":64}\n \r\n")
        let object = try jsonObject(out)
        XCTAssertEqual(object["model"] as? String, "a\"b")
        XCTAssertEqual(object["seed"] as? Int, 42)
        XCTAssertEqual(object["max_tokens"] as? Int, 64)
        XCTAssertTrue(object["temperature"] is NSNull)
    }

    func testParamOnAMinimalBody() throws {
        // `{"model":"x"}` alone is not a valid request for any operation (each needs its
        // prompt / messages / input), so the smallest body has two members.
        for operation in [APIOperation.chatCompletions, .completions, .embeddings] {
            XCTAssertThrowsError(try APIRequest(operation: operation, body: Array(#"{"model":"x"}"#.utf8)))
        }
        let request = try APIRequest(operation: .embeddings, body: Array(#"{"model":"x","input":"a"}"#.utf8))
        XCTAssertEqual(text(request.upstreamBody(model: "bge", params: [("dimensions", "256")])),
                       #"{"model":"bge","input":"a","dimensions":256}"#)
        XCTAssertEqual(text(request.upstreamBody(model: "bge", params: [("input", #"["b","c"]"#)])),
                       #"{"model":"bge","input":["b","c"]}"#)
        XCTAssertEqual(text(request.upstreamBody(model: "bge", params: [])), #"{"model":"bge","input":"a"}"#)
        let formatted = try jsonObject(request.upstreamBody(model: "bge", params: [("encoding_format", #""float""#)]))
        XCTAssertEqual(formatted["encoding_format"] as? String, "float")
    }

    func testEveryOtherByteIsUntouched() throws {
        // Odd spacing, escapes and number spellings survive exactly.
        let body = #"{ "messages" :[{"role":"user","content":"caf\u00e9 \"q\" é"}],"n":1E0, "model":"r" ,"logit_bias":{"1":-1.50}}"#
        let request = try APIRequest(operation: .chatCompletions, body: Array(body.utf8))
        let out = request.upstreamBody(model: "r2", params: [("n", "2")])
        XCTAssertEqual(text(out),
                       #"{ "messages" :[{"role":"user","content":"caf\u00e9 \"q\" é"}],"n":2, "model":"r2" ,"logit_bias":{"1":-1.50}}"#)
        _ = try jsonObject(out)
    }

    // MARK: Helpers

    // MARK: balance: latency

    func testLatencyBalancingPicksTheFastestExceptWhenExploring() {
        var route = planRoute([ep("a"), ep("b"), ep("c", weight: 0), ep("spare", fallbackOnly: true)])
        route.balance = .latency(explore: 0.2)
        let health = snapshot(["a": EndpointHealth(state: .healthy, averageLatencyMs: 900),
                               "b": EndpointHealth(state: .healthy, averageLatencyMs: 120),
                               "c": EndpointHealth(state: .healthy, averageLatencyMs: 5)])
        // Draws at or above 0.2 take the fastest with a positive weight (c has weight 0).
        for draw in [0.2, 0.5, 0.99] {
            XCTAssertEqual(EndpointPlan.order(for: route, tags: [:], draw: draw, health: health).first?.name, "b")
        }
        // Draws below go by weight over the whole band: a below 0.1, b from 0.1.
        XCTAssertEqual(EndpointPlan.order(for: route, tags: [:], draw: 0.05, health: health).first?.name, "a")
        XCTAssertEqual(EndpointPlan.order(for: route, tags: [:], draw: 0.15, health: health).first?.name, "b")
        // An endpoint not measured yet is tried first, so it gets measured.
        let fresh = snapshot(["a": EndpointHealth(state: .healthy, averageLatencyMs: 900),
                              "b": EndpointHealth(state: .healthy)])
        XCTAssertEqual(EndpointPlan.order(for: route, tags: [:], draw: 0.5, health: fresh).first?.name, "b")
        // A cooling endpoint is not picked however fast it was; fallbacks stay last.
        let cooling = snapshot(["a": EndpointHealth(state: .healthy, averageLatencyMs: 900),
                                "b": EndpointHealth(state: .cooling(until: now + 1000), averageLatencyMs: 1)])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0.5, health: cooling)), ["a", "c", "spare"])
        // Without a snapshot (one endpoint, or Redis away) it is a weighted draw.
        XCTAssertEqual(EndpointPlan.order(for: route, tags: [:], draw: 0.9, health: nil).first?.name, "b")
    }

    func testWeightsCapTheFastestEndpointsShare() {
        var route = planRoute([ep("light", weight: 1), ep("heavy", weight: 9)])
        route.balance = .latency(explore: 0)
        let health = snapshot(["light": EndpointHealth(state: .healthy, averageLatencyMs: 10),
                               "heavy": EndpointHealth(state: .healthy, averageLatencyMs: 500)])
        var picks: [String: Int] = [:]
        for step in 0..<900 {
            let first = EndpointPlan.order(for: route, tags: [:], draw: (Double(step) + 0.5) / 900, health: health).first!.name
            picks[first, default: 0] += 1
        }
        // The fast light endpoint: its cap (1/9 of the picks) plus its weighted share of
        // the rest (1/10 of 8/9) — about 20%, not everything.
        XCTAssertEqual(Double(picks["light"] ?? 0) / 900, 1.0 / 9 + 0.8 / 9, accuracy: 0.01)
    }

    func testLeastBusyPicksTheEndpointWithFewestCallsInFlight() {
        var route = planRoute([ep("a"), ep("b", weight: 3), ep("c"), ep("idle", weight: 0)])
        route.balance = .leastBusy
        let health = snapshot(["a": EndpointHealth(state: .healthy, inFlight: 4), "b": EndpointHealth(state: .healthy, inFlight: 1),
                               "c": EndpointHealth(state: .healthy, inFlight: 1), "idle": EndpointHealth(state: .healthy, inFlight: 0)])
        // b and c tie at 1 (weight 0 is never picked): drawn by weight, b 3/4 of the band.
        XCTAssertEqual(EndpointPlan.order(for: route, tags: [:], draw: 0.1, health: health).first?.name, "b")
        XCTAssertEqual(EndpointPlan.order(for: route, tags: [:], draw: 0.8, health: health).first?.name, "c")
        let quiet = snapshot(["a": EndpointHealth(state: .healthy, inFlight: 0), "b": EndpointHealth(state: .healthy, inFlight: 2),
                              "c": EndpointHealth(state: .healthy, inFlight: 5)])
        // a is idlest but weighs 1 of the largest 3: a third of the draws; the rest by weight.
        XCTAssertEqual(EndpointPlan.order(for: route, tags: [:], draw: 0.2, health: quiet).first?.name, "a")
        XCTAssertEqual(EndpointPlan.order(for: route, tags: [:], draw: 0.9, health: quiet).first?.name, "c")
    }

    func testWeightsCapTheLeastBusyEndpointsShare() {
        var route = planRoute([ep("light", weight: 1), ep("heavy", weight: 9)])
        route.balance = .leastBusy
        let health = snapshot(["light": EndpointHealth(state: .healthy, inFlight: 0),
                               "heavy": EndpointHealth(state: .healthy, inFlight: 6)])
        func share(_ name: String, _ health: HealthSnapshot) -> Double {
            let picks = (0..<900).filter { step in
                EndpointPlan.order(for: route, tags: [:], draw: (Double(step) + 0.5) / 900, health: health).first?.name == name
            }
            return Double(picks.count) / 900
        }
        // The idle light endpoint: its cap (1/9 of the picks) plus its weighted share of
        // the rest (1/10 of 8/9), about 20%, not every call.
        XCTAssertEqual(share("light", health), 1.0 / 9 + 0.8 / 9, accuracy: 0.01)
        // The idle heavy endpoint is not limited (the largest weight).
        let heavyIdle = snapshot(["light": EndpointHealth(state: .healthy, inFlight: 3),
                                  "heavy": EndpointHealth(state: .healthy, inFlight: 0)])
        XCTAssertEqual(share("heavy", heavyIdle), 1, accuracy: 0.001)
        // Equal weights: the idlest takes every call, as before.
        route.endpoints = [ep("light", weight: 2), ep("heavy", weight: 2)]
        XCTAssertEqual(share("light", health), 1, accuracy: 0.001)
    }

    private func ep(_ name: String, weight: Int = 1, fallbackOnly: Bool = false, coldAfter: Duration? = nil) -> EndpointConfig {
        EndpointConfig(name: name, provider: "p", model: name, weight: weight, fallbackOnly: fallbackOnly, coldAfter: coldAfter)
    }

    private func planRoute(_ endpoints: [EndpointConfig], rules: [RouteRule] = [], defaultEndpoint: String? = nil,
                           preferWarm: Bool = true) -> RouteConfig {
        RouteConfig(name: "r", type: .chat, endpoints: endpoints, rules: rules, defaultEndpoint: defaultEndpoint,
                    preferWarm: preferWarm)
    }

    /// A snapshot at `now` keyed by endpoint name (each endpoint's upstream is `p/<name>`).
    private func snapshot(_ byName: [String: EndpointHealth]) -> HealthSnapshot {
        HealthSnapshot(now: now, byUpstream: Dictionary(uniqueKeysWithValues: byName.map { ("p/\($0.key)", $0.value) }))
    }

    private func names(_ order: [EndpointConfig]) -> [String] { order.map(\.name) }

    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    private func jsonObject(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(bytes))
        return try XCTUnwrap(value as? [String: Any], "not a JSON object: \(text(bytes))", file: file, line: line)
    }
}
