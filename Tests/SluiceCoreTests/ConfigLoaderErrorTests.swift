import SluiceCore
import XCTest

/// Each class of mistake in `sluice.yaml` is reported at its line, with its field path.
final class ConfigLoaderErrorTests: XCTestCase {
    /// `line field: message` for each issue, in the order reported.
    private func summary(_ error: ConfigError) -> [String] {
        error.issues.map { "\($0.line) \($0.field): \($0.message)" }
    }

    func testUnknownProviderNamesFileLineColumnFieldAndKnownProviders() {
        let error = configIssues("""
            redis: { url: "redis://localhost" }
            providers:
              openai: { kind: openai }
              local: { kind: openai_compatible, base_url: "http://localhost:8000/v1" }
            routes:
              chat:
                endpoints:
                  - provider: opnai
                    model: gpt-4o
            """)
        XCTAssertEqual(error.description,
                       #"sluice.yaml:8:19: routes.chat.endpoints[0].provider: unknown provider "opnai" (known: openai, local)"#)
    }

    func testMetricTagsAreLabelSafeNamesAndTheirValueCapIsBounded() {
        let loaded = loadConfig("""
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            routes: { chat: { endpoints: [ { provider: openai, model: gpt-4o } ] } }
            audit: { metric_tags: [team, project_id, team], metric_tag_values: 20 }
            """)
        XCTAssertEqual(loaded?.config.audit.metricTags, ["team", "project_id"])
        XCTAssertEqual(loaded?.config.audit.metricTagValues, 20)
        let error = configIssues("""
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            routes: { chat: { endpoints: [ { provider: openai, model: gpt-4o } ] } }
            audit:
              metric_tags: [team, "a\\"b"]
              metric_tag_values: 0
            """)
        XCTAssertEqual(summary(error).map { String($0.prefix(60)) }, [
            "5 audit.metric_tags[1]: a metric tag name is letters, digits",
            "6 audit.metric_tag_values: must be between 1 and 1000, found",
        ])
    }

    func testTelemetryFieldsAreCheckedByName() {
        let error = configIssues("""
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            routes: { chat: { endpoints: [ { provider: openai, model: gpt-4o } ] } }
            telemetry:
              otlp_endpoint: "grpc://collector:4317"
              headers: { "bad header": x }
              max_queue: 0
              sampler: always
            """)
        XCTAssertEqual(summary(error), [
            "5 telemetry.otlp_endpoint: expected an http:// or https:// URL (OTLP/HTTP, e.g. http://127.0.0.1:4318/v1/traces)",
            "8 telemetry.sampler: unknown field 'sampler' (known: otlp_endpoint, headers, service_name, max_queue, max_batch, interval, timeout)",
        ])
        let second = configIssues("""
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            routes: { chat: { endpoints: [ { provider: openai, model: gpt-4o } ] } }
            telemetry:
              otlp_endpoint: "grpc://collector:4317"
              headers: { "bad header": x }
              max_queue: 0
            """)
        XCTAssertEqual(summary(second).map { String($0.prefix(41)) }, ["5 telemetry.otlp_endpoint: expected an ht"])
        let third = configIssues("""
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            routes: { chat: { endpoints: [ { provider: openai, model: gpt-4o } ] } }
            telemetry:
              otlp_endpoint: "http://collector:4318/v1/traces"
              headers: { "bad header": x }
              max_queue: 0
            """)
        XCTAssertEqual(summary(third).map { String($0.prefix(30)) }, ["6 telemetry.headers.bad header", "7 telemetry.max_queue: must be"])
    }

    func testGuardrailMistakesAreNamed() {
        let error = configIssues("""
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            routes:
              chat:
                endpoints: [ { provider: openai, model: gpt-4o } ]
                guardrails:
                  - { name: a, detect: [emails] }
                  - { name: b, patterns: ['(x)\\1', '[unclosed'] }
                  - { name: c, action: shout, words: [x] }
                  - { name: d }
                  - { name: a, words: [y] }
            """)
        XCTAssertEqual(summary(error).map { String($0.prefix(50)) }, [
            "7 routes.chat.guardrails[0].detect[0]: unknown det",
            "8 routes.chat.guardrails[1].patterns[0]: back-refe",
            "8 routes.chat.guardrails[1].patterns[1]: not a val",
            "9 routes.chat.guardrails[2].action: unknown guardr",
            "10 routes.chat.guardrails[3]: a guardrail needs de",
            "11 routes.chat.guardrails[4].name: duplicate guard",
        ])
    }

    func testCacheMistakesAreNamed() {
        let error = configIssues("""
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            routes:
              a: { endpoints: [ { provider: openai, model: m } ], cache: { ttl: 0s, max_bytes: 0 } }
              b: { endpoints: [ { provider: openai, model: m } ], cache: { ttl: soon, max_bytes: lots } }
              c: { endpoints: [ { provider: openai, model: m } ], cache: { ignore_fields: [user, model, stream] } }
              d: { endpoints: [ { provider: openai, model: m } ], cache: { namespace: tenant } }
              e: { endpoints: [ { provider: openai, model: m } ], cache: { namespace: "tag:" } }
              f: { endpoints: [ { provider: openai, model: m } ], cache: { tll: 1m } }
              g: { endpoints: [ { provider: openai, model: m } ], cache: 10m }
            """)
        XCTAssertEqual(summary(error).map { String($0.prefix(60)) }, [
            "4 routes.a.cache.ttl: must be longer than zero",
            "4 routes.a.cache.max_bytes: must be larger than zero",
            "5 routes.b.cache.ttl: invalid duration 'soon' (expected 500m",
            "5 routes.b.cache.max_bytes: invalid size 'lots' (expected 51",
            "6 routes.c.cache.ignore_fields[1]: 'model' changes the answe",
            "6 routes.c.cache.ignore_fields[2]: 'stream' changes the answ",
            "7 routes.d.cache.namespace: expected key, route or tag:NAME",
            "8 routes.e.cache.namespace: expected key, route or tag:NAME",
            "9 routes.f.cache.tll: unknown field 'tll' (did you mean 'ttl",
            "10 routes.g.cache: expected a mapping, found a string",
        ])
        let ok = try? ConfigLoader.parse(yaml: """
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            routes:
              a: { endpoints: [ { provider: openai, model: m } ], cache: { ttl: 90s, max_bytes: 1m, ignore_fields: [user], namespace: "tag:team" } }
              b: { endpoints: [ { provider: openai, model: m } ], cache: {} }
            """, fileName: "sluice.yaml", secrets: FakeSecrets()).config
        XCTAssertEqual(ok?.routes["a"]?.cache, ResponseCacheConfig(ttl: .seconds(90), maxBytes: 1 << 20, ignoreFields: ["user"],
                                                                   namespace: .tag("team")))
        XCTAssertEqual(ok?.routes["b"]?.cache, ResponseCacheConfig(), "defaults: 10m, 256k, per key")
    }

    func testUnknownFieldSuggestsTheNearestKnownField() {
        let error = configIssues("""
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            routes:
              chat:
                endpoint:
                  - { provider: openai, model: gpt-4o }
            """)
        XCTAssertEqual(summary(error), [
            "5 routes.chat.endpoint: unknown field 'endpoint' (did you mean 'endpoints'?)",
            "5 routes.chat.endpoints: missing required field 'endpoints'",
        ])
        XCTAssertEqual(error.issues.first?.column, 5)
    }

    func testUnknownFieldWithoutCloseMatchListsKnownFields() {
        let error = configIssues("""
            redis: { url: "redis://localhost", flavour: vanilla }
            providers: { openai: { kind: openai } }
            routes: { chat: { endpoints: [ { provider: openai, model: m } ] } }
            """)
        XCTAssertEqual(summary(error), ["1 redis.flavour: unknown field 'flavour' (known: url, timeout, key_prefix, sentinels, master_name, username, password, database, "
                                       + "sentinel_username, sentinel_password, replica_acks, replica_ack_timeout)"])
    }

    func testMissingSectionsAndEmptyFile() {
        XCTAssertEqual(summary(configIssues("server: { workers: 2 }\n")), [
            "1 redis: missing required field 'redis'",
            "1 providers: missing required field 'providers'",
            "1 routes: missing required field 'routes'",
        ])
        XCTAssertEqual(summary(configIssues("# nothing yet\n")),
                       ["1 : the file is empty (expected at least 'redis', 'providers' and 'routes')"])
        XCTAssertEqual(summary(configIssues("- just\n- a list\n")), ["1 : expected a mapping, found a list"])
        XCTAssertEqual(summary(configIssues("""
            redis: { url: "redis://localhost" }
            providers: {}
            routes: {}
            """)), ["2 providers: at least one provider is required", "3 routes: at least one route is required"])
    }

    func testYAMLSyntaxErrorsNameTheLine() {
        let error = configIssues("""
            redis:
              url: "redis://localhost"
            providers: { openai: { kind: openai }
            routes: {}
            """)
        XCTAssertEqual(error.issues.count, 1)
        XCTAssertEqual(error.issues.first?.line, 4)
        XCTAssertEqual(error.issues.first?.field, "")
        XCTAssertTrue(error.description.hasPrefix("sluice.yaml:4:"), error.description)
        XCTAssertTrue(error.description.contains("YAML syntax error"), error.description)

        let duplicate = configIssues("""
            redis: { url: "redis://localhost" }
            providers:
              openai: { kind: openai, api_key: "sk-literal-secret" }
              openai: { kind: openai }
            """)
        XCTAssertEqual(summary(duplicate), ["3 : duplicate key 'openai' in one mapping"])
        XCTAssertFalse(duplicate.description.contains("sk-literal-secret"))
    }

    func testWrongTypesAndRanges() {
        let error = configIssues("""
            server:
              workers: "4"
              threads: 2000
              backlog: many
              max_body: 8q
              drain_timeout: -1s
              listen: localhost
            redis: { url: "redis://localhost", timeout: 0s, key_prefix: [a] }
            providers: { openai: { kind: openai } }
            routes:
              chat:
                endpoints: { provider: openai }
            """)
        XCTAssertEqual(summary(error), [
            "2 server.workers: expected an integer, found a string",
            "3 server.threads: must be between 1 and 1024, found 2000",
            "4 server.backlog: expected an integer, found a string",
            "5 server.max_body: invalid size '8q' (expected 512k, 8m, 1g, or a number of bytes)",
            "6 server.drain_timeout: invalid duration '-1s' (expected 500ms, 5s, 1m, 2h, 1d, or a number of seconds)",
            "7 server.listen: invalid listen address 'localhost' (expected host:port, unix:/path or /path)",
            "8 redis.timeout: must be longer than zero",
            "8 redis.key_prefix: expected a string, found a list",
            "12 routes.chat.endpoints: expected a list, found a mapping",
        ])
    }

    func testProviderProblems() {
        let error = configIssues("""
            redis: { url: "redis://localhost" }
            providers:
              claude: { kind: anthropic, api_key: "x", anthropic_version: "" }
              typo: { kind: opneai }
              vllm: { kind: openai_compatible }
              plain: { kind: openai, base_url: "api.example.com/v1", auth_header: "Bad Header" }
              "bad name": { kind: openai }
              nokind: { base_url: "https://example.com" }
            routes:
              chat: { endpoints: [ { provider: claude, model: m } ] }
            """)
        XCTAssertEqual(summary(error), [
            "3 providers.claude.anthropic_version: must not be empty",
            "4 providers.typo.kind: unknown provider kind 'opneai' (supported: openai, openai_compatible, anthropic, bedrock, azure_openai, databricks)",
            "5 providers.vllm.base_url: missing required field 'base_url' (kind openai_compatible has no default)",
            "6 providers.plain.base_url: expected a URL starting with http:// or https://",
            "6 providers.plain.auth_header: invalid HTTP header name 'Bad Header'",
            "7 providers.bad name: invalid provider name 'bad name' (use letters, digits and . _ : / -)",
            "8 providers.nokind.kind: missing required field 'kind'",
        ])
    }

    func testEndpointAndRuleProblems() {
        let error = configIssues("""
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            routes:
              chat:
                type: chatty
                endpoints:
                  - { name: big, provider: openai, model: gpt-4o, weight: -1 }
                  - { name: big, provider: openai, model: gpt-4o-mini, fallback_only: maybe }
                  - { provider: openai }
                rules:
                  - { when: { priority: high }, use: huge }
                  - { when: {}, use: big }
              backup:
                endpoints:
                  - { provider: openai, model: gpt-4o, fallback_only: true }
              idle:
                endpoints:
                  - { provider: openai, model: gpt-4o, weight: 0 }
              empty: { endpoints: [] }
            """)
        XCTAssertEqual(summary(error), [
            "5 routes.chat.type: unknown route type 'chatty' (known: chat, completions, embeddings)",
            "7 routes.chat.endpoints[0].weight: must be between 0 and 1000000, found -1",
            "8 routes.chat.endpoints[1].name: duplicate endpoint name 'big' (already used at line 7)",
            "8 routes.chat.endpoints[1].fallback_only: expected true or false, found a string",
            "9 routes.chat.endpoints[2].model: missing required field 'model'",
            #"11 routes.chat.rules[0].use: unknown endpoint "huge" (endpoints of this route: big)"#,
            "12 routes.chat.rules[1].when: expected at least one tag condition, as in {priority: high}",
            "15 routes.backup.endpoints: every endpoint is fallback_only; at least one must serve first",
            "18 routes.idle.endpoints: every endpoint that is not fallback_only has weight 0; at least one needs a positive weight",
            "19 routes.empty.endpoints: at least one endpoint is required",
        ])
    }

    func testLimitAndPrincipalProblems() {
        let error = configIssues("""
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            routes:
              chat:
                endpoints: [ { provider: openai, model: gpt-4o } ]
                limits:
                  - { per: tag, requests: 10, window: 1m }
                  - { per: key, window: 1m }
                  - { per: user, requests: 0, window: soon }
                  - { per: route, tag: team, tokens: 5, window: 1s }
                  - { requests: 5 }
                guardrails: [ { name: secrets, detect: [secrets] } ]
            principals:
              "alice@example.com": { routes: [chat, chta] }
              "*": { routes: chat }
              "bob@example.com": { tags: { "team=x": y }, guardrails_off: [secrets, secret] }
            """)
        XCTAssertEqual(summary(error), [
            "7 routes.chat.limits[0].tag: missing required field 'tag' (per: tag counts the values of one tag)",
            "8 routes.chat.limits[1]: a limit needs 'requests', 'tokens' or both",
            "9 routes.chat.limits[2].per: unknown limit scope 'user' (known: key, principal, route, endpoint, tag)",
            "9 routes.chat.limits[2].requests: must be at least 1, found 0",
            "9 routes.chat.limits[2].window: invalid duration 'soon' (expected 500ms, 5s, 1m, 2h, 1d, or a number of seconds)",
            "10 routes.chat.limits[3].tag: 'tag' applies only to limits with per: tag",
            "11 routes.chat.limits[4].per: missing required field 'per'",
            "11 routes.chat.limits[4].window: missing required field 'window'",
            #"14 principals.alice@example.com.routes[1]: unknown route "chta" (known: chat)"#,
            "15 principals.*.routes: expected a list, found a string",
            "16 principals.bob@example.com.tags.team=x: a tag name cannot contain '=' or ','",
            #"16 principals.bob@example.com.guardrails_off[1]: no route has a guardrail named "secret" (known: secrets)"#,
        ])
    }

    func testEveryIssueInTheFileIsReportedInFileOrder() {
        let error = configIssues("""
            routes:
              chat:
                endpoints: [ { provider: nope, model: m } ]
            providers:
              openai: { kind: openai, timeouts: { connect: fast } }
            redis: { url: "redis://localhost", timeot: 1s }
            server: { workers: 0 }
            """)
        XCTAssertEqual(summary(error), [
            #"3 routes.chat.endpoints[0].provider: unknown provider "nope" (known: openai)"#,
            "5 providers.openai.timeouts.connect: invalid duration 'fast' (expected 500ms, 5s, 1m, 2h, 1d, or a number of seconds)",
            "6 redis.timeot: unknown field 'timeot' (did you mean 'timeout'?)",
            "7 server.workers: must be between 1 and 256, found 0",
        ])
        XCTAssertEqual(error.description.split(separator: "\n").count, 4)
    }
}
