import Foundation
import SluiceCore
import SluiceRedis

/// Gateway keys in Redis: created, listed, revoked and looked up by hash.
///
/// Layout (names from `RedisKeys`): one hash per key at `…:key:<sha256>` with the
/// record's fields, and one index hash `…:keys` of key id → sha256. The key text
/// itself is never stored.
public struct KeyDirectory {
    private let redis: RedisConnection
    private let names: RedisKeys

    public init(redis: RedisConnection, names: RedisKeys) {
        self.redis = redis
        self.names = names
    }

    /// Creates a key with `policy`, valid until `expiresAtMs` (if given); returns the key
    /// text (shown once) and its stored record.
    public func create(name: String, policy: AccessPolicy = AccessPolicy(),
                       expiresAtMs: Int64? = nil) throws(RedisError) -> (key: String, record: GatewayKeyRecord) {
        var generator = SystemRandomNumberGenerator()
        let (key, id) = GatewayKeyFormat.generate(using: &generator)
        var record = GatewayKeyRecord(id: id, name: name, hash: GatewayKeyFormat.hash(key),
                                      displayPrefix: GatewayKeyFormat.displayPrefix(of: key), routes: policy.routes,
                                      createdAt: Int(Date().timeIntervalSince1970), tags: policy.tags,
                                      clientTags: policy.clientTags, limits: policy.limits, expiresAtMs: expiresAtMs)
        record.guardrailsOff = policy.guardrailsOff
        try store(record)
        return (key, record)
    }

    /// Replaces the key `id` with a new one of the same name and policy. The old key keeps
    /// working for `grace`, then every responder refuses it (its expiry is checked on each
    /// call, so no cache delays that). `nil` if there is no such active key.
    public func rotate(id: String, grace: Duration) throws(RedisError) -> (key: String, record: GatewayKeyRecord, old: GatewayKeyRecord)? {
        guard let hash = try redis.checked(["HGET", names.gatewayKeyIndex, id], idempotent: true).text,
              var old = try lookup(hash: hash), old.revokedAt == nil else { return nil }
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        guard old.expiresAtMs.map({ $0 > nowMs }) ?? true else { return nil }
        let (key, record) = try create(name: old.name, policy: old.policy, expiresAtMs: nil)
        let ends = nowMs + grace.wholeMilliseconds
        old.expiresAtMs = min(old.expiresAtMs ?? .max, ends)
        old.rotatedTo = record.id
        _ = try redis.checked(["HSET", names.gatewayKey(hash: old.hash), "expires_at_ms", String(old.expiresAtMs ?? ends),
                               "rotated_to", record.id])
        return (key, record, old)
    }

    private func store(_ record: GatewayKeyRecord) throws(RedisError) {
        let fields = record.fields.flatMap { [$0.0, $0.1] }
        let replies = try redis.pipeline([
            ["MULTI"],
            ["HSET", names.gatewayKey(hash: record.hash)] + fields,
            ["HSET", names.gatewayKeyIndex, record.id, record.hash],
            ["EXEC"],
        ])
        if case .error(let message) = replies.last { throw RedisError(.server, message) }
    }

    /// Every key, newest first.
    public func list() throws(RedisError) -> [GatewayKeyRecord] {
        let index = try redis.checked(["HGETALL", names.gatewayKeyIndex], idempotent: true).fieldMap
        guard !index.isEmpty else { return [] }
        let hashes = Array(index.values)
        let replies = try redis.pipeline(hashes.map { ["HGETALL", names.gatewayKey(hash: $0)] }, idempotent: true)
        return replies.compactMap { GatewayKeyRecord(fields: $0.fieldMap) }
            .sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
    }

    /// Marks the key with `id` revoked. Returns `false` if there is no such key.
    public func revoke(id: String) throws(RedisError) -> Bool {
        guard let hash = try redis.checked(["HGET", names.gatewayKeyIndex, id], idempotent: true).text else {
            return false
        }
        _ = try redis.checked(["HSET", names.gatewayKey(hash: hash), "revoked_at", String(Int(Date().timeIntervalSince1970))])
        return true
    }

    /// The record stored for a key's hash, or `nil` if there is none.
    public func lookup(hash: String) throws(RedisError) -> GatewayKeyRecord? {
        let fields = try redis.checked(["HGETALL", names.gatewayKey(hash: hash)], idempotent: true).fieldMap
        return GatewayKeyRecord(fields: fields)
    }
}
