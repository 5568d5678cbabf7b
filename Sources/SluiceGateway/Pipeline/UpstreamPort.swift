import SluiceCore
import SluiceHTTP

/// How the pipeline calls a provider (and a guardrail's webhook): one HTTP call, its answer
/// handed to `handler` as it arrives. In production it is the thread's `HTTPClient`
/// (libcurl, keep-alive to providers); the pipeline's unit tests use a fake that answers
/// in a provider's wire format.
protocol UpstreamPort: AnyObject {
    /// Sends `request` and feeds the answer to `handler` on the calling thread; returns
    /// how the transfer ended (`.failed(.aborted, …)` once `handler` asked to stop).
    func perform(_ request: UpstreamRequest, handler: UpstreamResponseHandler) -> UpstreamOutcome
}

extension HTTPClient: UpstreamPort {}
