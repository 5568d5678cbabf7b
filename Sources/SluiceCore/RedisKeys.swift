/// The one function family that names every Redis key Sluice uses, all under one prefix.
public struct RedisKeys: Sendable {
    public let prefix: String

    public init(prefix: String) {
        self.prefix = prefix
    }

    /// Hash holding one gateway key's record, found by the key's SHA-256.
    public func gatewayKey(hash: String) -> String { "\(prefix):key:\(hash)" }

    /// Hash of key id → key hash, for listing and revoking by id.
    public var gatewayKeyIndex: String { "\(prefix):keys" }

    /// Hash holding one upstream's shared health and warmth (`EndpointConfig.upstreamKey`).
    public func endpointHealth(_ upstream: String) -> String { "\(prefix):ep:\(upstream)" }
}
