import CHiredis
import Foundation
import Glibc
import SluiceCore
import Synchronization

/// Which Redis is the primary of a master name, as Redis Sentinel says: one per process
/// and Sentinel set, shared by every connection of the process.
///
/// Follows Sentinel's client guidelines (https://redis.io/docs/latest/develop/reference/sentinel-clients/):
/// the Sentinels are asked in turn with `SENTINEL get-master-addr-by-name` (the one that
/// answered last first); a connection then checks with `ROLE` that it reached a primary.
/// The answer is kept until a connection to it fails, finds a replica (`ROLE`, or a
/// `-READONLY` reply), or a Sentinel announces `+switch-master` on its Pub/Sub channel,
/// which a background thread per process listens to so every connection moves at once
/// rather than at its next failure. `epoch` changes with each new answer; a connection
/// opened under an older epoch is closed before its next command.
public final class SentinelDirectory: Sendable {
    /// A primary's address and the epoch it was learnt in.
    public struct Primary: Sendable, Equatable {
        public let host: String
        public let port: Int
        public let epoch: Int
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// What `/metrics` and `sluice endpoints` show.
    public struct Status: Sendable {
        /// The primary in use (nil until one was found, or after it failed).
        public let primary: Primary?
        /// Times this process found the primary at a new address.
        public let switchesSeen: Int
    }

    private struct State {
        var primary: Primary?
        var lastAddress: String?
        var switchesSeen = 0
        /// The Sentinel that answered last, asked first next time.
        var preferred = 0
        /// The process whose thread listens for `+switch-master` (a forked child starts its own).
        var watcherProcess: pid_t = 0
        /// After no Sentinel answered: not asked again before this instant.
        var failedUntil: ContinuousClock.Instant?
    }

    public let sentinels: RedisSentinels
    private let timeout: Duration
    private let state = Mutex(State())
    private let epochCounter = Atomic<Int>(0)
    /// Serializes asking the Sentinels, so a failover does not send every thread to them.
    private let lookup = Mutex(())

    private static let directories = Mutex<[String: SentinelDirectory]>([:])

    /// The process's directory for `sentinels`.
    public static func shared(for sentinels: RedisSentinels, timeout: Duration) -> SentinelDirectory {
        let key = "\(sentinels.masterName)@\(sentinels.nodes.map(\.description).joined(separator: ","))"
            + "#\(sentinels.username ?? "")"
        return directories.withLock { directories in
            if let directory = directories[key] { return directory }
            let directory = SentinelDirectory(sentinels: sentinels, timeout: timeout)
            directories[key] = directory
            return directory
        }
    }

    init(sentinels: RedisSentinels, timeout: Duration) {
        self.sentinels = sentinels
        self.timeout = timeout
    }

    /// Changes whenever the primary in use may have changed.
    public var epoch: Int { epochCounter.load(ordering: .acquiring) }

    public var status: Status {
        state.withLock { Status(primary: $0.primary, switchesSeen: $0.switchesSeen) }
    }

    /// The primary to connect to: the one known, else the Sentinels' answer.
    public func primary() throws(RedisError) -> Primary {
        startWatcherIfNeeded()
        let (known, failedUntil) = state.withLock { ($0.primary, $0.failedUntil) }
        if let known { return known }
        // No Sentinel answered a moment ago: fail at once rather than queue every thread
        // behind another round of asking them (each may cost a timeout).
        if let failedUntil, ContinuousClock.now < failedUntil {
            throw RedisError(.connection, "no Sentinel named the primary of '\(sentinels.masterName)' less than "
                             + "\(RedisConnection.holdOff) ago; not asked again yet", notSent: true)
        }
        return try lookup.withLock { _ throws(RedisError) -> Primary in
            if let known = state.withLock({ $0.primary }) { return known }  // another thread asked meanwhile
            do throws(RedisError) {
                let (host, port) = try askSentinels()
                state.withLock { $0.failedUntil = nil }
                return learn(host: host, port: port)
            } catch {
                state.withLock { $0.failedUntil = ContinuousClock.now + RedisConnection.holdOff }
                throw error
            }
        }
    }

    /// A connection to `primary` failed or found a replica: the next connection asks the
    /// Sentinels again (unless a newer primary is already known).
    public func forget(_ primary: Primary) {
        state.withLock { state in
            guard state.primary == primary else { return }
            state.primary = nil
            epochCounter.add(1, ordering: .releasing)
        }
    }

    /// Records `host:port` as the primary; counts a switch when it moved.
    @discardableResult
    func learn(host: String, port: Int) -> Primary {
        state.withLock { state in
            let address = "\(host):\(port)"
            if let current = state.primary, current.host == host, current.port == port { return current }
            if let last = state.lastAddress, last != address { state.switchesSeen += 1 }
            state.lastAddress = address
            let epoch = epochCounter.add(1, ordering: .releasing).newValue
            let primary = Primary(host: host, port: port, epoch: epoch)
            state.primary = primary
            return primary
        }
    }

    /// One connection to a Sentinel (its own credentials, no database).
    private func sentinelConnection(_ node: RedisSentinels.Node) -> RedisConnection {
        RedisConnection(config: RedisConfig(url: RedisURL(address: .tcp(host: node.host, port: node.port),
                                                          username: sentinels.username, password: sentinels.password),
                                            timeout: timeout))
    }

    /// Asks each Sentinel in turn, the last one that answered first.
    private func askSentinels() throws(RedisError) -> (String, Int) {
        let count = sentinels.nodes.count
        let first = state.withLock { $0.preferred } % max(count, 1)
        var problems: [String] = []
        for offset in 0..<count {
            let index = (first + offset) % count
            let node = sentinels.nodes[index]
            let connection = sentinelConnection(node)
            defer { connection.close() }
            do {
                let reply = try connection.command(["SENTINEL", "get-master-addr-by-name", sentinels.masterName])
                guard case .array(let parts) = reply, parts.count == 2, let host = parts[0].text,
                      let port = parts[1].integer else {
                    if case .error(let message) = reply {
                        problems.append("\(node): \(message)")
                    } else {
                        problems.append("\(node) does not know master '\(sentinels.masterName)'")
                    }
                    continue
                }
                state.withLock { $0.preferred = index }
                return (host, port)
            } catch {
                problems.append("\(node): \(error.message)")
            }
        }
        throw RedisError(.connection, "no Sentinel named the primary of '\(sentinels.masterName)' (\(problems.joined(separator: "; ")))",
                         notSent: true)
    }

    /// Asks a Sentinel for what it knows of the master (`SENTINEL MASTER`): its address,
    /// flags, replicas, other Sentinels and config epoch (which counts failovers). For
    /// `sluice endpoints` and `/metrics`; nil when no Sentinel answered.
    public func sentinelView() -> [String: String]? {
        for node in sentinels.nodes {
            let connection = sentinelConnection(node)
            defer { connection.close() }
            if let reply = try? connection.command(["SENTINEL", "MASTER", sentinels.masterName]),
               case .array = reply {
                return reply.fieldMap
            }
        }
        return nil
    }

    // MARK: - +switch-master

    private func startWatcherIfNeeded() {
        let process = getpid()
        let start = state.withLock { state -> Bool in
            guard state.watcherProcess != process else { return false }
            state.watcherProcess = process
            return true
        }
        guard start else { return }
        let thread = Thread { [self] in watch(process: process) }
        thread.name = "sentinel-watch"
        thread.stackSize = 256 << 10
        thread.start()
    }

    /// Listens on each Sentinel in turn for `+switch-master`; reconnects after a failure.
    private func watch(process: pid_t) {
        var index = 0
        while getpid() == process {
            let node = sentinels.nodes[index % sentinels.nodes.count]
            index += 1
            listen(to: node)
            usleep(200_000)
        }
    }

    /// One subscription, until the connection fails.
    private func listen(to node: RedisSentinels.Node) {
        guard let context = redisConnectWithTimeout(node.host, Int32(node.port), RedisConnection.timeval(timeout)) else { return }
        defer { redisFree(context) }
        guard context.pointee.err == 0 else { return }
        _ = redisEnableKeepAlive(context)
        var commands: [[String]] = []
        if let password = sentinels.password {
            commands.append(["AUTH"] + (sentinels.username.map { [$0] } ?? []) + [password.exposedValue])
        }
        commands.append(["SUBSCRIBE", "+switch-master"])
        for command in commands {
            let bytes = RedisConnection.encode(command)
            let status = bytes.withUnsafeBufferPointer { buffer in
                buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                    redisAppendFormattedCommand(context, $0, buffer.count)
                }
            }
            guard status == REDIS_OK else { return }
        }
        // Replies wait as long as it takes: a switch may be hours away. A Sentinel that goes
        // away resets the connection (or keep-alive notices), and the loop moves on.
        redisSetTimeout(context, Glibc.timeval(tv_sec: 0, tv_usec: 0))
        if sentinels.password != nil {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else { return }
            let failed = raw.assumingMemoryBound(to: redisReply.self).pointee.type == REDIS_REPLY_ERROR
            freeReplyObject(raw)
            if failed { return }
        }
        while true {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else { return }
            let reply = RedisConnection.copy(raw.assumingMemoryBound(to: redisReply.self).pointee)
            freeReplyObject(raw)
            // ["message", "+switch-master", "<master name> <old ip> <old port> <new ip> <new port>"]
            guard case .array(let parts) = reply, parts.count == 3, parts[0].text == "message",
                  let text = parts[2].text else { continue }
            let fields = text.split(separator: " ")
            guard fields.count == 5, fields[0] == sentinels.masterName, let port = Int(fields[4]) else { continue }
            learn(host: String(fields[3]), port: port)
            state.withLock { $0.failedUntil = nil }
        }
    }
}
