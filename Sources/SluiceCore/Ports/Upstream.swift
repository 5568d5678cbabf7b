/// One HTTP call to a provider, fully built by a provider translator.
public struct UpstreamRequest: Sendable {
    public enum Method: String, Sendable { case get = "GET", post = "POST", delete = "DELETE" }

    public var method: Method
    public var url: String
    /// Header lines to send, in order. Values may hold credentials: never log them.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var limits: TransferLimits
    /// Sign the call with AWS Signature Version 4 when it is sent (Bedrock). The HTTP
    /// client adds `Host`, `X-Amz-Date`, `x-amz-security-token` and `Authorization`.
    public var awsSigV4: AWSSigV4?

    public init(method: Method = .post, url: String, headers: [(name: String, value: String)], body: [UInt8],
                limits: TransferLimits, awsSigV4: AWSSigV4? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.limits = limits
        self.awsSigV4 = awsSigV4
    }
}

/// Time limits of one transfer, all enforced by the HTTP client.
public struct TransferLimits: Sendable, Equatable {
    public var connect: Duration
    public var firstByte: Duration
    public var idle: Duration
    public var total: Duration

    public init(connect: Duration, firstByte: Duration, idle: Duration, total: Duration) {
        self.connect = connect
        self.firstByte = firstByte
        self.idle = idle
        self.total = total
    }
}

/// Receives a response as it arrives. Every method runs on the calling thread,
/// inside `HTTPClient.perform`.
public protocol UpstreamResponseHandler: AnyObject {
    /// The status line and headers are complete. Return `false` to abort the transfer.
    func didReceiveHead(status: Int, headers: [(name: String, value: String)]) -> Bool
    /// A piece of the body. Return `false` to abort the transfer.
    func didReceive(_ bytes: UnsafeRawBufferPointer) -> Bool
    /// Asked at least once a second while the transfer runs (also when no data flows).
    /// Return `false` to abort, e.g. because the client went away.
    func shouldContinue() -> Bool
}

/// How a transfer ended.
public enum UpstreamOutcome: Sendable, Equatable {
    /// The whole response arrived.
    case completed(status: Int)
    /// The transfer failed; `receivedHead` says whether the status line had arrived.
    case failed(UpstreamFailure, receivedHead: Bool)
}

/// Why a transfer failed.
public enum UpstreamFailure: Sendable, Equatable {
    /// DNS, TCP or TLS connect failed.
    case connect(String)
    /// Connect, first byte, idle or total time limit.
    case timeout(TimeoutKind)
    /// The handler asked to stop (e.g. the client went away).
    case aborted
    /// The connection broke or the response was malformed.
    case transport(String)

    public enum TimeoutKind: String, Sendable {
        case connect, firstByte = "first_byte", idle, total
    }
}
