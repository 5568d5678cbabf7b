import SluiceCore
import XCTest

/// Secret references resolve through `SecretResolving`, and no resolved value ever
/// reaches an issue or a description.
final class ConfigLoaderSecretTests: XCTestCase {
    private func config(apiKey: String, redisURL: String = "redis://localhost") -> String {
        """
        redis: { url: "\(redisURL)" }
        providers:
          openai: { kind: openai, api_key: "\(apiKey)" }
        routes: { chat: { endpoints: [ { provider: openai, model: gpt-4o } ] } }
        """
    }

    func testReferencesAndLiteralsResolve() throws {
        let secrets = FakeSecrets(environment: ["KEY": "sk-env"], files: ["/s/key": "sk-file \n\t\n"])
        let fromEnv = try XCTUnwrap(loadConfig(config(apiKey: "${env:KEY}"), secrets: secrets))
        XCTAssertEqual(fromEnv.config.providers["openai"]?.apiKey, Secret("sk-env", origin: "env:KEY"))
        let fromFile = try XCTUnwrap(loadConfig(config(apiKey: "${file:/s/key}"), secrets: secrets))
        XCTAssertEqual(fromFile.config.providers["openai"]?.apiKey, Secret("sk-file", origin: "file:/s/key"))
        let literal = try XCTUnwrap(loadConfig(config(apiKey: "sk-literal"), secrets: secrets))
        XCTAssertEqual(literal.config.providers["openai"]?.apiKey, Secret("sk-literal", origin: "literal"))
    }

    func testMissingEnvironmentVariableNamesTheReferenceOnly() {
        let secrets = FakeSecrets(environment: ["OTHER_KEY": "sk-do-not-print"])
        let error = configIssues(config(apiKey: "${env:OPENAI_API_KEY}"), secrets: secrets)
        XCTAssertEqual(error.description, "sluice.yaml:3:36: providers.openai.api_key: "
            + "environment variable OPENAI_API_KEY is not set (referenced as ${env:OPENAI_API_KEY})")
        XCTAssertFalse(error.description.contains("sk-do-not-print"))
    }

    func testUnusableReferencesAreReported() {
        let secrets = FakeSecrets(environment: ["EMPTY": ""], files: ["/s/blank": " \n\n"])
        let cases: [(reference: String, message: String)] = [
            ("${env:EMPTY}", "environment variable EMPTY is empty (referenced as ${env:EMPTY})"),
            ("${file:/s/missing}", "cannot read secret file /s/missing (No such file or directory)"),
            ("${file:/s/blank}", "secret file /s/blank is empty"),
            ("${file:}", "${file:…} needs a path, e.g. ${file:/run/secrets/openai}"),
            ("${env:BAD-NAME}", "invalid environment variable name 'BAD-NAME' in ${env:…}"),
            ("${vault:kv/openai}", "unknown secret reference kind 'vault'; use ${env:NAME} or ${file:/path}"),
            ("${evn:KEY}", "unknown secret reference kind 'evn' (did you mean 'env'?); use ${env:NAME} or ${file:/path}"),
            ("${KEY}", "a secret reference must be ${env:NAME} or ${file:/path}"),
            ("", "must not be empty"),
        ]
        for (reference, message) in cases {
            let error = configIssues(config(apiKey: reference), secrets: secrets)
            XCTAssertEqual(error.issues.map(\.message), [message], reference)
            XCTAssertEqual(error.issues.map(\.line), [3], reference)
            XCTAssertEqual(error.issues.map(\.field), ["providers.openai.api_key"], reference)
        }
    }

    func testDescriptionNeverShowsResolvedSecrets() {
        let secrets = FakeSecrets(environment: ["KEY": "sk-env-value", "HDR": "line\r\nX-Injected: 1", "R": "redis://:pw-env@h:0"],
                                  files: ["/s/key": "sk-file-value\n"])
        let error = configIssues("""
            redis: { url: "${env:R}" }
            providers:
              a: { kind: openai, api_key: "${env:KEY}", headers: { X-Evil: "${env:HDR}" } }
              b: { kind: openai, api_key: "${file:/s/key}", timeouts: { total: never } }
              c: { kind: openai, api_key: "sk-literal-value", auth_header: "no good" }
            routes: { chat: { endpoints: [ { provider: a, model: m } ] } }
            """, secrets: secrets)
        XCTAssertEqual(error.issues.map(\.line), [1, 3, 4, 5])
        XCTAssertEqual(error.issues.first?.message, "invalid Redis URL (from env:R): the port must be a number between 1 and 65535")
        XCTAssertEqual(error.issues[1].message, "the value from env:HDR contains a line break or control character")
        for value in ["sk-env-value", "X-Injected", "pw-env", "sk-file-value", "sk-literal-value"] {
            XCTAssertFalse(error.description.contains(value), value)
        }
    }

    func testRedisURLForms() throws {
        let secrets = FakeSecrets(environment: ["REDIS_URL": "redis://cache:6390/2"])
        let cases: [(url: String, expected: RedisURL)] = [
            ("redis://127.0.0.1:6379/0", RedisURL(address: .tcp(host: "127.0.0.1", port: 6379))),
            ("redis://redis.internal", RedisURL(address: .tcp(host: "redis.internal", port: 6379))),
            ("redis://:s3cret@redis.internal:6380/4",
             RedisURL(address: .tcp(host: "redis.internal", port: 6380), database: 4,
                      password: Secret("s3cret", origin: "redis url"))),
            ("redis://gateway:p%40ss%2Fw@10.0.0.5", RedisURL(address: .tcp(host: "10.0.0.5", port: 6379),
                                                            username: "gateway", password: Secret("p@ss/w", origin: "redis url"))),
            ("redis://[::1]:7000?db=5", RedisURL(address: .tcp(host: "::1", port: 7000), database: 5)),
            ("unix:///run/redis/redis.sock?db=3", RedisURL(address: .unix(path: "/run/redis/redis.sock"), database: 3)),
            ("unix://:pw@/run/redis.sock", RedisURL(address: .unix(path: "/run/redis.sock"),
                                                   password: Secret("pw", origin: "redis url"))),
            ("${env:REDIS_URL}", RedisURL(address: .tcp(host: "cache", port: 6390), database: 2)),
        ]
        for (url, expected) in cases {
            let loaded = try XCTUnwrap(loadConfig(config(apiKey: "k", redisURL: url), secrets: secrets), url)
            XCTAssertEqual(loaded.config.redis.url, expected, url)
            XCTAssertFalse("\(loaded.config.redis.url)".contains("s3cret"), url)
        }
        let withPassword = try XCTUnwrap(loadConfig(config(apiKey: "k", redisURL: "redis://:s3cret@h:1/9")))
        XCTAssertEqual("\(withPassword.config.redis.url)", "redis://h:1/9")
        XCTAssertEqual("\(withPassword.config.redis)".contains("s3cret"), false)
    }

    func testInvalidRedisURLsAreRefusedWithoutQuotingThem() {
        let cases: [(url: String, reason: String)] = [
            ("localhost:6379", "expected redis://[[user]:password@]host[:port][/db], unix://[[user]:password@]/path/to/redis.sock[?db=N] "
                + "or redis+sentinel://[[user]:password@]sentinel[:port][,sentinel[:port]...]/master_name[/db]"),
            ("http://localhost", "unsupported scheme 'http' (expected redis://, unix:// or redis+sentinel://)"),
            ("redis+sentinel://:topsecret@10.0.0.5:26379", "expected the master name after the Sentinels, as in "
                + "redis+sentinel://10.0.0.5:26379,10.0.0.6:26379/mymaster"),
            ("rediss://localhost", "TLS (rediss://) is not supported by this version; use redis:// or unix://"),
            ("redis://:topsecret@localhost:99999", "the port must be a number between 1 and 65535"),
            ("redis://:topsecret@localhost/zero", "the database must be a non-negative integer, as in redis://host:6379/0"),
            ("redis://:topsecret@:6379", "missing host, as in redis://127.0.0.1:6379/0"),
            ("redis://:top%zzsecret@localhost", "the user name or password has an invalid %-escape"),
            ("redis://localhost?timeout=1", "unknown parameter 'timeout' (only 'db' is supported)"),
            ("redis://localhost/1?db=2", "the database is given twice (path and ?db=)"),
            ("unix://relative.sock", "expected an absolute socket path, as in unix:///run/redis/redis.sock"),
        ]
        for (url, reason) in cases {
            let error = configIssues(config(apiKey: "k", redisURL: url))
            XCTAssertEqual(error.issues.map(\.message), ["invalid Redis URL: \(reason)"], url)
            XCTAssertEqual(error.issues.map(\.field), ["redis.url"], url)
            XCTAssertFalse(error.description.contains("topsecret"), url)
        }
    }
}
