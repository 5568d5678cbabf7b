import CCurl
import Glibc

// The FastCGI side both proxies share: kept connections read record by record, answers
// written, a non-blocking listener.

/// What an answered transfer sends back: the provider's status and body, as FastCGI's
/// stdout, then the end of the request.
func fastCGIAnswer(requestId: UInt16, status: Int, body: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(body.count + 160)
    func record(_ type: UInt8, _ content: ArraySlice<UInt8>) {
        let padding = (8 - content.count % 8) % 8
        out += [1, type, UInt8(requestId >> 8), UInt8(requestId & 0xff), UInt8(content.count >> 8),
                UInt8(content.count & 0xff), UInt8(padding), 0]
        out += content
        out += repeatElement(0, count: padding)
    }
    let stdout = Array("Status: \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
    var start = 0
    while start < stdout.count {
        let end = min(start + 65_528, stdout.count)
        record(6, stdout[start..<end])
        start = end
    }
    record(6, [])
    record(3, [0, 0, 0, 0, 0, 0, 0, 0])
    return out
}

nonisolated(unsafe) let collect: curl_write_callback = { buffer, size, count, context in
    let length = size * count
    guard let buffer, let context else { return length }
    context.assumingMemoryBound(to: [UInt8].self).pointee
        .append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: length))
    return length
}

/// One kept FastCGI connection of the event loop, and the request it is reading or serving.
final class LoopConnection {
    let descriptor: Int32
    var input: [UInt8] = []
    var requestId: UInt16 = 0
    var keep = true
    var body: [UInt8] = []
    /// The provider's answer as curl writes it (curl holds the address while the transfer runs).
    let answer = UnsafeMutablePointer<[UInt8]>.allocate(capacity: 1)
    /// The transfer in flight for this connection's request, if any.
    var transfer: UnsafeMutableRawPointer?
    init(descriptor: Int32) {
        self.descriptor = descriptor
        answer.initialize(to: [])
    }
    deinit {
        answer.deinitialize(count: 1)
        answer.deallocate()
    }

    /// Reads what has arrived on the (non-blocking) connection; false once nginx closed it
    /// or it failed.
    func readAvailable(into chunk: inout [UInt8]) -> Bool {
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                input += chunk.prefix(count)
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                return count < 0 && errno == EAGAIN
            }
        }
    }

    /// Takes whole records off `input` up to the end of a request's body: true when a
    /// request is whole (its id, `keep` and `body` set), false when more must arrive.
    func nextRequest() -> Bool {
        var offset = 0
        defer { input.removeFirst(offset) }
        while input.count - offset >= 8 {
            let length = Int(input[offset + 4]) << 8 | Int(input[offset + 5])
            let total = 8 + length + Int(input[offset + 6])
            guard input.count - offset >= total else { return false }
            let type = input[offset + 1]
            let id = UInt16(input[offset + 2]) << 8 | UInt16(input[offset + 3])
            let contentAt = offset + 8
            offset += total
            switch type {
            case 1:  // BEGIN_REQUEST: role (2 bytes), flags (bit 0: keep the connection)
                requestId = id
                keep = length >= 3 && input[contentAt + 2] & 1 != 0
                body.removeAll(keepingCapacity: true)
            case 5 where length > 0:  // STDIN
                body += input[contentAt..<(contentAt + length)]
            case 5:  // the end of STDIN: the request is whole
                return true
            default:  // PARAMS and the rest: not needed here
                break
            }
        }
        return false
    }
}

/// Writes all of `bytes` to a non-blocking descriptor (waiting for room if nginx is slow
/// to read, which is rare); false if it failed.
func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
    var sent = 0
    while sent < bytes.count {
        let count = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + sent, bytes.count - sent) }
        if count > 0 {
            sent += count
        } else if count < 0 && errno == EAGAIN {
            var writable = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            if poll(&writable, 1, 1000) != 1 { return false }
        } else if !(count < 0 && errno == EINTR) {
            return false
        }
    }
    return true
}

/// A non-blocking listening Unix socket at `path` (made anew, open to nginx's workers).
func unixListener(_ path: String) -> Int32 {
    unlink(path)
    let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { sunPath in
        path.utf8CString.withUnsafeBytes { sunPath.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(sunPath.count - 1))) }
    }
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard listener >= 0, bound == 0, listen(listener, 1024) == 0 else { fail("cannot listen on \(path)") }
    chmod(path, 0o777)
    return listener
}
