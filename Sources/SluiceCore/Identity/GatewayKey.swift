import Crypto

/// A gateway key as stored: never the key itself, only its SHA-256 and a display prefix,
/// with the key's policy (routes, forced tags, client tags, limits) and its life (expiry,
/// rotation, revocation).
public struct GatewayKeyRecord: Sendable, Equatable {
    /// Stable public identifier (`key_…`), used to list, revoke and rotate.
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
    /// Tags forced on every call made with the key.
    public var tags: [String: String]
    /// Which tags the client may add in `X-Sluice-Tags`.
    public var clientTags: ClientTagPolicy
    /// The key's own limits (counted per key, on every route).
    public var limits: [LimitConfig]
    /// Milliseconds since the epoch after which the key is refused; `nil`: never.
    public var expiresAtMs: Int64?
    /// The id of the key that replaced this one (`sluice keys rotate`).
    public var rotatedTo: String?
    /// Route guardrails that do not apply to this key's calls.
    public var guardrailsOff: Set<String> = []

    public init(id: String, name: String, hash: String, displayPrefix: String, routes: Set<String>?, createdAt: Int,
                revokedAt: Int? = nil, tags: [String: String] = [:], clientTags: ClientTagPolicy = .any,
                limits: [LimitConfig] = [], expiresAtMs: Int64? = nil, rotatedTo: String? = nil) {
        self.id = id
        self.name = name
        self.hash = hash
        self.displayPrefix = displayPrefix
        self.routes = routes
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.tags = tags
        self.clientTags = clientTags
        self.limits = limits
        self.expiresAtMs = expiresAtMs
        self.rotatedTo = rotatedTo
    }

    /// The access policy this key carries.
    public var policy: AccessPolicy {
        var policy = AccessPolicy(routes: routes, tags: tags, clientTags: clientTags, limits: limits)
        policy.guardrailsOff = guardrailsOff
        return policy
    }

    /// Whether the key is accepted at `nowMs` (not revoked, not expired).
    public func isValid(atMs nowMs: Int64) -> Bool {
        revokedAt == nil && (expiresAtMs.map { nowMs < $0 } ?? true)
    }

    /// The fields stored in Redis (a hash), in a fixed order.
    public var fields: [(String, String)] {
        var out: [(String, String)] = [
            ("id", id), ("name", name), ("hash", hash), ("prefix", displayPrefix),
            ("routes", routes.map { $0.sorted().joined(separator: ",") } ?? "*"),
            ("created_at", String(createdAt)),
            ("tags", tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")),
            ("client_tags", clientTags.text),
            ("limits", limits.map(LimitText.format).joined(separator: ";")),
        ]
        if let revokedAt { out.append(("revoked_at", String(revokedAt))) }
        if let expiresAtMs { out.append(("expires_at_ms", String(expiresAtMs))) }
        if let rotatedTo { out.append(("rotated_to", rotatedTo)) }
        if !guardrailsOff.isEmpty { out.append(("guardrails_off", guardrailsOff.sorted().joined(separator: ","))) }
        return out
    }

    /// Rebuilds a record from the fields of its Redis hash; `nil` if a required one is missing.
    public init?(fields: [String: String]) {
        guard let id = fields["id"], let hash = fields["hash"], let created = fields["created_at"].flatMap({ Int($0) })
        else { return nil }
        let routes = fields["routes"] ?? "*"
        var tags: [String: String] = [:]
        for pair in (fields["tags"] ?? "").split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { tags[String(parts[0])] = String(parts[1]) }
        }
        self.init(id: id, name: fields["name"] ?? "", hash: hash, displayPrefix: fields["prefix"] ?? "",
                  routes: routes == "*" ? nil : Set(routes.split(separator: ",").map(String.init)),
                  createdAt: created, revokedAt: fields["revoked_at"].flatMap { Int($0) }, tags: tags,
                  clientTags: fields["client_tags"].map(ClientTagPolicy.init(text:)) ?? .any,
                  limits: (fields["limits"] ?? "").split(separator: ";").compactMap { LimitText.parse(String($0)) },
                  expiresAtMs: fields["expires_at_ms"].flatMap { Int64($0) }, rotatedTo: fields["rotated_to"])
        guardrailsOff = Set((fields["guardrails_off"] ?? "").split(separator: ",").map(String.init))
    }
}

/// A key's limit as text: `requests=100/1m`, `tokens=50000/1h` (counted per key).
public enum LimitText {
    public static func parse(_ text: String) -> LimitConfig? {
        let parts = text.trimmingASCIIWhitespace().split(separator: "=", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        let amount = parts[1].split(separator: "/", maxSplits: 1)
        guard amount.count == 2, let count = Int(amount[0]), count > 0,
              let window = DurationText.parse(String(amount[1])), window > .zero else { return nil }
        switch parts[0] {
        case "requests": return LimitConfig(per: .key, requests: count, window: window)
        case "tokens": return LimitConfig(per: .key, tokens: count, window: window)
        default: return nil
        }
    }

    public static func format(_ limit: LimitConfig) -> String {
        let window = DurationText.format(limit.window)
        return [limit.requests.map { "requests=\($0)/\(window)" }, limit.tokens.map { "tokens=\($0)/\(window)" }]
            .compactMap { $0 }.joined(separator: ";")
    }
}

/// How gateway keys look and how they are hashed.
public enum GatewayKeyFormat {
    /// Every gateway key starts with this.
    public static let prefix = "sk-sluice-"
    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
    /// `inAlphabet[byte]`: whether `byte` may appear in a key's secret part.
    private static let inAlphabet: [Bool] = (0..<256).map { alphabet.contains(UInt8($0)) }

    /// A new key (`sk-sluice-` + 40 base62 characters, about 238 bits) and its id.
    public static func generate<R: RandomNumberGenerator>(using generator: inout R) -> (key: String, id: String) {
        let secret = (0..<40).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
        let id = (0..<12).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
        return (prefix + String(decoding: secret, as: UTF8.self), "key_" + String(decoding: id, as: UTF8.self))
    }

    /// Hex SHA-256 of the key text: the only form in which a key is stored or looked up.
    public static func hash(_ key: String) -> String {
        var key = key
        return key.withUTF8 { Hex.lower(SHA256.hash(data: $0)) }
    }

    /// The part of a key safe to show in lists (`sk-sluice-AbC1…`).
    public static func displayPrefix(of key: String) -> String {
        String(key.prefix(prefix.count + 4)) + "…"
    }

    /// Whether `text` has the shape of a gateway key (cheap check before any lookup).
    public static func looksValid(_ text: String) -> Bool {
        text.hasPrefix(prefix) && text.utf8.count == prefix.utf8.count + 40
            && text.utf8.dropFirst(prefix.utf8.count).allSatisfy { inAlphabet[Int($0)] }
    }
}
