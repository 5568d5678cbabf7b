import Logging
import SluiceCore
import Synchronization

/// What every thread of one worker shares: the immutable config and the key cache.
public final class WorkerContext: Sendable {
    public let config: GatewayConfig
    public let keyCache: KeyCache
    public let redisKeys: RedisKeys
    /// Seconds since the epoch when this config was loaded (`created` in model lists).
    public let loadedAt: Int
    public let logger: Logger
    /// Set when a draining worker ran out of time: calls still running stop at their next
    /// progress check, and streams end with an explicit error event instead of being cut.
    public let abandonInFlight = Atomic<Bool>(false)

    public init(config: GatewayConfig, loadedAt: Int, logger: Logger) {
        self.config = config
        self.keyCache = KeyCache()
        self.redisKeys = RedisKeys(prefix: config.redis.keyPrefix)
        self.loadedAt = loadedAt
        self.logger = logger
    }
}
