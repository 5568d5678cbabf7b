import CCurl
import CLinux
import Glibc

// `proxy-loop`: one thread, FastCGI and curl multi on one epoll.

/// The event loop's state: one thread, so the curl callbacks reach it through globals.
enum Loop {
    nonisolated(unsafe) static var epoll: Int32 = -1
    /// When curl's timer is due (`CLOCK_MONOTONIC`, ms), if it set one.
    nonisolated(unsafe) static var timerDue: Int?
    /// Epoll data above this bit is a curl socket; below it, a FastCGI descriptor.
    static let curlBit: UInt64 = 1 << 32

    static func nowMs() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
    }
}

nonisolated(unsafe) let onCurlSocket: curl_socket_callback = { _, socket, what, _, _ in
    var event = epoll_event()
    event.data.u64 = Loop.curlBit | UInt64(UInt32(socket))
    if what == CURL_POLL_REMOVE {
        epoll_ctl(Loop.epoll, EPOLL_CTL_DEL, socket, &event)
        return 0
    }
    event.events = (what & CURL_POLL_IN != 0 ? EPOLLIN.rawValue : 0) | (what & CURL_POLL_OUT != 0 ? EPOLLOUT.rawValue : 0)
    if epoll_ctl(Loop.epoll, EPOLL_CTL_MOD, socket, &event) != 0 {
        epoll_ctl(Loop.epoll, EPOLL_CTL_ADD, socket, &event)
    }
    return 0
}

/// curl's one timer: due `timeoutMs` from now, or none (-1).
nonisolated(unsafe) let onCurlTimer: curl_multi_timer_callback = { _, timeoutMs, _ in
    Loop.timerDue = timeoutMs < 0 ? nil : Loop.nowMs() + timeoutMs
    return 0
}

func proxyLoop(socketPath: String, url: String) -> Never {
    signal(SIGTERM) { _ in _exit(0) }
    signal(SIGPIPE, SIG_IGN)
    let listener = unixListener(socketPath)
    Loop.epoll = epoll_create1(0)
    var event = epoll_event()
    event.events = EPOLLIN.rawValue
    event.data.u64 = UInt64(UInt32(listener))
    epoll_ctl(Loop.epoll, EPOLL_CTL_ADD, listener, &event)

    guard let multi = curl_multi_init() else { fail("curl_multi_init failed") }
    _ = sluice_curl_multi_setopt_socket(multi, onCurlSocket)
    _ = sluice_curl_multi_setopt_timer(multi, onCurlTimer)
    let headers = curl_slist_append(curl_slist_append(nil, "Content-Type: application/json"), "Expect:")
    let urlCopy = strdup(url)!
    var connections: [Int32: LoopConnection] = [:]
    var idleHandles: [UnsafeMutableRawPointer] = []
    var running: Int32 = 0
    var chunk = [UInt8](repeating: 0, count: 16_384)

    /// Closes a connection nginx left or that failed; a transfer still running for it is
    /// taken off the multi handle first (curl holds the connection's answer buffer).
    func close(_ connection: LoopConnection) {
        if let handle = connection.transfer {
            curl_multi_remove_handle(multi, handle)
            idleHandles.append(handle)
            connection.transfer = nil
        }
        epoll_ctl(Loop.epoll, EPOLL_CTL_DEL, connection.descriptor, nil)
        Glibc.close(connection.descriptor)
        connections[connection.descriptor] = nil
    }
    /// Reads what arrived; starts the transfer once a whole request is in.
    func readable(_ connection: LoopConnection) {
        guard connection.readAvailable(into: &chunk) else { return close(connection) }
        while connection.nextRequest() {
            // nginx sends a connection's next request only after its answer.
            guard connection.transfer == nil else { return close(connection) }
            let handle = idleHandles.popLast() ?? curl_easy_init()!
            connection.transfer = handle
            connection.answer.pointee.removeAll(keepingCapacity: true)
            _ = sluice_curl_setopt_ptr(handle, CURLOPT_URL, urlCopy)
            _ = sluice_curl_setopt_ptr(handle, CURLOPT_HTTPHEADER, headers)
            _ = sluice_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
            _ = sluice_curl_setopt_long(handle, CURLOPT_TCP_NODELAY, 1)
            _ = sluice_curl_setopt_long(handle, CURLOPT_POST, 1)
            // curl keeps its own copy of the body (the size first, as curl wants).
            _ = sluice_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(connection.body.count))
            connection.body.withUnsafeBufferPointer { _ = sluice_curl_setopt_ptr(handle, CURLOPT_COPYPOSTFIELDS, $0.baseAddress) }
            _ = sluice_curl_setopt_write(handle, CURLOPT_WRITEFUNCTION, collect)
            _ = sluice_curl_setopt_ptr(handle, CURLOPT_WRITEDATA, connection.answer)
            _ = sluice_curl_setopt_ptr(handle, CURLOPT_PRIVATE, Unmanaged.passUnretained(connection).toOpaque())
            curl_multi_add_handle(multi, handle)
        }
    }
    /// Answers the requests whose transfers are done.
    func finishTransfers() {
        var queued: Int32 = 0
        while let message = curl_multi_info_read(multi, &queued) {
            guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle else { continue }
            var status = 502
            if message.pointee.data.result == CURLE_OK {
                _ = sluice_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
            }
            var raw: UnsafeMutablePointer<CChar>?
            _ = sluice_curl_getinfo_ptr(handle, CURLINFO_PRIVATE, &raw)
            curl_multi_remove_handle(multi, handle)
            idleHandles.append(handle)
            // Alive: a connection closed meanwhile took its transfer off the multi handle.
            let connection = Unmanaged<LoopConnection>.fromOpaque(UnsafeRawPointer(raw!)).takeUnretainedValue()
            connection.transfer = nil
            let out = fastCGIAnswer(requestId: connection.requestId, status: status, body: connection.answer.pointee)
            if !writeAll(out, to: connection.descriptor) || !connection.keep { close(connection) }
        }
    }

    var events = [epoll_event](repeating: epoll_event(), count: 256)
    while true {
        let wait = Loop.timerDue.map { Int32(max(0, $0 - Loop.nowMs())) } ?? -1
        let ready = epoll_wait(Loop.epoll, &events, Int32(events.count), wait)
        for index in 0..<max(0, Int(ready)) {
            let data = events[index].data.u64
            if data & Loop.curlBit != 0 {
                let flags = (events[index].events & EPOLLIN.rawValue != 0 ? CURL_CSELECT_IN : 0)
                    | (events[index].events & EPOLLOUT.rawValue != 0 ? CURL_CSELECT_OUT : 0)
                    | (events[index].events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 ? CURL_CSELECT_ERR : 0)
                curl_multi_socket_action(multi, Int32(truncatingIfNeeded: data), Int32(flags), &running)
            } else if Int32(truncatingIfNeeded: data) == listener {
                while case let accepted = accept4(listener, nil, nil, Int32(SOCK_NONBLOCK.rawValue)), accepted >= 0 {
                    var event = epoll_event()
                    event.events = EPOLLIN.rawValue
                    event.data.u64 = UInt64(UInt32(accepted))
                    epoll_ctl(Loop.epoll, EPOLL_CTL_ADD, accepted, &event)
                    connections[accepted] = LoopConnection(descriptor: accepted)
                }
            } else if let connection = connections[Int32(truncatingIfNeeded: data)] {
                readable(connection)
            }
        }
        // curl's timer fires once when due, whatever else woke the loop; curl sets another
        // if it wants one.
        if let due = Loop.timerDue, Loop.nowMs() >= due {
            Loop.timerDue = nil
            curl_multi_socket_action(multi, CURL_SOCKET_BAD, 0, &running)
        }
        finishTransfers()
    }
}
