import Foundation
import SluiceCore
import SluiceRedis
import XCTest

/// Several "hosts" on one machine: network namespaces (`ip netns`) joined by veth links to
/// a bridge, each with its own address. Responder hosts each run a pool (`sluice serve`
/// listening on TCP); Redis primary, replica and three Sentinels each get a namespace; the
/// mock provider and nginx (an `upstream` of the responder hosts) run in the test's own
/// namespace, which has the bridge's address. Everything is stopped by pid and the
/// namespaces and bridge are deleted in `stop()`. Needs root and iproute2.
final class NetnsLab: @unchecked Sendable {
    /// A namespace of the lab and its address on the bridge.
    struct Host {
        let namespace: String
        let address: String
    }

    let id: String
    let subnet: String
    let directory: URL
    let bridge: String
    let responders: [Host]
    let primary: Host
    let replica: Host
    let sentinels: [Host]
    let redisPassword = "lab-redis-\(UInt32.random(in: 0...UInt32.max))"
    /// The Sentinels' own password (`requirepass`, and `sentinel-pass` between them).
    let sentinelPassword = "lab-sentinel-\(UInt32.random(in: 0...UInt32.max))"
    let masterName = "lab"
    let mockKey = "lab-mock-\(UInt32.random(in: 0...UInt32.max))"
    let nginxPort = freeLoopbackPort()
    let mockPort = freeLoopbackPort()
    let client: TestClient
    let binary: String
    private let mockBinary: String
    private var namespaces: [String] = []
    private var links: [String] = []
    private(set) var processes: [String: ManagedProcess] = [:]
    private let workersPerHost: Int

    /// Whether this machine can build the lab (root, `ip`, network namespaces).
    static func available() throws {
        guard geteuid() == 0 else { throw XCTSkip("the multi-host lab needs root (ip netns)") }
        guard which("ip") != nil, which("redis-server") != nil, which("nginx") != nil else {
            throw XCTSkip("the multi-host lab needs iproute2, redis-server and nginx")
        }
    }

    init(hosts: Int = 3, workersPerHost: Int = 2) throws {
        try Self.available()
        guard let binary = GatewayStack.sluiceBinary, let mockBinary = GatewayStack.mockBinary(beside: binary) else {
            throw XCTSkip("build sluice and sluice-mock first (swift build)")
        }
        self.binary = binary
        self.mockBinary = mockBinary
        self.workersPerHost = workersPerHost
        id = String(format: "%04x", UInt16.random(in: 0...UInt16.max))
        subnet = "10.213.\(Int.random(in: 1...250))"
        bridge = "slb\(id)"
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sluice-lab-\(id)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let id = id, subnet = subnet
        responders = (1...hosts).map { Host(namespace: "sl\(id)h\($0)", address: "\(subnet).\(10 + $0)") }
        primary = Host(namespace: "sl\(id)r1", address: "\(subnet).21")
        replica = Host(namespace: "sl\(id)r2", address: "\(subnet).22")
        sentinels = (1...3).map { Host(namespace: "sl\(id)s\($0)", address: "\(subnet).\(30 + $0)") }
        client = TestClient(baseURL: "http://127.0.0.1:\(nginxPort)")
        do {
            try build()
            try start()
        } catch {
            stop()
            throw error
        }
    }

    // MARK: - Network

    private func ip(_ arguments: [String]) throws {
        let result = try runCommand(which("ip")!, arguments)
        guard result.status == 0 else { throw StackError("ip \(arguments.joined(separator: " ")): \(result.output)") }
    }

    private func build() throws {
        try ip(["link", "add", bridge, "type", "bridge"])
        links.append(bridge)
        try ip(["addr", "add", "\(subnet).1/24", "dev", bridge])
        try ip(["link", "set", bridge, "up"])
        for (index, host) in (responders + [primary, replica] + sentinels).enumerated() {
            try ip(["netns", "add", host.namespace])
            namespaces.append(host.namespace)
            let link = "slv\(id)\(index)"
            try ip(["link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", host.namespace])
            links.append(link)
            try ip(["link", "set", link, "master", bridge, "up"])
            try ip(["-n", host.namespace, "addr", "add", "\(host.address)/24", "dev", "eth0"])
            try ip(["-n", host.namespace, "link", "set", "eth0", "up"])
            try ip(["-n", host.namespace, "link", "set", "lo", "up"])
        }
    }

    /// Runs `executable` inside `host`'s namespace (`ip netns exec` execs it: the pid is its own).
    @discardableResult
    func run(_ name: String, in host: Host?, _ executable: String, _ arguments: [String],
             environment: [String: String] = [:]) throws -> ManagedProcess {
        let process: ManagedProcess
        if let host {
            process = try ManagedProcess(name: name, executable: which("ip")!,
                                         arguments: ["netns", "exec", host.namespace, executable] + arguments,
                                         environment: environment, logDirectory: directory)
        } else {
            process = try ManagedProcess(name: name, executable: executable, arguments: arguments,
                                         environment: environment, logDirectory: directory)
        }
        processes[name] = process
        return process
    }

    // MARK: - Services

    private func start() throws {
        let redisServer = which("redis-server")!
        let common = ["--port", "6379", "--requirepass", redisPassword, "--masterauth", redisPassword,
                      "--save", "", "--appendonly", "no", "--loglevel", "warning"]
        try run("redis-primary", in: primary, redisServer,
                common + ["--bind", primary.address, "--dir", try folder("redis-primary")])
        try run("redis-replica", in: replica, redisServer,
                common + ["--bind", replica.address, "--dir", try folder("redis-replica"),
                          "--replicaof", primary.address, "6379"])
        for (index, sentinel) in sentinels.enumerated() {
            let dir = try folder("sentinel\(index + 1)")
            let conf = dir + "/sentinel.conf"
            try """
            port 26379
            bind \(sentinel.address)
            protected-mode no
            requirepass \(sentinelPassword)
            sentinel sentinel-pass \(sentinelPassword)
            dir \(dir)
            sentinel monitor \(masterName) \(primary.address) 6379 2
            sentinel auth-pass \(masterName) \(redisPassword)
            sentinel down-after-milliseconds \(masterName) 1000
            sentinel failover-timeout \(masterName) 5000
            sentinel parallel-syncs \(masterName) 1

            """.write(toFile: conf, atomically: true, encoding: .utf8)
            try run("sentinel\(index + 1)", in: sentinel, redisServer, [conf, "--sentinel", "--loglevel", "warning"])
        }
        try run("mock", in: nil, mockBinary, ["--listen", "\(subnet).1:\(mockPort)", "--api-key", mockKey])
        try waitUntil("the Sentinels know the replica and each other", timeout: .seconds(30)) {
            sentinels.allSatisfy { sentinel in
                let view = (try? sentinelConnection(sentinel).command(["SENTINEL", "MASTER", masterName]))?.fieldMap ?? [:]
                return view["num-slaves"] == "1" && view["num-other-sentinels"] == "2"
            }
        }
        for (index, host) in responders.enumerated() {
            try startResponder(index)
            _ = host
        }
        try startNginx()
        try waitUntil("every responder host answers through nginx", timeout: .seconds(30)) {
            client.send(.get, "/sluice/healthz").status == 200
        }
    }

    private func folder(_ name: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    var routes: String = """
          chat: { type: chat, endpoints: [ { provider: mock, model: mock-gpt } ] }
        """

    /// Extra top-level config (e.g. `admission: { on_redis_error: fail_closed }`).
    var extraConfig = ""

    /// Host `index`'s config: its own listener and spool, the lab's Sentinels.
    func config(_ index: Int) -> String {
        let host = responders[index]
        return """
        server: { listen: "\(host.address):9000", workers: \(workersPerHost), threads: 8, backlog: 1024, drain_timeout: 5s }
        redis:
          sentinels: [\(sentinels.map { "\"\($0.address):26379\"" }.joined(separator: ", "))]
          master_name: \(masterName)
          password: "${env:LAB_REDIS_PASSWORD}"
          sentinel_password: "${env:LAB_SENTINEL_PASSWORD}"
          timeout: 500ms
        audit: { spool_dir: "\(directory.path)/spool-h\(index + 1)" }
        providers:
          mock: { kind: openai, base_url: "http://\(subnet).1:\(mockPort)/v1", api_key: "${env:LAB_MOCK_KEY}" }
        routes:
        \(routes)
        principals:
          "*": {}
        \(extraConfig)
        """
    }

    var environment: [String: String] {
        ["LAB_REDIS_PASSWORD": redisPassword, "LAB_SENTINEL_PASSWORD": sentinelPassword, "LAB_MOCK_KEY": mockKey]
    }

    func configPath(_ index: Int) -> String { directory.appendingPathComponent("h\(index + 1).yaml").path }

    func startResponder(_ index: Int) throws {
        try config(index).write(toFile: configPath(index), atomically: true, encoding: .utf8)
        try run("h\(index + 1)", in: responders[index], binary,
                ["serve", "--config", configPath(index), "--pid-file", directory.appendingPathComponent("h\(index + 1).pid").path],
                environment: environment)
    }

    private func startNginx() throws {
        let nginxDirectory = directory.appendingPathComponent("nginx")
        let nginxConfig = nginxDirectory.appendingPathComponent("nginx.conf").path
        let first = "\(responders[0].address):9000"
        let rendered = try runCommand(GatewayStack.repository.path + "/scripts/render-nginx",
                                      [nginxDirectory.path, "127.0.0.1:\(nginxPort)", first, nginxConfig])
        guard rendered.status == 0 else { throw StackError("render-nginx failed: \(rendered.output)") }
        // The shipped multi-host upstream (nginx/examples/multi-host.conf), with the lab's hosts.
        var text = try String(contentsOfFile: nginxConfig, encoding: .utf8)
        let servers = responders.map { "        server \($0.address):9000 max_fails=1 fail_timeout=10s;" }.joined(separator: "\n")
        guard text.contains("        server \(first);\n") else { throw StackError("unexpected rendered upstream") }
        text = text.replacingOccurrences(of: "        server \(first);\n", with: servers + "\n")
        try text.write(toFile: nginxConfig, atomically: true, encoding: .utf8)
        try run("nginx", in: nil, which("nginx")!,
                ["-p", nginxDirectory.path, "-c", nginxConfig, "-e", nginxDirectory.path + "/error.log", "-g", "daemon off;"])
    }

    // MARK: - Faults

    /// SIGKILLs every process in `host`'s namespace, then deletes the namespace: the host is gone.
    func destroy(_ host: Host) throws {
        let pids = try runCommand(which("ip")!, ["netns", "pids", host.namespace]).output
            .split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
        for pid in pids { kill(pid, SIGKILL) }
        for (name, process) in processes where pids.contains(process.pid) {
            _ = process.waitForExit(timeout: .seconds(5))
            processes[name] = nil
        }
        try ip(["netns", "del", host.namespace])
        namespaces.removeAll { $0 == host.namespace }
    }

    /// Gives `host` a namespace again (after `destroy`), with the same address.
    func rebuild(_ host: Host) throws {
        let index = (responders + [primary, replica] + sentinels).firstIndex { $0.namespace == host.namespace }!
        try ip(["netns", "add", host.namespace])
        namespaces.append(host.namespace)
        let link = "slv\(id)\(index)"
        try? ip(["link", "del", link])
        try ip(["link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", host.namespace])
        try ip(["link", "set", link, "master", bridge, "up"])
        try ip(["-n", host.namespace, "addr", "add", "\(host.address)/24", "dev", "eth0"])
        try ip(["-n", host.namespace, "link", "set", "eth0", "up"])
        try ip(["-n", host.namespace, "link", "set", "lo", "up"])
    }

    // MARK: - Redis, as the test reads it

    func sentinelConnection(_ sentinel: Host) -> RedisConnection {
        RedisConnection(config: RedisConfig(url: RedisURL(address: .tcp(host: sentinel.address, port: 26379),
                                                          password: Secret(sentinelPassword, origin: "test")),
                                            timeout: .seconds(1)))
    }

    /// A connection that follows the Sentinels, as the responders' do.
    func redis() -> RedisConnection {
        RedisConnection(config: RedisConfig(url: RedisURL(address: .sentinel(RedisSentinels(
            masterName: masterName, nodes: sentinels.map { RedisSentinels.Node(host: $0.address, port: 26379) },
            password: Secret(sentinelPassword, origin: "test"))),
            password: Secret(redisPassword, origin: "test")), timeout: .seconds(3)))
    }

    /// `sluice keys create` against the lab's Redis (through the Sentinels).
    func createKey(name: String) throws -> String {
        let result = try runCommand(binary, ["keys", "create", "--config", configPath(0), "--name", name, "--quiet"],
                                    environment: environment)
        guard result.status == 0 else { throw StackError("keys create failed: \(result.output)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Audit records per request id, read from the current primary.
    func auditCounts() throws -> [String: Int] {
        try callRecordCounts(redis())
    }

    /// The mock provider's requests by the body's `user` field.
    func providerCallsByUser() -> [String: Int] {
        let stats = TestClient(baseURL: "http://\(subnet).1:\(mockPort)").send(.get, "/_mock/stats").json
        return (stats["by_user"] as? [String: Int]) ?? [:]
    }

    // MARK: - Teardown

    func stop() {
        processes["nginx"]?.stop(signal: SIGQUIT)
        for (name, process) in processes where name != "nginx" { process.stop(timeout: .seconds(5)) }
        processes = [:]
        for namespace in namespaces { try? ip(["netns", "del", namespace]) }
        namespaces = []
        for link in links.reversed() { try? ip(["link", "del", link]) }
        links = []
    }

    deinit { stop() }
}
