import SluiceCore
import XCTest

/// `redis: { sentinels: [...], master_name: ... }` and `redis+sentinel://` URLs.
final class RedisSentinelConfigTests: XCTestCase {
    private func yaml(_ redis: String) -> String {
        """
        redis:
        \(redis)
        providers: { openai: { kind: openai } }
        routes: { chat: { endpoints: [ { provider: openai, model: gpt-4o } ] } }
        """
    }

    func testSentinelBlockFillsTheModel() throws {
        let loaded = try XCTUnwrap(loadConfig(yaml("""
              sentinels: ["10.0.0.5:26379", "10.0.0.6", "[fd00::7]:26380"]
              master_name: gateway-main
              username: sluice
              password: "${env:REDIS_PASSWORD}"
              database: 2
              sentinel_password: "${file:/etc/sluice/sentinel.pass}"
              timeout: 300ms
            """), secrets: FakeSecrets(environment: ["REDIS_PASSWORD": "data-pw"],
                                       files: ["/etc/sluice/sentinel.pass": "sentinel-pw\n"])))
        let redis = loaded.config.redis
        XCTAssertEqual(redis.url.address, .sentinel(RedisSentinels(
            masterName: "gateway-main",
            nodes: [.init(host: "10.0.0.5", port: 26379), .init(host: "10.0.0.6", port: 26379), .init(host: "fd00::7", port: 26380)],
            password: Secret("sentinel-pw", origin: "file:/etc/sluice/sentinel.pass"))))
        XCTAssertEqual(redis.url.username, "sluice")
        XCTAssertEqual(redis.url.password?.exposedValue, "data-pw")
        XCTAssertEqual(redis.url.database, 2)
        XCTAssertEqual(redis.timeout, .milliseconds(300))
        // Printed without either password.
        let printed = "\(redis.url)"
        XCTAssertFalse(printed.contains("pw"), printed)
        XCTAssertTrue(printed.contains("gateway-main"), printed)
    }

    func testSentinelBlockProblemsAreNamed() {
        let both = configIssues(yaml("""
              url: "redis://127.0.0.1"
              sentinels: ["10.0.0.5:26379"]
              master_name: main
            """))
        XCTAssertTrue(both.issues.contains { $0.field == "redis.url" && $0.message.contains("either url or sentinels") }, "\(both)")

        let noName = configIssues(yaml("""
              sentinels: ["10.0.0.5:26379"]
            """))
        XCTAssertTrue(noName.issues.contains { $0.field == "redis.master_name" && $0.message.contains("missing") }, "\(noName)")

        let bad = configIssues(yaml("""
              sentinels: ["10.0.0.5:0", ""]
              master_name: "main name"
            """))
        XCTAssertTrue(bad.issues.contains { $0.field == "redis.sentinels[0]" && $0.message.contains("port") }, "\(bad)")
        XCTAssertTrue(bad.issues.contains { $0.field == "redis.sentinels[1]" }, "\(bad)")
        XCTAssertTrue(bad.issues.contains { $0.field == "redis.master_name" }, "\(bad)")

        let empty = configIssues(yaml("""
              sentinels: []
              master_name: main
            """))
        XCTAssertTrue(empty.issues.contains { $0.field == "redis.sentinels" && $0.message.contains("at least one") }, "\(empty)")

        let urlWithSentinelFields = configIssues(yaml("""
              url: "redis://127.0.0.1"
              master_name: main
              password: x
            """))
        XCTAssertTrue(urlWithSentinelFields.issues.contains { $0.field == "redis.master_name" }, "\(urlWithSentinelFields)")
        XCTAssertTrue(urlWithSentinelFields.issues.contains { $0.field == "redis.password" && $0.message.contains("URL") },
                      "\(urlWithSentinelFields)")

        let secretMissing = configIssues(yaml("""
              sentinels: ["10.0.0.5"]
              master_name: main
              password: "${env:NOT_SET}"
            """))
        XCTAssertTrue(secretMissing.issues.contains { $0.field == "redis.password" && $0.message.contains("NOT_SET") },
                      "\(secretMissing)")
    }

    func testSentinelURLOnTheCommandLine() throws {
        let url = try RedisURL.fromCommandLine("redis+sentinel://:pw@10.0.0.5,10.0.0.6:26380/main/3", environment: [:])
        XCTAssertEqual(url.address, .sentinel(RedisSentinels(masterName: "main", nodes: [
            .init(host: "10.0.0.5", port: 26379), .init(host: "10.0.0.6", port: 26380)])))
        XCTAssertEqual(url.database, 3)
        XCTAssertEqual(url.password?.exposedValue, "pw")
        XCTAssertThrowsError(try RedisURL.fromCommandLine("redis+sentinel://10.0.0.5", environment: [:])) { error in
            XCTAssertTrue("\(error)".contains("master name"), "\(error)")
        }
    }
}
