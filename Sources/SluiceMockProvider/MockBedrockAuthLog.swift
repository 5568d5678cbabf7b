import Foundation
import Synchronization

/// How Bedrock requests authenticated, added to `GET /_mock/stats` and zeroed by
/// `POST /_mock/reset`:
///
/// ```json
/// {"auth_verified": 2, "auth_rejected": 1,
///  "last_auth": {"scheme": "sigv4", "verified": false, "error": "InvalidSignatureException"}}
/// ```
/// - `auth_verified` / `auth_rejected`: requests whose SigV4 signature or Bedrock API key
///   was checked and accepted / refused;
/// - `last_auth`: the last Bedrock request's `scheme` (`sigv4`, `bearer`, `none`), whether
///   it `verified`, and the error type of a refusal; `verified` is false when the mock had
///   nothing to check against (no credentials configured). `null` before any.
final class MockBedrockAuthLog: Sendable {
    private struct State {
        var verified = 0
        var rejected = 0
        var last: MockBedrockAuth.Outcome?
    }

    private let state = Mutex(State())

    func record(_ outcome: MockBedrockAuth.Outcome, checked: Bool) {
        state.withLock {
            if checked {
                if outcome.verified { $0.verified += 1 } else { $0.rejected += 1 }
            }
            $0.last = outcome
        }
    }

    func reset() {
        state.withLock { $0 = State() }
    }

    /// The fields above.
    func snapshot() -> [String: Any] {
        let now = state.withLock { $0 }
        let last: Any = now.last.map { outcome -> [String: Any] in
            ["scheme": outcome.scheme, "verified": outcome.verified, "error": outcome.error ?? NSNull()]
        } ?? NSNull()
        return ["auth_verified": now.verified, "auth_rejected": now.rejected, "last_auth": last]
    }
}
