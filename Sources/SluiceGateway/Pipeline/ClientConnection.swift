import SluiceFastCGI

/// What the pipeline uses of the client's request and its response: the params nginx
/// sent, the body, and the response bytes out. In production it is the thread's
/// `FastCGIRequest` (libfcgi, to nginx); the pipeline's unit tests feed a request in and
/// read the response bytes out of an in-memory fake.
protocol ClientConnection: AnyObject {
    /// A param (`REQUEST_METHOD`, `SLUICE_PRINCIPAL`, `HTTP_…`), `nil` if it was not sent.
    func param(_ name: String) -> String?
    /// The whole request body; `nil` when it is longer than `limit` bytes.
    func readBody(limit: Int) -> [UInt8]?
    /// Writes response bytes (buffered). Returns `false` if the connection is gone.
    @discardableResult
    func write(_ bytes: UnsafeRawBufferPointer) -> Bool
    /// Sends what is buffered now. Returns `false` if the client went away.
    func flush() -> Bool
    /// Whether the client went away, without blocking.
    func peerClosed() -> Bool
}

extension ClientConnection {
    /// Writes bytes. Returns `false` if the connection is gone.
    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Writes text. Returns `false` if the connection is gone.
    @discardableResult
    func write(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }
}

extension FastCGIRequest: ClientConnection {}
