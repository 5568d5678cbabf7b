import SluiceCore
import SluiceRedis

/// Resolves who is calling: a gateway key (by its hash, cached briefly) or an identity
/// nginx asserted in `SLUICE_PRINCIPAL`.
struct Authenticator {
    let context: WorkerContext
    /// Where keys missing from both caches are looked up (Redis in production).
    let keys: any GatewayKeyPort
    let threadCache: ThreadKeyCache
    /// Key caches expire on its instants, keys on its wall clock.
    let clock: any GatewayClock

    /// A key wins over an asserted principal; neither is a 401.
    func caller(credential: String?, principal: String?) throws(GatewayError) -> Caller {
        if let credential, !credential.isEmpty {
            return try keyCaller(credential)
        }
        if let principal, !principal.isEmpty {
            guard let policy = context.config.principals.policy(for: principal) else {
                throw GatewayError(.identityNotAllowed, "The identity asserted for this request has no access to this gateway.")
            }
            return .principal(name: principal, policy: policy)
        }
        throw GatewayError(.missingCredential,
                           "You didn't provide an API key. Provide your gateway key in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY).")
    }

    private func keyCaller(_ credential: String) throws(GatewayError) -> Caller {
        let invalid = GatewayError(.invalidCredential, "Incorrect API key provided.")
        guard GatewayKeyFormat.looksValid(credential) else { throw invalid }
        let hash = GatewayKeyFormat.hash(credential)
        let record: GatewayKeyRecord?
        let now = clock.now
        if let cached = threadCache.cached(hash: hash, now: now) {
            record = cached
        } else if let shared = context.keyCache.fresh(hash: hash, now: now) {
            record = shared.record
            threadCache.store(hash: hash, record: shared.record, expires: shared.expires)
        } else {
            do {
                record = try keys.lookup(hash: hash)
                let expires = context.keyCache.store(hash: hash, record: record, now: now)
                threadCache.store(hash: hash, record: record, expires: expires)
            } catch {
                // A key this worker saw recently keeps working while Redis is away (its
                // revocation cannot be seen then either); an unknown key cannot be checked.
                guard let known = context.keyCache.stale(hash: hash, now: now) else {
                    context.logger.error("key lookup failed: \(error)")
                    throw GatewayError(.backendUnavailable, "The gateway cannot check API keys right now; retry shortly.",
                                       retryAfter: 1)
                }
                record = known
            }
        }
        guard let record, record.revokedAt == nil else { throw invalid }
        guard record.isValid(atMs: clock.unixMs) else {
            throw GatewayError(.invalidCredential, record.rotatedTo != nil
                ? "This API key was rotated and its grace period is over; use the key that replaced it."
                : "This API key has expired.")
        }
        return .key(record)
    }
}
