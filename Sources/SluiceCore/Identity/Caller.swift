/// Who is calling, once authenticated.
public enum Caller: Sendable, Equatable {
    /// A gateway key presented by the client.
    case key(GatewayKeyRecord)
    /// An identity nginx asserted from the estate's own auth.
    case principal(name: String, policy: AccessPolicy)

    /// What the caller may do.
    public var policy: AccessPolicy {
        switch self {
        case .key(let record): return record.policy
        case .principal(_, let policy): return policy
        }
    }

    /// A label safe for logs and audit records (key id or principal name, never a key).
    public var label: String {
        switch self {
        case .key(let record): return record.id
        case .principal(let name, _): return "principal:" + name
        }
    }
}
