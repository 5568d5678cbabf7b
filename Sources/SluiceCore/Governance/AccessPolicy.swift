/// What one identity (a gateway key, or a principal nginx asserted) may do: which routes
/// it may call, the tags forced on its calls, which tags the client may add itself, and
/// its own limits.
public struct AccessPolicy: Sendable, Equatable {
    /// Route names; `nil` means every route.
    public var routes: Set<String>?
    /// Tags set on every call; the client cannot override them.
    public var tags: [String: String]
    /// Which tag names the client may set in `X-Sluice-Tags`.
    public var clientTags: ClientTagPolicy
    /// Limits of this identity, counted per key (for a key) or per principal.
    public var limits: [LimitConfig]
    /// Route guardrails that do not apply to this identity's calls, by name (recorded as
    /// `off` in each call's audit record).
    public var guardrailsOff: Set<String> = []

    public init(routes: Set<String>? = nil, tags: [String: String] = [:], clientTags: ClientTagPolicy = .any,
                limits: [LimitConfig] = []) {
        self.routes = routes
        self.tags = tags
        self.clientTags = clientTags
        self.limits = limits
    }

    /// Whether this policy lets its holder call `route`.
    public func allows(route: String) -> Bool {
        routes.map { $0.contains(route) } ?? true
    }

    /// The call's tags: the client's where this policy lets the client set them, then the
    /// forced tags over them. `ignored` names the client's tags that were dropped
    /// (not allowed, or fixed by the policy to another value).
    public func resolveTags(client: [String: String]) -> (tags: [String: String], ignored: [String]) {
        var tags: [String: String] = [:]
        var ignored: [String] = []
        for (name, value) in client {
            if let forced = self.tags[name] {
                if forced != value { ignored.append(name) }
            } else if clientTags.allows(name) {
                tags[name] = value
            } else {
                ignored.append(name)
            }
        }
        for (name, value) in self.tags { tags[name] = value }
        return (tags, ignored.sorted())
    }
}

/// Which tag names a client may set itself.
public enum ClientTagPolicy: Sendable, Equatable {
    /// Any tag name.
    case any
    /// None: only the forced tags count.
    case none
    /// Only these names.
    case names(Set<String>)

    public func allows(_ name: String) -> Bool {
        switch self {
        case .any: return true
        case .none: return false
        case .names(let names): return names.contains(name)
        }
    }

    /// Stored form: `*`, `-`, or names joined by commas.
    public var text: String {
        switch self {
        case .any: return "*"
        case .none: return "-"
        case .names(let names): return names.sorted().joined(separator: ",")
        }
    }

    public init(text: String) {
        switch text {
        case "*": self = .any
        case "-", "": self = .none
        default: self = .names(Set(text.split(separator: ",").map { String($0).trimmingASCIIWhitespace() }))
        }
    }
}

/// `required_tags: {team: [support, marketing], project_id: []}` — tag names a call must
/// carry, each with its allowed values (empty: any value).
public struct RequiredTags: Sendable, Equatable {
    public var allowed: [String: Set<String>]

    public init(_ allowed: [String: Set<String>] = [:]) {
        self.allowed = allowed
    }

    public var isEmpty: Bool { allowed.isEmpty }

    /// A 400 naming the first missing tag (by name order) or the first value not allowed.
    public func check(_ tags: [String: String], scope: String) throws(GatewayError) {
        for name in allowed.keys.sorted() {
            let values = allowed[name] ?? []
            let listed = values.sorted().joined(separator: ", ")
            guard let value = tags[name] else {
                let hint = values.isEmpty ? "" : " (allowed values: \(listed))"
                throw GatewayError(.missingTag,
                                   "\(scope) requires the tag '\(name)': send it in the X-Sluice-Tags header, e.g. 'X-Sluice-Tags: \(name)=\(values.sorted().first ?? "value")'\(hint).",
                                   param: "X-Sluice-Tags")
            }
            if !values.isEmpty && !values.contains(value) {
                throw GatewayError(.missingTag,
                                   "The tag '\(name)' may not be '\(value)' for \(scope.lowercasedFirst); allowed values: \(listed).",
                                   param: "X-Sluice-Tags")
            }
        }
    }
}

extension String {
    var lowercasedFirst: String { prefix(1).lowercased() + dropFirst() }
}
