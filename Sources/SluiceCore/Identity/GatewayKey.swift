import Crypto

/// A gateway key as stored: never the key itself, only its SHA-256 and a display prefix.
public struct GatewayKeyRecord: Sendable, Equatable {
    /// Stable public identifier (`key_…`), used to list and revoke.
    public var id: String
    public var name: String
    /// Hex SHA-256 of the full key text.
    public var hash: String
    /// The first characters of the key, enough to recognise it in a list.
    public var displayPrefix: String
    /// Routes the key may call; `nil` means all.
    public var routes: Set<String>?
    /// Seconds since the epoch.
    public var createdAt: Int
    /// Seconds since the epoch; `nil` while the key is valid.
    public var revokedAt: Int?

    public init(id: String, name: String, hash: String, displayPrefix: String, routes: Set<String>?, createdAt: Int,
                revokedAt: Int? = nil) {
        self.id = id
        self.name = name
        self.hash = hash
        self.displayPrefix = displayPrefix
        self.routes = routes
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    /// The access policy this key carries.
    public var policy: AccessPolicy { AccessPolicy(routes: routes) }

    /// The fields stored in Redis (a hash), in a fixed order.
    public var fields: [(String, String)] {
        var out: [(String, String)] = [
            ("id", id), ("name", name), ("hash", hash), ("prefix", displayPrefix),
            ("routes", routes.map { $0.sorted().joined(separator: ",") } ?? "*"),
            ("created_at", String(createdAt)),
        ]
        if let revokedAt { out.append(("revoked_at", String(revokedAt))) }
        return out
    }

    /// Rebuilds a record from the fields of its Redis hash; `nil` if a required one is missing.
    public init?(fields: [String: String]) {
        guard let id = fields["id"], let hash = fields["hash"], let created = fields["created_at"].flatMap({ Int($0) })
        else { return nil }
        let routes = fields["routes"] ?? "*"
        self.init(id: id, name: fields["name"] ?? "", hash: hash, displayPrefix: fields["prefix"] ?? "",
                  routes: routes == "*" ? nil : Set(routes.split(separator: ",").map(String.init)),
                  createdAt: created, revokedAt: fields["revoked_at"].flatMap { Int($0) })
    }
}

/// How gateway keys look and how they are hashed.
public enum GatewayKeyFormat {
    /// Every gateway key starts with this.
    public static let prefix = "sk-sluice-"
    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// A new key (`sk-sluice-` + 40 base62 characters, about 238 bits) and its id.
    public static func generate<R: RandomNumberGenerator>(using generator: inout R) -> (key: String, id: String) {
        let secret = (0..<40).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
        let id = (0..<12).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
        return (prefix + String(decoding: secret, as: UTF8.self), "key_" + String(decoding: id, as: UTF8.self))
    }

    /// Hex SHA-256 of the key text: the only form in which a key is stored or looked up.
    public static func hash(_ key: String) -> String {
        SHA256.hash(data: Array(key.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// The part of a key safe to show in lists (`sk-sluice-AbC1…`).
    public static func displayPrefix(of key: String) -> String {
        String(key.prefix(prefix.count + 4)) + "…"
    }

    /// Whether `text` has the shape of a gateway key (cheap check before any lookup).
    public static func looksValid(_ text: String) -> Bool {
        text.hasPrefix(prefix) && text.utf8.count == prefix.utf8.count + 40
            && text.utf8.dropFirst(prefix.utf8.count).allSatisfy { alphabet.contains($0) }
    }
}
