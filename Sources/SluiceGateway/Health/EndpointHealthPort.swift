import SluiceCore
import SluiceRedis

/// What the pipeline needs of shared endpoint health: the route's states before a call
/// (probe lease included), the calls in flight for `balance: least_busy`, and every
/// attempt's outcome after it. In production it is `EndpointHealthStore` (Redis, with the
/// Lua of `HealthScripts`); the pipeline's unit tests use an in-memory fake.
protocol EndpointHealthPort: AnyObject {
    /// The script call of a snapshot, for sending it in the admission's round trip
    /// (`GovernancePort.admit`'s `extra`); its reply goes to `snapshot(from:of:)`.
    func snapshotCall(of endpoints: [EndpointConfig], probeLease: Duration, owner: String,
                      inFlight: Bool) -> AdmissionPlan.ScriptCall
    /// What a `snapshotCall` reply says; `nil` when there is none (storage unavailable). A
    /// store that does not share the admission's round trip answers from its own state.
    func snapshot(from reply: RedisValue?, of endpoints: [EndpointConfig]) -> HealthSnapshot?
    /// The route's upstreams now, read on their own (no admission to share a round trip with).
    func snapshot(of endpoints: [EndpointConfig], probeLease: Duration, owner: String, inFlight: Bool) -> HealthSnapshot?
    /// Records every attempt of a request and gives back the probe leases `owner` did not
    /// use; returns what changed (`tripped:<ms>` / `recovered`) by upstream.
    func report(_ attempts: [AttemptRecord], releasing unused: [String], owner: String) -> [(upstream: String, change: String)]
    /// Counts a call in flight to `upstream` until `release`; `false` if storage did not take it.
    func markInFlight(_ upstream: String, token: String, expiresAtMs: Int64, lifetime: Duration) -> Bool
    /// Ends what `markInFlight` counted.
    func release(_ marks: [(upstream: String, token: String)])
}

extension EndpointHealthStore: EndpointHealthPort {}
