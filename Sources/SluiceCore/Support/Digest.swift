import Crypto

/// Digests as lower-case hex.
public enum Digest {
    /// SHA-256 of `bytes` (a config file's, in a reload's admin record).
    public static func sha256Hex(_ bytes: [UInt8]) -> String { Hex.lower(SHA256.hash(data: bytes)) }
}
