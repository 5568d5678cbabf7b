import SluiceCore
import SluiceRedis

/// Where the pipeline looks gateway keys up by hash, below the worker's and the thread's
/// key caches (`KeyCache`, `ThreadKeyCache`). In production it is `KeyDirectory` (Redis);
/// the pipeline's unit tests use an in-memory fake.
protocol GatewayKeyPort {
    /// The record stored for a key's hash, or `nil` if there is none; throws when storage
    /// cannot be asked.
    func lookup(hash: String) throws(RedisError) -> GatewayKeyRecord?
}

extension KeyDirectory: GatewayKeyPort {}
