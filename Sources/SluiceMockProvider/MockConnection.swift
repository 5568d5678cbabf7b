import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One accepted client connection: owns its socket and serves keep-alive requests on it
/// until the client closes, asks to close, or a fault drops it.
final class MockConnection {
    private let fd: Int32
    private let reader: HTTPRequestReader
    private let writer: HTTPResponseWriter
    private let router: MockRouter

    init(fd: Int32, router: MockRouter) {
        self.fd = fd
        self.reader = HTTPRequestReader(fd: fd)
        self.writer = HTTPResponseWriter(fd: fd)
        self.router = router
    }

    deinit {
        close(fd)
    }

    /// Serves requests until the connection ends; returns when it has.
    func serve() {
        while true {
            let request: HTTPRequest
            do {
                guard let next = try reader.next(sendContinue: { try? writer.writeContinue() }) else { return }
                request = next
            } catch .tooLarge {
                respond(with: .error(.tooLarge), keepAlive: false)
                return
            } catch .malformed(let reason) {
                respond(with: .error(.invalidRequest("Malformed HTTP request: \(reason).", param: nil)),
                        keepAlive: false)
                return
            } catch {
                return
            }
            let reply = router.reply(to: request)
            guard respond(with: reply, keepAlive: !request.wantsClose) else { return }
        }
    }

    /// Sends `reply` with its faults; `true` when the connection can serve another request.
    @discardableResult
    private func respond(with reply: MockReply, keepAlive: Bool) -> Bool {
        if let delay = reply.delay, !wait(delay) {
            router.stats.responseAbandoned()
            return false
        }
        var headers = reply.headers
        headers.append(("connection", keepAlive ? "keep-alive" : "close"))
        do {
            switch reply.body {
            case .json(let body):
                headers.insert(contentsOf: [("content-type", "application/json"), ("content-length", "\(body.count)")],
                               at: 0)
                try writer.writeHead(status: reply.status, headers: headers)
                if reply.drop != nil {
                    try writer.write(body.prefix(body.count / 2))
                    return false
                }
                try writer.write(body)
                return keepAlive
            case .raw(let type, let body):
                headers.insert(contentsOf: [("content-type", type), ("content-length", "\(body.count)")], at: 0)
                try writer.writeHead(status: reply.status, headers: headers)
                try writer.write(body)
                return keepAlive
            case .events(let events):
                headers.insert(contentsOf: [("content-type", "text/event-stream; charset=utf-8"),
                                            ("cache-control", "no-cache"), ("transfer-encoding", "chunked")], at: 0)
                try writer.writeHead(status: reply.status, headers: headers)
                let end = stream(events, first: reply.firstEvent, interval: reply.interval, drop: reply.drop)
                router.stats.streamEnded(end)
                return end == .completed && keepAlive
            case .eventStream(let events):
                headers.insert(contentsOf: [("content-type", "application/vnd.amazon.eventstream"),
                                            ("transfer-encoding", "chunked")], at: 0)
                try writer.writeHead(status: reply.status, headers: headers)
                let end = stream(events, first: reply.firstEvent, interval: reply.interval, drop: reply.drop, raw: true)
                router.stats.streamEnded(end)
                return end == .completed && keepAlive
            }
        } catch {
            return false
        }
    }

    /// Writes the events one chunk each (their SSE `wire` form, or their payload as is when
    /// `raw`), pausing `first` before the first (after an SSE comment) and `interval`
    /// between them, and stopping where `drop` says.
    private func stream(_ events: [MockEvent], first: Duration?, interval: Duration?, drop: Int?,
                        raw: Bool = false) -> MockStats.StreamEnd {
        router.stats.streamStarted()
        let contentTotal = events.filter(\.isContent).count
        let dropAfter = drop.map { min($0, contentTotal) }
        var contentSent = 0
        if dropAfter == 0 { return .dropped }
        for (index, event) in events.enumerated() {
            if index == 0, first != nil, !raw {
                // A keep-alive comment at once, as providers send while they think.
                do { try writer.writeChunk(Data(": processing\n\n".utf8)) } catch { return .aborted }
            }
            if index > 0 || first != nil, !wait((index == 0 ? first : interval) ?? .zero) { return .aborted }
            do {
                try writer.writeChunk(raw ? event.payload : event.wire)
            } catch {
                return .aborted
            }
            if event.isContent {
                contentSent += 1
                if contentSent == dropAfter { return .dropped }
            }
        }
        do {
            try writer.writeLastChunk()
        } catch {
            return .aborted
        }
        return .completed
    }

    /// Waits `duration`, waking early if the client hangs up; `false` if it did.
    ///
    /// A readable socket whose `recv(2)` with `MSG_PEEK` returns 0 has reached end of
    /// stream: the client closed. Bytes waiting (a pipelined request) mean it is still
    /// there; then the rest of the wait is a plain sleep.
    private func wait(_ duration: Duration) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + duration
        while true {
            let remaining = max(.zero, deadline - clock.now)
            let milliseconds = Int32(remaining.components.seconds * 1000
                + remaining.components.attoseconds / 1_000_000_000_000_000)
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0, errno == EINTR { continue }
            if ready <= 0 {
                if ready == 0, clock.now < deadline { continue }  // poll rounds down to whole ms
                return true
            }
            if descriptor.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { return false }
            var byte: UInt8 = 0
            let peeked = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
            if peeked == 0 || (peeked < 0 && errno != EAGAIN && errno != EINTR) { return false }
            let rest = deadline - clock.now
            if rest > .zero {
                Thread.sleep(forTimeInterval: Double(rest.components.seconds) + Double(rest.components.attoseconds) / 1e18)
            }
            return true
        }
    }
}
