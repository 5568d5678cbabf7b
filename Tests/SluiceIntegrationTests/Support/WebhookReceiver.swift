import Foundation
import Synchronization

/// A tiny HTTP server on a loopback port that answers every request (200 with no body,
/// unless `respond` sets another answer) and keeps the bodies it received (budget alert
/// webhooks, guardrail classifiers in tests). Stopped by closing its socket.
final class WebhookReceiver: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let bodies = Mutex<[String]>([])
    private let answer = Mutex<(status: Int, body: String)>((200, ""))

    /// What every later request gets.
    func respond(status: Int, body: String) {
        answer.withLock { $0 = (status, body) }
    }

    /// The bodies received, once there are at least `count` (nil after `timeout`).
    func waitForRequests(_ count: Int, timeout: Duration) -> [String]? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let now = received
            if now.count >= count { return now }
            usleep(20_000)
        }
        return nil
    }

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 16) == 0 else { throw StackError("webhook receiver: cannot listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(listener, $0, &length) }
        }
        self.listener = listener
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in self.serve() }
        thread.start()
    }

    /// The bodies received so far.
    var received: [String] { bodies.withLock { $0 } }

    /// The offset just past the blank line that ends the request head.
    private static func headerEnd(in data: [UInt8]) -> Int? {
        guard data.count >= 4 else { return nil }
        for index in 0...(data.count - 4) where data[index] == 13 && data[index + 1] == 10 && data[index + 2] == 13 && data[index + 3] == 10 {
            return index + 4
        }
        return nil
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve() {
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            var data = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 4096)
            var bodyStart: Int?
            var expected = 0
            while true {
                let count = read(connection, &buffer, buffer.count)
                guard count > 0 else { break }
                data += buffer[0..<count]
                if bodyStart == nil, let end = Self.headerEnd(in: data) {
                    bodyStart = end
                    let headers = String(decoding: data[..<end], as: UTF8.self).lowercased()
                    let length = headers.components(separatedBy: "\r\n").first { $0.hasPrefix("content-length:") }
                        .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                    expected = end + length
                }
                if let bodyStart, data.count >= expected {
                    let body = String(decoding: data[bodyStart..<expected], as: UTF8.self)
                    bodies.withLock { $0.append(body) }
                    break
                }
            }
            let (status, text) = answer.withLock { $0 }
            let reply = "HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\nContent-Length: \(text.utf8.count)\r\n"
                + "Connection: close\r\n\r\n" + text
            _ = reply.withCString { write(connection, $0, strlen($0)) }
            close(connection)
        }
    }
}
