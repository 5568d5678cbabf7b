import CHiredis
import Glibc
import SluiceCore
import Synchronization

/// One synchronous connection to Redis, owned by one thread.
///
/// Commands are encoded here in the Redis protocol (RESP, binary safe) and handed to
/// hiredis whole with `redisAppendFormattedCommand`, then read with `redisGetReply`;
/// several appends before the first read make a pipeline in one round trip (see
/// https://github.com/redis/hiredis#using-replies and #pipelining). The connection is
/// opened lazily and re-opened after a failure. A command that changes state is never
/// re-sent after it may have reached the server (a timed-out command may still be
/// applied later); only commands marked `idempotent` are retried once on a fresh
/// connection.
public final class RedisConnection {
    private let config: RedisConfig
    private var context: UnsafeMutablePointer<redisContext>?
    /// Replies of commands sent with `start` and not read yet (on the current connection).
    private var unread = 0
    /// Counts the connections opened, so replies are never read from a later one.
    private var generation = 0
    /// Changes whenever a new connection is opened: a caller that must know two commands went
    /// over the same connection (`WAIT` after a write) compares it before and after.
    public var connectionGeneration: Int { generation }
    /// After Redis timed out or could not be reached, no new connection is tried before
    /// this instant: commands fail at once instead of each waiting out the timeout, so a
    /// request that needs Redis several times waits for it at most once while Redis is
    /// paused or gone. (A connection reset alone does not hold off: a fresh connection
    /// usually works at once, e.g. after a Redis restart; nor does a refused connect, which
    /// costs no wait.)
    private var holdOffUntil: ContinuousClock.Instant? {
        get {
            guard Self.anyHoldOff.load(ordering: .acquiring) else { return nil }
            return Self.holdOffs.withLock { $0[holdOffKey] }
        }
        set {
            Self.holdOffs.withLock { holdOffs in
                holdOffs[holdOffKey] = newValue
                Self.anyHoldOff.store(!holdOffs.isEmpty, ordering: .releasing)
            }
        }
    }
    /// How long `holdOffUntil` lasts.
    public static let holdOff = Duration.seconds(1)
    /// The hold-off is the process's, per Redis address: every connection to a Redis that
    /// just timed out fails at once, so a call that needs two of them (its thread's, then
    /// its worker's shared admission lane) waits out one timeout, not two.
    private static let holdOffs = Mutex<[String: ContinuousClock.Instant]>([:])
    /// Whether `holdOffs` holds any (the common case, none, costs one atomic load).
    private static let anyHoldOff = Atomic<Bool>(false)
    /// The address the hold-off is kept for: the URL's, or under Sentinel the primary's.
    private var holdOffKey: String
    /// Under Sentinel: who names the primary, and the primary this connection is open to.
    private let directory: SentinelDirectory?
    private var primary: SentinelDirectory.Primary?
    /// What error messages call the server (never with a password).
    private var target: String

    public init(config: RedisConfig) {
        self.config = config
        self.holdOffKey = "\(config.url)"
        self.target = "\(config.url)"
        if case .sentinel(let sentinels) = config.url.address {
            directory = SentinelDirectory.shared(for: sentinels, timeout: config.timeout)
        } else {
            directory = nil
        }
    }

    /// Under Sentinel, the process's view of the primary (nil for a plain URL).
    public var sentinelDirectory: SentinelDirectory? { directory }

    deinit {
        if let context { redisFree(context) }
    }

    /// Runs one command and returns its reply (an error reply is thrown).
    public func command(_ arguments: [String], idempotent: Bool = false) throws(RedisError) -> RedisValue {
        let replies = try pipeline([arguments], idempotent: idempotent)
        return replies[0]
    }

    /// Sends every command, then reads every reply: one round trip. Error replies are
    /// returned in place (as `.error`), not thrown, so one failed command does not hide
    /// the others' results.
    public func pipeline(_ commands: [[String]], idempotent: Bool = false) throws(RedisError) -> [RedisValue] {
        do {
            return try send(commands)
        } catch where error.kind == .connection && idempotent {
            return try send(commands)
        }
    }

    /// Whether `count` replicas have every write this connection made (`WAIT count timeout`),
    /// as long as the connection is still number `generation` (`connectionGeneration` read
    /// after the writes): `WAIT` on a connection opened since would speak for none of them.
    public func replicasConfirm(_ count: Int, within timeout: Duration, generation: Int) -> Bool {
        guard generation == self.generation, context != nil else { return false }
        let acknowledged = (try? command(["WAIT", String(count), String(max(1, timeout.wholeMilliseconds))]))?.integer ?? 0
        return generation == self.generation && acknowledged >= count
    }

    /// Like `command`, but an error reply is thrown as `RedisError(.server, …)`.
    public func checked(_ arguments: [String], idempotent: Bool = false) throws(RedisError) -> RedisValue {
        let reply = try command(arguments, idempotent: idempotent)
        if case .error(let message) = reply { throw RedisError(.server, message) }
        return reply
    }

    /// Runs `script` by its SHA-1, sending the source only when Redis does not know it yet
    /// (first use, or after a restart). An error reply is thrown. Never re-sent after a
    /// connection failure: scripts change state.
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [String]) throws(RedisError) -> RedisValue {
        let reply = try evaluateAll([(script, keys, arguments)])[0]
        if case .error(let message) = reply { throw RedisError(.server, message) }
        return reply
    }

    /// Runs several scripts in one round trip (pipelined `EVALSHA`s); a script Redis did not
    /// know (it had not run, so resending is safe) is sent again with its source. Replies
    /// come back in order, error replies in place.
    public func evaluateAll(_ calls: [(script: RedisScript, keys: [String], arguments: [String])]) throws(RedisError) -> [RedisValue] {
        try finish(try start(calls))
    }

    /// Scripts sent with `start` whose replies `finish` reads.
    public struct PendingScripts {
        fileprivate let calls: [(script: RedisScript, keys: [String], arguments: [String])]
        fileprivate let tails: [[String]]
        fileprivate let generation: Int
    }

    /// Sends `calls` (pipelined `EVALSHA`s) and returns once they are written to Redis,
    /// without waiting for the replies: `finish` reads them. For work whose result is not
    /// needed at once but whose effect must reach Redis before something else happens.
    public func start(_ calls: [(script: RedisScript, keys: [String], arguments: [String])]) throws(RedisError) -> PendingScripts {
        let context = try connected()
        try discardUnread(context)
        let tails = calls.map { [String($0.keys.count)] + $0.keys + $0.arguments }
        for (call, tail) in zip(calls, tails) {
            try append(["EVALSHA", call.script.sha1] + tail, to: context)
        }
        try flushOutput(context)
        unread = calls.count
        return PendingScripts(calls: calls, tails: tails, generation: generation)
    }

    /// The replies of scripts `start` sent, in order (error replies in place); a script Redis
    /// did not know is sent again with its source, as `evaluateAll` does.
    public func finish(_ pending: PendingScripts) throws(RedisError) -> [RedisValue] {
        guard let context, pending.generation == generation, unread == pending.calls.count else {
            throw RedisError(.connection, "the connection to \(target) was lost before the replies arrived")
        }
        var replies: [RedisValue] = []
        replies.reserveCapacity(pending.calls.count)
        for _ in pending.calls {
            replies.append(try readReply(from: context))
            unread -= 1
        }
        try refuseReplica(replies)
        // Scripts Redis did not know (it restarted): sent again with their source, on this
        // connection, pipelined. Not held back by a hold-off: the calls before them were
        // already sent, so a failure here is never `notSent`.
        let unknown = replies.indices.filter { index in
            if case .error(let message) = replies[index] { return message.hasPrefix("NOSCRIPT") }
            return false
        }
        guard !unknown.isEmpty else { return replies }
        for index in unknown {
            try append(["EVAL", pending.calls[index].script.source] + pending.tails[index], to: context)
        }
        try flushOutput(context)
        for index in unknown {
            replies[index] = try readReply(from: context)
        }
        return replies
    }

    /// Closes the connection; the next command opens a new one.
    public func close() {
        if let context { redisFree(context) }
        context = nil
        unread = 0
    }

    /// Writes everything appended to `context` to Redis.
    private func flushOutput(_ context: UnsafeMutablePointer<redisContext>) throws(RedisError) {
        var done: Int32 = 0
        while done == 0 {
            guard redisBufferWrite(context, &done) == REDIS_OK else { throw failure("write") }
        }
    }

    /// Reads and drops the replies of a `start` that was never finished.
    private func discardUnread(_ context: UnsafeMutablePointer<redisContext>) throws(RedisError) {
        while unread > 0 {
            _ = try readReply(from: context)
            unread -= 1
        }
    }

    private func send(_ commands: [[String]]) throws(RedisError) -> [RedisValue] {
        let context = try connected()
        try discardUnread(context)
        for command in commands {
            try append(command, to: context)
        }
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            replies.append(try readReply(from: context))
        }
        try refuseReplica(replies)
        return replies
    }

    /// Under Sentinel, a `-READONLY` reply means the primary this connection reached became a
    /// replica (a failover demoted it): the connection is closed, the Sentinels are asked
    /// again, and the call fails — as not sent when every command was refused (a replica
    /// applies no write).
    private func refuseReplica(_ replies: [RedisValue]) throws(RedisError) {
        guard let directory else { return }
        for reply in replies {
            guard case .error(let message) = reply, message.contains("READONLY") else { continue }
            if let primary { directory.forget(primary) }
            close()
            // Not sent only if nothing in the pipeline succeeded: a node demoted mid-pipeline
            // may have applied the commands before its first refusal.
            let nothingApplied = replies.allSatisfy { if case .error = $0 { return true } else { return false } }
            throw RedisError(.connection, "\(target) is a replica now (READONLY); asking the Sentinels again",
                             notSent: nothingApplied)
        }
    }

    private func append(_ arguments: [String], to context: UnsafeMutablePointer<redisContext>) throws(RedisError) {
        let command = Self.encode(arguments)
        let status = command.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                redisAppendFormattedCommand(context, $0, buffer.count)
            }
        }
        guard status == REDIS_OK else { throw failure("append") }
    }

    /// One command in RESP: `*<count>\r\n`, then `$<length>\r\n<bytes>\r\n` per argument
    /// (https://redis.io/docs/latest/develop/reference/protocol-spec/#sending-commands-to-a-redis-server).
    static func encode(_ arguments: [String]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(arguments.reduce(16) { $0 + $1.utf8.count + 16 })
        func appendNumber(_ value: Int) {
            if value < 10 { return out.append(UInt8(ascii: "0") + UInt8(value)) }
            var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                          UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            var count = 0
            var rest = value
            withUnsafeMutableBytes(of: &digits) { buffer in
                while rest > 0 {
                    buffer[count] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                    count += 1
                }
                for index in stride(from: count - 1, through: 0, by: -1) { out.append(buffer[index]) }
            }
        }
        out.append(UInt8(ascii: "*"))
        appendNumber(arguments.count)
        out.append(13)
        out.append(10)
        for argument in arguments {
            let utf8 = argument.utf8
            out.append(UInt8(ascii: "$"))
            appendNumber(utf8.count)
            out.append(13)
            out.append(10)
            out.append(contentsOf: utf8)
            out.append(13)
            out.append(10)
        }
        return out
    }

    private func readReply(from context: UnsafeMutablePointer<redisContext>) throws(RedisError) -> RedisValue {
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw failure("read") }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(raw) }
        return Self.copy(reply.pointee)
    }

    private func failure(_ operation: String) -> RedisError {
        let message = context.map { String(cString: sluice_redis_errstr($0)) } ?? "not connected"
        if Self.isTimeout(message) { holdOffUntil = ContinuousClock.now + Self.holdOff }
        if let directory, let primary { directory.forget(primary) }
        close()
        return RedisError(.connection, "\(operation) failed on \(target): \(message)")
    }

    private func connected() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        // Under Sentinel, a hold-off is the old primary's; once another is named, it is moot
        // (the new primary's own hold-off is checked when it is chosen, below).
        let primaryMoved = directory.map { $0.epoch != primary?.epoch } ?? false
        if !primaryMoved, let until = holdOffUntil {
            if ContinuousClock.now < until {
                throw RedisError(.connection, "\(target) timed out less than \(Self.holdOff) ago; not tried again yet",
                                 notSent: true)
            }
            // Expired: cleared, unless another connection has set a new one meanwhile.
            Self.holdOffs.withLock { holdOffs in
                if holdOffs[holdOffKey] == until { holdOffs[holdOffKey] = nil }
                Self.anyHoldOff.store(!holdOffs.isEmpty, ordering: .releasing)
            }
        }
        if let context {
            // Under Sentinel, a connection opened before the primary changed is not used again.
            guard let directory, directory.epoch != primary?.epoch else { return context }
            close()
        }
        let timeout = Self.timeval(config.timeout)
        let opened: UnsafeMutablePointer<redisContext>?
        switch config.url.address {
        case .tcp(let host, let port): opened = redisConnectWithTimeout(host, Int32(port), timeout)
        case .unix(let path): opened = redisConnectUnixWithTimeout(path, timeout)
        case .sentinel(let sentinels):
            let found = try directory!.primary()
            primary = found
            target = "primary \(found.description) of '\(sentinels.masterName)'"
            holdOffKey = found.description
            if let until = holdOffUntil, ContinuousClock.now < until {
                throw RedisError(.connection, "\(target) timed out less than \(Self.holdOff) ago; not tried again yet",
                                 notSent: true)
            }
            opened = redisConnectWithTimeout(found.host, Int32(found.port), timeout)
        }
        guard let opened else {
            throw RedisError(.connection, "cannot allocate a connection to \(target)", notSent: true)
        }
        if opened.pointee.err != 0 {
            let message = String(cString: sluice_redis_errstr(opened))
            redisFree(opened)
            if Self.isTimeout(message) { holdOffUntil = ContinuousClock.now + Self.holdOff }
            if let directory, let primary { directory.forget(primary) }
            throw RedisError(.connection, "cannot connect to \(target): \(message)", notSent: true)
        }
        redisSetTimeout(opened, timeout)
        context = opened
        generation += 1
        var setup: [[String]] = []
        if let password = config.url.password {
            setup.append(["AUTH"] + (config.url.username.map { [$0] } ?? []) + [password.exposedValue])
        }
        if config.url.database != 0 { setup.append(["SELECT", String(config.url.database)]) }
        // Under Sentinel, the node named may not be the primary (yet, or any more).
        if directory != nil { setup.append(["ROLE"]) }
        if !setup.isEmpty {
            // On `opened` itself, not through `connected()` (which could, with the epoch moved
            // meanwhile, close and replace the connection being set up).
            for command in setup { try append(command, to: opened) }
            var replies: [RedisValue] = []
            for _ in setup { replies.append(try readReply(from: opened)) }
            for reply in replies {
                if case .error(let message) = reply {
                    close()
                    // The server's message for a failed AUTH does not contain the password.
                    throw RedisError(.server, "setting up the connection to \(target) failed: \(message)")
                }
            }
            if let directory, let primary, case .array(let role) = replies[replies.count - 1], role.first?.text != "master" {
                directory.forget(primary)
                close()
                throw RedisError(.connection, "\(target) is not the primary (its role is \(role.first?.text ?? "unknown")); "
                                 + "asking the Sentinels again", notSent: true)
            }
        }
        return opened
    }

    /// hiredis reports a timeout as EAGAIN's text on reads and writes, and as a timeout on
    /// connect; a refused connection fails at once and needs no hold-off.
    private static func isTimeout(_ message: String) -> Bool {
        message.contains("temporarily unavailable") || message.contains("timed out") || message.contains("Timeout")
    }

    static func timeval(_ duration: Duration) -> Glibc.timeval {
        let micros = max(1, duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000)
        return Glibc.timeval(tv_sec: Int(micros / 1_000_000), tv_usec: Int(micros % 1_000_000))
    }

    static func copy(_ reply: redisReply) -> RedisValue {
        switch reply.type {
        case REDIS_REPLY_STRING:
            guard let str = reply.str else { return .string([]) }
            return .string(Array(UnsafeRawBufferPointer(start: str, count: reply.len)))
        case REDIS_REPLY_INTEGER: return .integer(Int(reply.integer))
        case REDIS_REPLY_NIL: return .null
        case REDIS_REPLY_STATUS: return .status(reply.str.map { String(cString: $0) } ?? "")
        case REDIS_REPLY_ERROR: return .error(reply.str.map { String(cString: $0) } ?? "")
        case REDIS_REPLY_ARRAY:
            guard let elements = reply.element else { return .array([]) }
            return .array((0..<reply.elements).map { index in
                elements[index].map { copy($0.pointee) } ?? .null
            })
        default: return .null
        }
    }
}
