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

    /// Creates a key; returns the key text (shown once) and its stored record.
    public func create(name: String, routes: Set<String>?) throws(RedisError) -> (key: String, record: GatewayKeyRecord) {
        var generator = SystemRandomNumberGenerator()
        let (key, id) = GatewayKeyFormat.generate(using: &generator)
        let record = GatewayKeyRecord(id: id, name: name, hash: GatewayKeyFormat.hash(key),
                                      displayPrefix: GatewayKeyFormat.displayPrefix(of: key), routes: routes,
                                      createdAt: Int(Date().timeIntervalSince1970))
        let fields = record.fields.flatMap { [$0.0, $0.1] }
        let replies = try redis.pipeline([
            ["MULTI"],
            ["HSET", names.gatewayKey(hash: record.hash)] + fields,
            ["HSET", names.gatewayKeyIndex, id, record.hash],
            ["EXEC"],
        ])
        if case .error(let message) = replies.last { throw RedisError(.server, message) }
        return (key, record)
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
