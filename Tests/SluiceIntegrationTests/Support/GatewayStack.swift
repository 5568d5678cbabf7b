import Foundation
import SluiceCore
import SluiceRedis
import XCTest

/// A whole gateway on loopback for integration tests: a real redis-server, the mock
/// provider, the responder pool (`sluice serve`) and a real nginx rendered from the
/// shipped template, each on ports the test picked and each stopped by pid.
final class GatewayStack {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    let directory: URL
    let redisPort = freeLoopbackPort()
    let mockPort = freeLoopbackPort()
    let nginxPort = freeLoopbackPort()
    let deadPort = freeLoopbackPort()
    let mockKey = "mock-provider-secret-\(UInt32.random(in: 0...UInt32.max))"
    /// The AWS access key id the mock provider accepts SigV4 signatures from (its secret is `mockKey`).
    static let awsAccessKeyId = "AKIASLUICETEST000001"
    let binary: String
    /// The mock provider's own binary, `sluice-mock`.
    let mockBinary: String
    private(set) var redis: ManagedProcess?
    private(set) var mock: ManagedProcess?
    private(set) var pool: ManagedProcess?
    private(set) var nginx: ManagedProcess?
    let client: TestClient

    var configPath: String { directory.appendingPathComponent("sluice.yaml").path }
    var socketPath: String { directory.appendingPathComponent("sluice.sock").path }

    /// Starts the stack with `config` (the standard test config when `nil`).
    /// `persistentRedis`: Redis keeps an append-only file (fsync on every write), so
    /// `stopRedis` / `startRedis` lose nothing, as a production Redis restart would not.
    /// `poolEnvironment`: added to the pool's environment (e.g. `NOTIFY_SOCKET`).
    init(config: ((GatewayStack) -> String)? = nil, persistentRedis: Bool = false,
         poolEnvironment: [String: String] = [:]) throws {
        guard let redisServerPath = which("redis-server"), which("nginx") != nil else {
            throw XCTSkip("redis-server and nginx are needed (scripts/up or .ci/run installs them)")
        }
        guard let binary = Self.sluiceBinary else { throw XCTSkip("build the sluice binary first (swift build)") }
        guard let mockBinary = Self.mockBinary(beside: binary) else {
            throw XCTSkip("build the sluice-mock binary first (swift build)")
        }
        self.binary = binary
        self.mockBinary = mockBinary
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-it-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        TestDirectories.shared.add(directory)
        client = TestClient(baseURL: "http://127.0.0.1:\(nginxPort)")

        redisArguments = ["--port", "\(redisPort)", "--bind", "127.0.0.1", "--save", "", "--dir", directory.path]
            + (persistentRedis ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"])
        redisServer = redisServerPath
        self.poolEnvironment = poolEnvironment
        do {
            try start(config: config)
        } catch {
            stop()  // a stack that did not come up leaves no process behind
            throw error
        }
    }

    private func start(config: ((GatewayStack) -> String)?) throws {
        redis = try ManagedProcess(name: "redis", executable: redisServer, arguments: redisArguments,
                                   logDirectory: directory)
        mock = try ManagedProcess(name: "mock", executable: mockBinary,
                                  arguments: ["--listen", "127.0.0.1:\(mockPort)", "--api-key", mockKey,
                                              "--aws-access-key-id", Self.awsAccessKeyId, "--aws-secret-access-key", mockKey],
                                  logDirectory: directory)
        try writeConfig(config.map { $0(self) } ?? Self.config(self))
        try "\(mockKey)\n".write(to: directory.appendingPathComponent("mock.key"), atomically: true, encoding: .utf8)
        try waitForPort(redisPort)
        try waitForPort(mockPort)
        pool = try ManagedProcess(name: "pool", executable: binary,
                                  arguments: ["serve", "--config", configPath, "--pid-file", directory.appendingPathComponent("sluice.pid").path],
                                  environment: poolEnvironment.merging(["SLUICE_TEST_MOCK_KEY": mockKey]) { $1 },
                                  logDirectory: directory)
        let nginxDirectory = directory.appendingPathComponent("nginx")
        let nginxConfig = nginxDirectory.appendingPathComponent("nginx.conf").path
        let rendered = try runCommand(Self.repository.path + "/scripts/render-nginx",
                                      [nginxDirectory.path, "127.0.0.1:\(nginxPort)", "unix:\(socketPath)", nginxConfig])
        guard rendered.status == 0 else { throw StackError("render-nginx failed: \(rendered.output)") }
        nginx = try ManagedProcess(name: "nginx", executable: which("nginx")!,
                                   arguments: ["-p", nginxDirectory.path, "-c", nginxConfig, "-e", nginxDirectory.path + "/error.log",
                                               "-g", "daemon off;"],
                                   logDirectory: directory)
        try waitUntil("the gateway answers /sluice/healthz", timeout: .seconds(20)) {
            client.send(.get, "/sluice/healthz").status == 200
        }
    }

    private let redisArguments: [String]
    private let poolEnvironment: [String: String]
    private let redisServer: String

    /// Where `swift build` put this test bundle, and `sluice` and `sluice-mock` beside it
    /// (`<scratch path>/<triple>/debug`, whatever `--scratch-path` was).
    static let buildDirectory = Bundle.main.executableURL?.deletingLastPathComponent()

    /// The `sluice` binary: `$SLUICE_BIN`, else the one built beside this test bundle, else
    /// `.build/debug/sluice`; nil when none of them is there.
    static var sluiceBinary: String? {
        executable([ProcessInfo.processInfo.environment["SLUICE_BIN"], buildDirectory?.appendingPathComponent("sluice").path,
                    repository.path + "/.build/debug/sluice"])
    }

    /// The `sluice-mock` binary: `$SLUICE_MOCK_BIN`, else the one beside `sluice`, else the
    /// one built beside this test bundle, else `.build/debug/sluice-mock`.
    static func mockBinary(beside sluice: String) -> String? {
        executable([ProcessInfo.processInfo.environment["SLUICE_MOCK_BIN"],
                    URL(fileURLWithPath: sluice).deletingLastPathComponent().appendingPathComponent("sluice-mock").path,
                    buildDirectory?.appendingPathComponent("sluice-mock").path, repository.path + "/.build/debug/sluice-mock"])
    }

    private static func executable(_ candidates: [String?]) -> String? {
        candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Stops Redis (SIGTERM: it shuts down cleanly, flushing its append-only file).
    func stopRedis() {
        redis?.stop()
    }

    /// Starts Redis again on the same port and directory (see `persistentRedis`).
    func startRedis() throws {
        redis = try ManagedProcess(name: "redis", executable: redisServer, arguments: redisArguments, logDirectory: directory)
        try waitForPort(redisPort)
    }

    /// Stops everything by pid, nginx first.
    func stop() {
        nginx?.stop(signal: SIGQUIT)
        pool?.stop()
        mock?.stop()
        redis?.stop()
    }

    /// Replaces the config file (the pool reads it on SIGHUP).
    func writeConfig(_ text: String) throws {
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Asks the pool to reload its config.
    func reload() {
        if let pool { kill(pool.pid, SIGHUP) }
    }

    /// `sluice keys create`; returns the key.
    func createKey(name: String = "test", routes: [String]? = nil) throws -> String {
        var arguments = ["keys", "create", "--config", configPath, "--name", name, "--quiet"]
        if let routes { arguments += ["--routes", routes.joined(separator: ",")] }
        let result = try runCommand(binary, arguments, environment: ["SLUICE_TEST_MOCK_KEY": mockKey])
        guard result.status == 0 else { throw StackError("keys create failed: \(result.output)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The `providers:` entries of every kind the mock speaks (`openai`, `anthropic`,
    /// `azure`, `databricks`, `bedrock`), indented for a `providers:` block.
    var mockProviders: String {
        let mock = "http://127.0.0.1:\(mockPort)"
        return """
          openai: { kind: openai, base_url: "\(mock)/v1", api_key: "${env:SLUICE_TEST_MOCK_KEY}" }
          anthropic: { kind: anthropic, base_url: "\(mock)/v1", api_key: "${env:SLUICE_TEST_MOCK_KEY}" }
          azure: { kind: azure_openai, base_url: "\(mock)", api_version: "2024-10-21", api_key: "${env:SLUICE_TEST_MOCK_KEY}" }
          databricks: { kind: databricks, base_url: "\(mock)", api_key: "${env:SLUICE_TEST_MOCK_KEY}" }
          bedrock:
            kind: bedrock
            region: us-east-1
            base_url: "\(mock)"
            access_key_id: "\(Self.awsAccessKeyId)"
            secret_access_key: "${env:SLUICE_TEST_MOCK_KEY}"
        """
    }

    /// The audit record of the call that got `response` (written just after the response).
    func auditRecord(of response: TestResponse) throws -> [String: Any] {
        let id = try XCTUnwrap(response.header("x-sluice-request-id"))
        let redis = RedisConnection(config: RedisConfig(url: RedisURL(address: .tcp(host: "127.0.0.1", port: redisPort)),
                                                        timeout: .seconds(3)))
        var found: [String: Any]?
        try waitUntil("the audit record of \(id)", timeout: .seconds(5)) {
            guard case .array(let entries)? = try? redis.checked(["XREVRANGE", "sluice:audit", "+", "-", "COUNT", "50"]) else {
                return false
            }
            for entry in entries {
                guard case .array(let parts) = entry, parts.count == 2, let text = parts[1].fieldMap["record"],
                      let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                      object["request_id"] as? String == id else { continue }
                found = object
                return true
            }
            return false
        }
        return try XCTUnwrap(found)
    }

    /// Audit records in the stream per request id.
    func auditCounts() throws -> [String: Int] {
        try callRecordCounts(RedisConnection(config: RedisConfig(url: RedisURL(address: .tcp(host: "127.0.0.1", port: redisPort)),
                                                                 timeout: .seconds(5))))
    }

    /// Runs a `sluice` subcommand against this stack's config.
    func sluice(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try runCommand(binary, arguments, environment: ["SLUICE_TEST_MOCK_KEY": mockKey])
    }

    /// Worker processes of the pool (children of the master).
    func workerPids() -> [Int32] {
        guard let pool, let text = try? String(contentsOfFile: "/proc/\(pool.pid)/task/\(pool.pid)/children", encoding: .utf8) else { return [] }
        return text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// The mock provider's counters and last request.
    /// The resident memory of the pool's workers together, in bytes (from /proc).
    func workerRSS() -> Int {
        workerPids().reduce(0) { total, pid in
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return total + (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
        }
    }

    func mockStats() -> [String: Any] {
        let response = TestClient(baseURL: "http://127.0.0.1:\(mockPort)").send(.get, "/_mock/stats")
        return response.json
    }

    /// Installs (or, with an empty `fault`, clears) a runtime fault for `model` at the mock.
    func setMockFault(model: String, _ fault: String) {
        let body = "{\"model\":\"\(model)\",\"fault\":\"\(fault)\"}"
        _ = TestClient(baseURL: "http://127.0.0.1:\(mockPort)").send(.post, "/_mock/faults", body: body)
    }

    /// How many requests the mock received for `model` (as the gateway sent it).
    func mockCount(model: String) -> Int {
        (mockStats()["by_model"] as? [String: Any])?[model] as? Int ?? 0
    }

    func resetMock() {
        _ = TestClient(baseURL: "http://127.0.0.1:\(mockPort)").send(.post, "/_mock/reset")
    }

    private func waitForPort(_ port: Int) throws {
        try waitUntil("port \(port) accepts connections", timeout: .seconds(10)) {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            } == 0
        }
    }

    /// The configuration every integration test runs against.
    /// A config with the test server, Redis, audit spool and the mock provider in two
    /// wire formats (`mock`: OpenAI-compatible, `mock-anthropic`), then `rest` (routes,
    /// principals, prices, budgets, telemetry…).
    /// `audit`: more fields of the `audit:` map (`metric_tags: [team]`).
    static func mockConfig(_ stack: GatewayStack, workers: Int = 1, threads: Int = 4, audit: String = "",
                           _ rest: String) -> String {
        """
        server: { listen: "unix:\(stack.socketPath)", workers: \(workers), threads: \(threads) }
        redis: { url: "redis://127.0.0.1:\(stack.redisPort)/0", timeout: 500ms }
        audit: { spool_dir: "\(stack.directory.path)/spool"\(audit.isEmpty ? "" : ", " + audit) }
        providers:
          mock: { kind: openai_compatible, base_url: "http://127.0.0.1:\(stack.mockPort)/v1", api_key: "${env:SLUICE_TEST_MOCK_KEY}" }
          mock-anthropic: { kind: anthropic, base_url: "http://127.0.0.1:\(stack.mockPort)/v1", api_key: "${env:SLUICE_TEST_MOCK_KEY}" }
        \(rest)
        """
    }

    static func config(_ stack: GatewayStack, extraRoutes: String = "") -> String {
        """
        server: { listen: "unix:\(stack.socketPath)", workers: 2, threads: 4, drain_timeout: 10s }
        redis: { url: "redis://127.0.0.1:\(stack.redisPort)/0", timeout: 500ms }
        audit: { spool_dir: "\(stack.directory.path)/spool" }
        providers:
          mock: { kind: openai_compatible, base_url: "http://127.0.0.1:\(stack.mockPort)/v1", api_key: "${env:SLUICE_TEST_MOCK_KEY}" }
          mock-openai: { kind: openai, base_url: "http://127.0.0.1:\(stack.mockPort)/v1", api_key: "${file:\(stack.directory.path)/mock.key}" }
          dead: { kind: openai_compatible, base_url: "http://127.0.0.1:\(stack.deadPort)/v1", timeouts: { connect: 1s } }
        routes:
          chat: { type: chat, endpoints: [ { provider: mock, model: mock-gpt } ] }
          completions: { type: completions, endpoints: [ { provider: mock, model: mock-instruct } ] }
          embeddings: { type: embeddings, endpoints: [ { provider: mock-openai, model: mock-embed } ] }
          slow: { type: chat, endpoints: [ { provider: mock, model: "mock-gpt@interval=250ms,words=8" } ] }
          timeout: { type: chat, timeouts: { first_byte: 1s }, endpoints: [ { provider: mock, model: "mock-gpt@delay=4s" } ] }
          dead: { type: chat, endpoints: [ { provider: dead, model: gpt } ] }
          fallback:
            type: chat
            endpoints:
              - { name: failing, provider: mock, model: "mock-gpt@status=503" }
              - { name: backup, provider: mock-openai, model: mock-gpt, fallback_only: true }
          rate-limited: { type: chat, endpoints: [ { provider: mock, model: "mock-gpt@status=429,retry_after=7" } ] }
          rejected: { type: chat, endpoints: [ { provider: mock, model: "mock-gpt@status=400" } ] }
          cut: { type: chat, endpoints: [ { provider: mock, model: "mock-gpt@drop=2,words=6" } ] }
        \(extraRoutes)
        principals:
          "*": { routes: [chat] }
        """
    }
}

struct StackError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The call records in the audit stream (`sluice:audit`) per request id, read in pages.
func callRecordCounts(_ redis: RedisConnection) throws -> [String: Int] {
    var counts: [String: Int] = [:]
    var cursor = "-"
    while true {
        guard case .array(let entries) = try redis.checked(["XRANGE", "sluice:audit", cursor, "+", "COUNT", "5000"]),
              !entries.isEmpty else { break }
        var last = ""
        for entry in entries {
            guard case .array(let parts) = entry, parts.count == 2, let id = parts[0].text else { continue }
            last = id
            let fields = parts[1].fieldMap
            guard fields["kind"] == "call", let requestId = fields["rid"] else { continue }
            counts[requestId, default: 0] += 1
        }
        cursor = "(" + last
    }
    return counts
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
func waitUntil(_ what: String, timeout: Duration, _ condition: () -> Bool) throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return }
        usleep(50_000)
    }
    throw StackError("timed out waiting until \(what)")
}
