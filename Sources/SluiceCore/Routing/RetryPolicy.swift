/// Which failed attempts move on to the next endpoint (before the client saw a byte).
public enum RetryPolicy {
    /// Statuses worth another endpoint: 408, 429, 5xx and provider overload (529).
    public static func shouldTryNext(status: Int) -> Bool {
        status == 408 || status == 429 || (500...599).contains(status)
    }

    /// Transport failures worth another endpoint: everything but the client leaving.
    public static func shouldTryNext(_ failure: UpstreamFailure) -> Bool {
        failure != .aborted
    }
}
