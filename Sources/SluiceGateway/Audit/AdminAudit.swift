import Glibc
import SluiceCore
import SluiceRedis

/// Admin actions as audit records of kind `admin`, in the same chained stream as calls:
/// key creation, rotation and revocation, and configuration reloads (applied or refused,
/// with the routes and budgets that changed and the file's SHA-256, never its secrets).
/// `who` is the OS user (and `SUDO_USER`), the host and the process.
public enum AdminAudit {
    /// One admin record. `details`: already-encoded JSON values by name (`JSONText.quoted`
    /// for strings).
    public struct Action {
        public var name: String
        public var details: [(key: String, json: String)]

        public init(_ name: String, details: [(key: String, json: String)]) {
            self.name = name
            self.details = details
        }

        /// The record's JSON: `kind`, `time`, `ts_ms`, `request_id`, `action`, `who`, `details`
        /// (as alert records have them, so drains store both alike).
        func json(requestId: String, nowMs: Int64, who: [(key: String, json: String)]) -> String {
            func object(_ members: [(key: String, json: String)]) -> String {
                "{" + members.map { JSONText.quoted($0.key) + ":" + $0.json }.joined(separator: ",") + "}"
            }
            return object([("kind", JSONText.quoted("admin")), ("time", JSONText.quoted(AuditRecord.iso8601(nowMs))),
                           ("ts_ms", String(nowMs)), ("request_id", JSONText.quoted(requestId)), ("action", JSONText.quoted(name)),
                           ("who", object(who)), ("details", object(details))])
        }
    }

    /// Appends `action` to the audit stream (its own writer, numbered 1, so it is appended
    /// once however often it is retried).
    public static func record(_ action: Action, redis: RedisConnection, keys: RedisKeys,
                              maxLength: Int = AuditConfig().maxLength) throws(RedisError) {
        try record(prepared(action, keys: keys), redis: redis, keys: keys, maxLength: maxLength)
    }

    /// The batch that appends `action` done by `who` (default: this process's user), made
    /// once so a retry sends the same writer and number.
    public static func prepared(_ action: Action, keys: RedisKeys, who: [(key: String, json: String)]? = nil) -> AuditBatch {
        var random = SystemRandomNumberGenerator()
        let suffix = Hex.lower(TraceContext.randomId(bytes: 8, using: &random))
        let nowMs = Governor.nowMs()
        let writer = "admin:\(hostName):\(getpid()):\(suffix)"
        var batch = AuditBatch(writer: writer, firstSequence: 1)
        let json = action.json(requestId: "admin-" + suffix, nowMs: nowMs, who: who ?? self.who)
        batch.add(AuditBatch.prepareEntry(kind: "admin", json: json, requestId: "admin-" + suffix, sequence: 1))
        return batch
    }

    public static func record(_ batch: AuditBatch, redis: RedisConnection, keys: RedisKeys, maxLength: Int) throws(RedisError) {
        let call = batch.call(keys: keys, maxLength: maxLength, usageTTLSeconds: 86_400)
        _ = try redis.evaluate(call.script, keys: call.keys, arguments: call.arguments)
    }

    /// The OS user, `SUDO_USER` when run through sudo, the host and the process.
    static var who: [(key: String, json: String)] {
        var members = user(getuid())
        if let sudo = getenv("SUDO_USER").map({ String(cString: $0) }), !sudo.isEmpty {
            members.append(("sudo_user", JSONText.quoted(String(sudo.prefix(64)))))
        }
        members.append(("host", JSONText.quoted(hostName)))
        members.append(("pid", String(getpid())))
        return members
    }

    /// Who asked the master for a reload: the process that sent its SIGHUP (`pid`), that
    /// process's user (`user` by name, `uid`), the host, and the master (`master_pid`);
    /// under systemd's `reload` the sender is systemd itself (pid 1). Without a sender (no
    /// process sent the signal, or none was read) the master's own user, `sender: unknown`.
    static func who(signalledBy sender: Signals.Sender?, signal: String = "SIGHUP") -> [(key: String, json: String)] {
        guard let sender else { return who + [("signal", JSONText.quoted(signal)), ("sender", JSONText.quoted("unknown"))] }
        return user(sender.uid) + [("pid", String(sender.pid)), ("signal", JSONText.quoted(signal)),
                                   ("host", JSONText.quoted(hostName)), ("master_pid", String(getpid()))]
    }

    /// `user` (the name of `uid`, when the system knows it) and `uid`.
    private static func user(_ uid: uid_t) -> [(key: String, json: String)] {
        var buffer = [CChar](repeating: 0, count: 4096)
        let name: String? = buffer.withUnsafeMutableBufferPointer { space in
            var entry = passwd(), found: UnsafeMutablePointer<passwd>?
            guard let base = space.baseAddress, getpwuid_r(uid, &entry, base, space.count, &found) == 0, found != nil
            else { return nil }
            return entry.pw_name.map { String(cString: $0) }
        }
        return (name.map { [("user", JSONText.quoted($0))] } ?? []) + [("uid", String(uid))]
    }

    static var hostName: String { HostName.current }

    /// `["a","b"]`.
    public static func list(_ names: [String]) -> String { "[" + names.map(JSONText.quoted).joined(separator: ",") + "]" }
}
