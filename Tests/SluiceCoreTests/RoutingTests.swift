import SluiceCore
import XCTest

/// `EndpointPlan` (attempt order), `RequestTags` (the tags header) and `RetryPolicy`.
final class RoutingTests: XCTestCase {
    // MARK: EndpointPlan

    func testSinglePrimaryThenFallbacksInDeclaredOrder() {
        let route = route([
            endpoint("fb1", fallbackOnly: true), endpoint("main"), endpoint("fb2", fallbackOnly: true),
        ])
        for draw in [0, 0.5, 0.999_999, 1] {
            XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: draw)), ["main", "fb1", "fb2"])
        }
    }

    func testWeightedPickComesFirstThenRemainingPrimariesThenFallbacks() {
        let route = route([
            endpoint("a", weight: 1), endpoint("fb", fallbackOnly: true), endpoint("b", weight: 2), endpoint("c", weight: 1),
        ])
        // Cumulative bands of 4: a [0, .25), b [.25, .75), c [.75, 1).
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0)), ["a", "b", "c", "fb"])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0.24)), ["a", "b", "c", "fb"])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0.25)), ["b", "a", "c", "fb"])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0.74)), ["b", "a", "c", "fb"])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0.75)), ["c", "a", "b", "fb"])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0.999_999)), ["c", "a", "b", "fb"])
        // Out-of-range draws are clamped, not trapped.
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 1)), ["c", "a", "b", "fb"])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 7)), ["c", "a", "b", "fb"])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: -3)), ["a", "b", "c", "fb"])
    }

    func testZeroWeightPrimaryIsNeverPickedFirstButIsStillTried() {
        let route = route([endpoint("zero", weight: 0), endpoint("one", weight: 1)])
        for draw in stride(from: 0.0, to: 1.0, by: 0.05) {
            XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: draw)), ["one", "zero"], "draw \(draw)")
        }
    }

    func testAllZeroWeightsPickTheFirstPrimary() {
        let route = route([endpoint("fb", fallbackOnly: true), endpoint("x", weight: 0), endpoint("y", weight: 0)])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0.9)), ["x", "y", "fb"])
    }

    func testFirstMatchingRuleGoesFirst() {
        let route = route(
            [endpoint("a", weight: 1), endpoint("b", weight: 1), endpoint("fb", fallbackOnly: true)],
            rules: [
                RouteRule(when: ["team": "support", "tier": "gold"], use: "b"),
                RouteRule(when: ["team": "support"], use: "fb"),
                RouteRule(when: ["team": "support"], use: "a"),
            ])
        // No tags: no rule; draw 0 picks a.
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: [:], draw: 0)), ["a", "b", "fb"])
        // Both tags: the first rule wins even though the second also matches.
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: ["team": "support", "tier": "gold"], draw: 0)),
                       ["b", "a", "fb"])
        // Only team: the second rule; a fallback endpoint named by a rule goes first, once.
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: ["team": "support", "other": "x"], draw: 0.9)),
                       ["fb", "b", "a"])
        // Values must match exactly.
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: ["team": "Support"], draw: 0.9)), ["b", "a", "fb"])
    }

    func testRuleNamingTheWeightedPickDoesNotDuplicateIt() {
        let route = route([endpoint("a"), endpoint("b")], rules: [RouteRule(when: ["x": "1"], use: "a")])
        let order = EndpointPlan.order(for: route, tags: ["x": "1"], draw: 0.1)
        XCTAssertEqual(names(order), ["a", "b"])
    }

    func testRuleNamingAnUnknownEndpointIsIgnored() {
        let route = route([endpoint("a"), endpoint("b")], rules: [RouteRule(when: ["x": "1"], use: "nope")])
        XCTAssertEqual(names(EndpointPlan.order(for: route, tags: ["x": "1"], draw: 0.9)), ["b", "a"])
    }

    func testEveryEndpointAppearsExactlyOnceForAnyDrawAndTags() {
        let endpoints = [endpoint("a", weight: 3), endpoint("b", weight: 0), endpoint("f1", fallbackOnly: true),
                         endpoint("c", weight: 5), endpoint("f2", fallbackOnly: true)]
        let route = route(endpoints, rules: [RouteRule(when: ["t": "1"], use: "f2"), RouteRule(when: ["t": "2"], use: "c")])
        for tags in [[:], ["t": "1"], ["t": "2"], ["t": "3"]] {
            for step in 0...100 {
                let order = names(EndpointPlan.order(for: route, tags: tags, draw: Double(step) / 100))
                XCTAssertEqual(order.sorted(), ["a", "b", "c", "f1", "f2"], "tags \(tags) draw \(step)")
                XCTAssertEqual(Array(order.suffix(2)).filter { $0.hasPrefix("f") }.count,
                               tags["t"] == "1" ? 1 : 2, "fallbacks last unless a rule moves one first")
            }
        }
    }

    func testWeights80To20OverEvenlySpacedDraws() {
        let route = route([endpoint("big", weight: 80), endpoint("small", weight: 20)])
        let draws = 10_000
        var firsts: [String: Int] = [:]
        for index in 0..<draws {
            let draw = (Double(index) + 0.5) / Double(draws)
            firsts[EndpointPlan.order(for: route, tags: [:], draw: draw)[0].name, default: 0] += 1
        }
        XCTAssertEqual(Double(firsts["big"] ?? 0) / Double(draws), 0.8, accuracy: 0.02)
        XCTAssertEqual(Double(firsts["small"] ?? 0) / Double(draws), 0.2, accuracy: 0.02)
        XCTAssertEqual((firsts["big"] ?? 0) + (firsts["small"] ?? 0), draws)
    }

    func testThreeWayWeightsOverEvenlySpacedDraws() {
        let route = route([endpoint("a", weight: 1), endpoint("b", weight: 3), endpoint("c", weight: 6)])
        var firsts: [String: Int] = [:]
        for index in 0..<10_000 {
            firsts[EndpointPlan.order(for: route, tags: [:], draw: Double(index) / 10_000)[0].name, default: 0] += 1
        }
        XCTAssertEqual(firsts["a"] ?? 0, 1_000, accuracy: 200)
        XCTAssertEqual(firsts["b"] ?? 0, 3_000, accuracy: 200)
        XCTAssertEqual(firsts["c"] ?? 0, 6_000, accuracy: 200)
    }

    // MARK: RequestTags

    func testTagsParse() throws {
        XCTAssertEqual(try RequestTags.parse(header: "team=support"), ["team": "support"])
        XCTAssertEqual(try RequestTags.parse(header: "team=support,project_id=bot"), ["team": "support", "project_id": "bot"])
        XCTAssertEqual(try RequestTags.parse(header: " team = support ,\tproject_id=bot\t"),
                       ["team": "support", "project_id": "bot"])
        XCTAssertEqual(try RequestTags.parse(header: "expr=a=b"), ["expr": "a=b"], "only the first '=' splits")
        XCTAssertEqual(try RequestTags.parse(header: "x=1,x=2"), ["x": "2"], "a repeated name keeps the last value")
        XCTAssertEqual(try RequestTags.parse(header: ""), [:])
        XCTAssertEqual(try RequestTags.parse(header: "  "), [:], "blank entries are skipped")
        XCTAssertEqual(try RequestTags.parse(header: "a=b, "), ["a": "b"], "a trailing separator is tolerated")
        XCTAssertEqual(try RequestTags.parse(header: "a=b,"), ["a": "b"])
        XCTAssertEqual(try RequestTags.parse(header: "v=value with spaces"), ["v": "value with spaces"])
    }

    func testTagLengthLimits() throws {
        let name64 = String(repeating: "n", count: 64)
        let value256 = String(repeating: "v", count: 256)
        XCTAssertEqual(try RequestTags.parse(header: "\(name64)=\(value256)"), [name64: value256])
        XCTAssertNotNil(tagsFailure("\(name64)n=v"))
        XCTAssertNotNil(tagsFailure("n=\(value256)v"))
        // Limits are in bytes, not characters.
        XCTAssertNotNil(tagsFailure("n=" + String(repeating: "é", count: 129)))
    }

    func testMalformedTagsAre400() {
        for header in ["team", "team=", "=support", " = ", "team=support,broken", "a=b,=c", "=", "a=\t"] {
            let error = tagsFailure(header)
            XCTAssertEqual(error?.code, .invalidRequest, header.debugDescription)
            XCTAssertEqual(error?.httpStatus, 400, header.debugDescription)
        }
    }

    // MARK: RetryPolicy

    func testRetryableStatuses() {
        for status in [408, 429, 500, 502, 503, 504, 529, 599] {
            XCTAssertTrue(RetryPolicy.shouldTryNext(status: status, on: .defaults), "\(status)")
        }
        for status in [200, 204, 301, 400, 401, 403, 404, 409, 413, 422, 499, 600] {
            XCTAssertFalse(RetryPolicy.shouldTryNext(status: status, on: .defaults), "\(status)")
        }
    }

    func testRetryableFailures() {
        XCTAssertTrue(RetryPolicy.shouldTryNext(.connect("refused"), on: .defaults))
        XCTAssertTrue(RetryPolicy.shouldTryNext(.transport("reset"), on: .defaults))
        for kind in [UpstreamFailure.TimeoutKind.connect, .firstByte, .idle, .total] {
            XCTAssertTrue(RetryPolicy.shouldTryNext(.timeout(kind), on: .defaults), kind.rawValue)
        }
        XCTAssertFalse(RetryPolicy.shouldTryNext(.aborted, on: .defaults), "the client left: nobody to answer")
    }
}

private func endpoint(_ name: String, weight: Int = 1, fallbackOnly: Bool = false) -> EndpointConfig {
    EndpointConfig(name: name, provider: "p", model: "model-" + name, weight: weight, fallbackOnly: fallbackOnly)
}

private func route(_ endpoints: [EndpointConfig], rules: [RouteRule] = []) -> RouteConfig {
    RouteConfig(name: "r", type: .chat, endpoints: endpoints, rules: rules)
}

private func names(_ order: [EndpointConfig]) -> [String] { order.map(\.name) }

private func tagsFailure(_ header: String, file: StaticString = #filePath, line: UInt = #line) -> GatewayError? {
    do {
        let tags = try RequestTags.parse(header: header)
        XCTFail("accepted \(header.debugDescription) as \(tags)", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

final class ContextWindowTests: XCTestCase {
    func testProvidersTooLongAnswersAreRecognised() {
        let yes = [
            (400, #"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#),
            (400, #"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#),
            (400, #"{"type":"error","error":{"type":"invalid_request_error","message":"input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000"}}"#),
            (400, #"{"message":"Input is too long for requested model."}"#),
        ]
        for (status, body) in yes { XCTAssertTrue(ContextWindow.isExceeded(status: status, body: Array(body.utf8)), body) }
        XCTAssertFalse(ContextWindow.isExceeded(status: 500, body: Array("context_length_exceeded".utf8)), "only a client error")
        XCTAssertFalse(ContextWindow.isExceeded(status: 400, body: Array(#"{"error":{"message":"Invalid 'temperature'"}}"#.utf8)))
    }

    private func needed(_ body: String, _ operation: APIOperation = .chatCompletions) throws -> Int {
        ContextWindow.needed(try APIRequest(operation: operation, body: Array(body.utf8)))
    }

    func testTheEstimateCountsTextToolSchemasAndOutputSchemasButNotKeysOrImageData() throws {
        // The text only: "hello there" (11 bytes) is 3 tokens; roles, keys and the model are not read.
        XCTAssertEqual(try needed(#"{"model":"m","messages":[{"role":"user","content":"hello there"}],"max_tokens":100}"#), 103)
        // The system prompt and tool call arguments count like messages.
        XCTAssertEqual(try needed(#"{"model":"m","system":"be brief","messages":[{"role":"user","content":"hi"}],"max_tokens":1}"#,
                                  .messages), 3 + 1)  // "be brief" + "hi": 10 bytes
        let image = String(repeating: "A", count: 40_000)
        XCTAssertEqual(try needed(#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is it?"},"#
                                  + #"{"type":"image_url","image_url":{"url":"data:image/png;base64,\#(image)"}}]}]}"#), 3,
                       "image data is not prompt text")
        // Tool definitions count whole (their JSON schema), once: the description inside is
        // not counted twice.
        let tools = #"[{"type":"function","function":{"name":"get_weather","description":"Weather for a city","#
            + #""parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]"#
        let withTools = #"{"model":"m","messages":[{"role":"user","content":"hello there"}],"tools":\#(tools)}"#
        XCTAssertEqual(try needed(withTools), TokenUsage.estimate(bytes: 11 + tools.utf8.count))
        // An output schema too (OpenAI's response_format, the Responses API's text.format).
        let format = #"{"type":"json_schema","json_schema":{"name":"city","schema":{"type":"object","properties":{"name":{"type":"string"}}}}}"#
        XCTAssertEqual(try needed(#"{"model":"m","messages":[{"role":"user","content":"hello there"}],"response_format":\#(format)}"#),
                       TokenUsage.estimate(bytes: 11 + format.utf8.count))
        let text = #"{"format":{"type":"json_schema","name":"city","schema":{"type":"object"}}}"#
        XCTAssertEqual(try needed(#"{"model":"m","input":"hello there","text":\#(text)}"#, .responses),
                       TokenUsage.estimate(bytes: 11 + text.utf8.count))
        // Anthropic's tools (input_schema) and tool_choice.
        let anthropicTools = #"[{"name":"get_weather","description":"Weather","input_schema":{"type":"object"}}]"#
        let choice = #"{"type":"tool","name":"get_weather"}"#
        XCTAssertEqual(try needed(#"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hello there"}],"#
                                  + #""tools":\#(anthropicTools),"tool_choice":\#(choice)}"#, .messages),
                       TokenUsage.estimate(bytes: 11 + anthropicTools.utf8.count + choice.utf8.count) + 10)
    }

    func testEndpointsWithoutAWindowAlwaysFit() {
        var small = EndpointConfig(name: "small", provider: "p", model: "m")
        small.contextWindow = 100
        let open = EndpointConfig(name: "open", provider: "p", model: "n")
        let result = ContextWindow.fitting([small, open], needed: 150)
        XCTAssertEqual(result.fit.map(\.name), ["open"])
        XCTAssertEqual(result.skipped, ["small"])
        XCTAssertEqual(ContextWindow.fitting([small, open], needed: 100).fit.map(\.name), ["small", "open"])
    }
}
