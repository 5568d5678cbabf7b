import SluiceCore
import XCTest

/// Secrets from dictionaries instead of the environment and the file system.
struct FakeSecrets: SecretResolving {
    struct Unreadable: Error, CustomStringConvertible {
        var description: String { "No such file or directory" }
    }

    var environment: [String: String] = [:]
    var files: [String: String] = [:]

    func environmentValue(_ name: String) -> String? { environment[name] }

    func fileContents(_ path: String) throws -> String {
        guard let contents = files[path] else { throw Unreadable() }
        return contents
    }
}

/// Loads `yaml` as `sluice.yaml`, failing the test on any issue.
func loadConfig(_ yaml: String, secrets: FakeSecrets = FakeSecrets(),
                file: StaticString = #filePath, line: UInt = #line) -> LoadedConfig? {
    do {
        return try ConfigLoader.parse(yaml: yaml, fileName: "sluice.yaml", secrets: secrets)
    } catch {
        XCTFail("unexpected issues:\n\(error)", file: file, line: line)
        return nil
    }
}

/// The issues `yaml` produces, failing the test when it loads.
func configIssues(_ yaml: String, secrets: FakeSecrets = FakeSecrets(),
                  file: StaticString = #filePath, line: UInt = #line) -> ConfigError {
    do {
        _ = try ConfigLoader.parse(yaml: yaml, fileName: "sluice.yaml", secrets: secrets)
        XCTFail("expected the configuration to be refused", file: file, line: line)
        return ConfigError(issues: [])
    } catch {
        return error
    }
}

final class ConfigLoaderTests: XCTestCase {
    static let fullConfig = """
        server:
          listen: "unix:/run/sluice.sock"
          workers: 4
          threads: 32
          backlog: 512
          max_body: 16m
          drain_timeout: 45s
        redis:
          url: "redis://:hunter2@redis.internal:6380/3"
          timeout: 250ms
          key_prefix: gw1
        providers:
          openai:
            kind: openai
            api_key: "${env:OPENAI_API_KEY}"
            timeouts: { connect: 3s, first_byte: 30s }
          local:
            kind: openai_compatible
            base_url: "http://127.0.0.1:8000/v1/"
            api_key: "${file:/run/secrets/local}"
            auth_header: api-key
            auth_prefix: ""
            headers: { X-Team: platform, X-Token: "${env:TEAM_TOKEN}" }
        routes:
          summarize:
            type: chat
            endpoints:
              - { name: big, provider: openai, model: gpt-4o, weight: 20, timeouts: { total: 90s } }
              - { name: small, provider: openai, model: gpt-4o-mini, weight: 80 }
              - { provider: local, model: llama3, fallback_only: true }
            rules:
              - { when: { priority: high, tier: 2 }, use: big }
            timeouts: { idle: 15s }
          embed:
            type: embeddings
            endpoints:
              - { provider: local, model: bge-m3 }
            limits:
              - { per: tag, tag: team, tokens: 100000, window: 1h }
              - { per: key, requests: 60, window: 1m }
        principals:
          "alice@example.com": { routes: [summarize] }
          "ops@example.com": {}
          "*": { routes: [embed] }
        """

    static let fullSecrets = FakeSecrets(
        environment: ["OPENAI_API_KEY": "sk-openai-123", "TEAM_TOKEN": "tok-456"],
        files: ["/run/secrets/local": "local-key-789\n\n"])

    func testFullConfigFillsTheModel() throws {
        let loaded = try XCTUnwrap(loadConfig(Self.fullConfig, secrets: Self.fullSecrets))
        let config = loaded.config

        XCTAssertEqual(config.server, ServerConfig(listen: "unix:/run/sluice.sock", workers: 4, threads: 32, backlog: 512,
                                                   maxBodyBytes: 16 << 20, drainTimeout: .seconds(45)))
        XCTAssertEqual(config.redis.url.address, .tcp(host: "redis.internal", port: 6380))
        XCTAssertEqual(config.redis.url.database, 3)
        XCTAssertNil(config.redis.url.username)
        XCTAssertEqual(config.redis.url.password, Secret("hunter2", origin: "redis url"))
        XCTAssertEqual(config.redis.timeout, .milliseconds(250))
        XCTAssertEqual(config.redis.keyPrefix, "gw1")

        let openai = try XCTUnwrap(config.providers["openai"])
        XCTAssertEqual(openai.kind, .openai)
        XCTAssertEqual(openai.baseURL, "https://api.openai.com/v1")
        XCTAssertEqual(openai.apiKey, Secret("sk-openai-123", origin: "env:OPENAI_API_KEY"))
        XCTAssertEqual(openai.authHeader, "Authorization")
        XCTAssertEqual(openai.authPrefix, "Bearer ")
        XCTAssertEqual(openai.timeouts, Timeouts(connect: .seconds(3), firstByte: .seconds(30)))

        let local = try XCTUnwrap(config.providers["local"])
        XCTAssertEqual(local.kind, .openaiCompatible)
        XCTAssertEqual(local.baseURL, "http://127.0.0.1:8000/v1")
        XCTAssertEqual(local.apiKey, Secret("local-key-789", origin: "file:/run/secrets/local"))
        XCTAssertEqual(local.authHeader, "api-key")
        XCTAssertEqual(local.authPrefix, "")
        XCTAssertEqual(local.headers.map(\.name), ["X-Team", "X-Token"])
        XCTAssertEqual(local.headers.map(\.value), [Secret("platform", origin: "literal"), Secret("tok-456", origin: "env:TEAM_TOKEN")])

        XCTAssertEqual(config.routeOrder, ["summarize", "embed"])
        let summarize = try XCTUnwrap(config.routes["summarize"])
        XCTAssertEqual(summarize.type, .chat)
        XCTAssertEqual(summarize.endpoints, [
            EndpointConfig(name: "big", provider: "openai", model: "gpt-4o", weight: 20, timeouts: Timeouts(total: .seconds(90))),
            EndpointConfig(name: "small", provider: "openai", model: "gpt-4o-mini", weight: 80),
            EndpointConfig(name: "local/llama3", provider: "local", model: "llama3", fallbackOnly: true),
        ])
        XCTAssertEqual(summarize.rules, [RouteRule(when: ["priority": "high", "tier": "2"], use: "big")])
        XCTAssertEqual(summarize.timeouts, Timeouts(idle: .seconds(15)))
        XCTAssertEqual(summarize.limits, [])

        let embed = try XCTUnwrap(config.routes["embed"])
        XCTAssertEqual(embed.type, .embeddings)
        XCTAssertEqual(embed.limits, [
            LimitConfig(per: .tag, tag: "team", tokens: 100_000, window: .seconds(3600)),
            LimitConfig(per: .key, requests: 60, window: .seconds(60)),
        ])

        XCTAssertEqual(config.principals.named, [
            "alice@example.com": AccessPolicy(routes: ["summarize"]),
            "ops@example.com": AccessPolicy(routes: nil),
        ])
        XCTAssertEqual(config.principals.fallback, AccessPolicy(routes: ["embed"]))
        XCTAssertEqual(loaded.warnings, [])
    }

    func testAnthropicProviderDefaults() throws {
        let yaml = """
            redis: { url: "redis://127.0.0.1:6379/0" }
            providers:
              anthropic: { kind: anthropic, api_key: "${env:ANTHROPIC_API_KEY}" }
              pinned:    { kind: anthropic, base_url: "https://proxy.example.com/anthropic/v1/", api_key: "k",
                           anthropic_version: "2024-10-22", auth_header: Authorization, auth_prefix: "Bearer " }
            routes:
              chat: { endpoints: [ { provider: anthropic, model: claude-3-opus-20240229 } ] }
            """
        let loaded = try XCTUnwrap(loadConfig(yaml, secrets: FakeSecrets(environment: ["ANTHROPIC_API_KEY": "sk-ant-1"])))
        let anthropic = try XCTUnwrap(loaded.config.providers["anthropic"])
        XCTAssertEqual(anthropic.kind, .anthropic)
        XCTAssertEqual(anthropic.baseURL, "https://api.anthropic.com/v1")
        XCTAssertEqual(anthropic.authHeader, "x-api-key")
        XCTAssertEqual(anthropic.authPrefix, "")
        XCTAssertEqual(anthropic.anthropicVersion, "2023-06-01")
        XCTAssertEqual(anthropic.apiKey?.exposedValue, "sk-ant-1")
        let pinned = try XCTUnwrap(loaded.config.providers["pinned"])
        XCTAssertEqual(pinned.baseURL, "https://proxy.example.com/anthropic/v1")
        XCTAssertEqual(pinned.anthropicVersion, "2024-10-22")
        XCTAssertEqual(pinned.authHeader, "Authorization")
        XCTAssertEqual(pinned.authPrefix, "Bearer ")
    }

    func testAnthropicVersionBelongsToAnthropicOnly() {
        let error = configIssues("""
            redis: { url: "redis://localhost" }
            providers:
              openai: { kind: openai, anthropic_version: "2023-06-01" }
            routes:
              chat: { endpoints: [ { provider: openai, model: m } ] }
            """)
        XCTAssertEqual(error.issues.map(\.message), ["'anthropic_version' applies only to providers of kind anthropic"])
    }

    func testDesignExampleWithoutAnthropicLoads() throws {
        let yaml = """
            redis: { url: "redis://127.0.0.1:6379/0" }
            providers:
              openai:    { kind: openai,    base_url: "https://api.openai.com/v1", api_key: "${env:OPENAI_API_KEY}" }
            routes:
              chat-critical:
                type: chat                      # chat | completions | embeddings
                endpoints:
                  - { provider: openai, model: gpt-4o }
                  - { provider: openai, model: gpt-4, fallback_only: true }
                limits:
                  - { per: key, requests: 600, window: 1m }
                  - { per: route, tokens: 200000, window: 1m }
              summarize:
                type: chat
                endpoints:
                  - { name: big,   provider: openai, model: gpt-4o,      weight: 20 }
                  - { name: small, provider: openai, model: gpt-4o-mini, weight: 80 }
                rules:
                  - { when: { priority: high }, use: big }
            """
        let loaded = try XCTUnwrap(loadConfig(yaml, secrets: FakeSecrets(environment: ["OPENAI_API_KEY": "sk-1"])))
        XCTAssertEqual(loaded.config.routeOrder, ["chat-critical", "summarize"])
        XCTAssertEqual(loaded.config.server, ServerConfig())
        XCTAssertEqual(loaded.config.redis, RedisConfig(url: RedisURL(address: .tcp(host: "127.0.0.1", port: 6379))))
        XCTAssertEqual(loaded.config.routes["chat-critical"]?.limits.count, 2)
        XCTAssertEqual(loaded.config.routes["chat-critical"]?.endpoints.map(\.name), ["openai/gpt-4o", "openai/gpt-4"])
        XCTAssertEqual(loaded.config.principals, PrincipalPolicies())
        XCTAssertEqual(loaded.warnings, [])
    }

    func testNoLimitsMeansNoWarning() throws {
        let yaml = """
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            routes: { chat: { endpoints: [ { provider: openai, model: gpt-4o } ] } }
            """
        let loaded = try XCTUnwrap(loadConfig(yaml))
        XCTAssertEqual(loaded.warnings, [])
        XCTAssertEqual(loaded.config.routes["chat"]?.type, .chat)
        XCTAssertNil(loaded.config.providers["openai"]?.apiKey)
    }

    func testResponsesStateSettingsLoadAndAreChecked() throws {
        let base = """
            redis: { url: "redis://localhost" }
            providers: { openai: { kind: openai } }
            routes: { chat: { endpoints: [ { provider: openai, model: gpt-4o } ] } }
            """
        let defaults = try XCTUnwrap(loadConfig(base)).config.responses
        XCTAssertEqual(defaults, ResponsesConfig(storeTTL: .seconds(30 * 86_400), maxBytes: 1 << 20))
        let set = try XCTUnwrap(loadConfig(base + "\nresponses: { store_ttl: 2h, max_bytes: 64k }")).config.responses
        XCTAssertEqual(set, ResponsesConfig(storeTTL: .seconds(7200), maxBytes: 64 << 10))
        let wrong = configIssues(base + "\nresponses: { store_ttl: soon, keep: true }")
        XCTAssertEqual(Set(wrong.issues.map(\.field)), ["responses.store_ttl", "responses.keep"], "\(wrong)")
        XCTAssertTrue(wrong.issues.allSatisfy { $0.line == 4 }, "\(wrong)")
    }

    func testRouteLimitsLoadWithoutWarnings() throws {
        let yaml = """
            redis: { url: "redis://localhost" }
            providers: { p: { kind: openai } }
            routes:
              b: { endpoints: [ { provider: p, model: m } ], limits: [ { per: key, requests: 1, window: 1s } ] }
              c: { endpoints: [ { provider: p, model: m } ] }
              a: { endpoints: [ { provider: p, model: m } ], limits: [ { per: route, tokens: 5, window: 1d } ] }
            """
        let loaded = try XCTUnwrap(loadConfig(yaml))
        XCTAssertEqual(loaded.warnings, [])
        XCTAssertEqual(loaded.config.routes["b"]?.limits, [LimitConfig(per: .key, requests: 1, window: .seconds(1))])
        XCTAssertEqual(loaded.config.routeOrder, ["b", "c", "a"])
    }
}
