import CFastCGI
import Glibc

/// One thread's FastCGI request slot (`FCGX_Request`), reused for every request the
/// thread serves. Follows libfcgi's `fcgiapp.h`, except that libfcgi never accepts: the
/// worker's dispatcher does, and hands each connection (new or kept) to `read(from:)`.
public final class FastCGIRequest {
    private let request: UnsafeMutablePointer<FCGX_Request>
    private var accepted = false
    /// Reused by every `readBody` of this slot.
    private var chunk = [UInt8](repeating: 0, count: 16 * 1024)

    /// A slot that never accepts by itself: every request comes on a connection handed to
    /// `read(from:)` (the worker's dispatcher accepts, and holds kept connections). Call
    /// `FastCGIRequest.initializeLibrary()` once per process before the first one.
    public init() {
        request = .allocate(capacity: 1)
        // No listening socket (-1): should libfcgi ever fall back to accepting (a
        // connection that brought no request), the accept fails at once.
        FCGX_InitRequest(request, -1, Int32(FCGI_FAIL_ACCEPT_ON_INTR))
    }

    deinit {
        if accepted { FCGX_Finish_r(request) }
        FCGX_Free(request, 1)
        request.deallocate()
    }

    /// `FCGX_Init`, once per process.
    public static func initializeLibrary() {
        FCGX_Init()
    }

    /// Reads the next request from `connection`, a connection just accepted or one nginx
    /// kept. Returns `false` when no request came (nginx closed it, or sent garbage): the
    /// connection is closed then. A slot made with `init()` never falls back to accepting.
    public func read(from connection: Int32) -> Bool {
        request.pointee.ipcFd = connection
        // Said so, `FCGX_Accept_r` does not close the connection while finishing the
        // previous request; the request's own BEGIN record sets it anew.
        request.pointee.keepConnection = 1
        // A connection that brings no request is closed at once, not with libfcgi's
        // lingering close (`shutdown`, then up to 2 s of `poll` and `read`).
        request.pointee.detached = 1
        accepted = FCGX_Accept_r(request) >= 0
        if !accepted, request.pointee.ipcFd >= 0 {
            close(request.pointee.ipcFd)
            request.pointee.ipcFd = -1
        }
        return accepted
    }

    /// Completes the current request: flushes output (with `FCGI_END_REQUEST`), and returns
    /// its connection when nginx asked to keep it (`FCGI_KEEP_CONN`) and `keep` allows: the
    /// slot lets go of it, and the caller holds it until nginx's next request. Otherwise the
    /// connection is closed and the result is `nil`.
    ///
    /// The request is detached first (`FCGX_Detach`), so a close is a plain `close()`
    /// rather than libfcgi's lingering close (`shutdown`, then up to 2 s of `poll` and
    /// `read` until nginx hangs up), which costs three system calls and a wait for nginx
    /// on every request. The lingering close guards against a TCP reset discarding the
    /// response when unread input is left; the body is always read to its end (`readBody`)
    /// and nginx sends nothing after it, so none is left.
    public func finish(keep: Bool) -> Int32? {
        guard accepted else { return nil }
        if !keep { request.pointee.keepConnection = 0 }
        FCGX_Detach(request)
        FCGX_Finish_r(request)
        accepted = false
        let connection = request.pointee.ipcFd
        guard connection >= 0 else { return nil }
        request.pointee.ipcFd = -1
        return connection
    }

    /// A FastCGI param (`REQUEST_METHOD`, `SLUICE_PRINCIPAL`, …), `nil` if nginx did not send it.
    public func param(_ name: String) -> String? {
        // `withCString` lends a literal's own bytes; passing `name` straight to C copied it
        // into a new array on every lookup (a dozen allocations a request).
        guard let value = name.withCString({ FCGX_GetParam($0, request.pointee.envp) }) else { return nil }
        return String(cString: value)
    }

    /// The connection to nginx, for polling whether it went away.
    public var connectionDescriptor: Int32 { request.pointee.ipcFd }

    /// Reads the request body to its end (always to the end: unread body data makes
    /// libfcgi drop the connection, and `CONTENT_LENGTH` is empty for chunked bodies).
    /// Returns `nil` when the body is longer than `limit` bytes (the rest is discarded).
    public func readBody(limit: Int) -> [UInt8]? {
        var body: [UInt8] = []
        if let length = param("CONTENT_LENGTH").flatMap({ Int($0) }), length > 0 {
            body.reserveCapacity(min(length, limit))
        }
        var tooLarge = false
        while true {
            let count = chunk.withUnsafeMutableBufferPointer { buffer in
                buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                    FCGX_GetStr($0, Int32(buffer.count), request.pointee.in)
                }
            }
            if count <= 0 { break }
            if !tooLarge {
                if body.count + Int(count) > limit {
                    tooLarge = true
                    body = []
                } else {
                    body.append(contentsOf: chunk[0..<Int(count)])
                }
            }
        }
        return tooLarge ? nil : body
    }

    /// Writes raw bytes to nginx. Returns `false` if the connection is gone.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return true }
        return FCGX_PutStr(base.assumingMemoryBound(to: CChar.self), Int32(bytes.count), request.pointee.out) >= 0
    }

    /// Writes text to nginx. Returns `false` if the connection is gone.
    @discardableResult
    public func write(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    /// Writes bytes to nginx. Returns `false` if the connection is gone.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Sends what is buffered to nginx now. Returns `false` if the client went away
    /// (libfcgi reports a vanished peer here, not at `write`).
    public func flush() -> Bool {
        FCGX_FFlush(request.pointee.out) == 0
    }

    /// Whether nginx closed the connection (the client went away), without blocking.
    public func peerClosed() -> Bool {
        var descriptor = pollfd(fd: connectionDescriptor, events: pollReadHangUp, revents: 0)
        guard poll(&descriptor, 1, 0) > 0 else { return false }
        return descriptor.revents & (pollReadHangUp | Int16(POLLHUP) | Int16(POLLERR)) != 0
    }
}

/// `POLLRDHUP` (Linux, <poll.h> with _GNU_SOURCE), which Glibc's Swift module does not export.
private let pollReadHangUp: Int16 = 0x2000
