import CCurl
import CLinux
import Glibc

// `proxy-pool`: the pool's shape, threads on one epoll set, a blocking transfer each.

/// The pool's shape with no gateway work: THREADS threads share one epoll set of
/// one-shot descriptors (the listener and every kept connection, as `ConnectionDispatcher`
/// does); a thread takes a readable connection, reads its request, POSTs the body with one
/// blocking libcurl transfer on its own handle, answers, and arms the connection again.
/// (A new connection is armed and served at its first wake-up, where the dispatcher serves
/// it on the thread that accepted it: with kept connections, only the warm-up differs.)
func proxyPool(socketPath: String, url: String, threads: Int) -> Never {
    signal(SIGTERM) { _ in _exit(0) }
    signal(SIGPIPE, SIG_IGN)
    let listener = unixListener(socketPath)
    let epoll = epoll_create1(0)
    @Sendable func arm(_ descriptor: Int32, _ operation: Int32) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLONESHOT.rawValue
        event.data.u64 = UInt64(UInt32(descriptor))
        epoll_ctl(epoll, operation, descriptor, &event)
    }
    arm(listener, EPOLL_CTL_ADD)
    // Connections by descriptor. One thread at a time has a descriptor (one-shot), and a
    // slot is emptied before its descriptor is closed (a new connection may reuse it).
    nonisolated(unsafe) let slots = UnsafeMutablePointer<LoopConnection?>.allocate(capacity: 65_536)
    slots.initialize(repeating: nil, count: 65_536)
    let workers = startThreads(threads) { _ in
        guard let handle = curl_easy_init() else { fail("curl_easy_init failed") }
        let headers = curl_slist_append(curl_slist_append(nil, "Content-Type: application/json"), "Expect:")
        var chunk = [UInt8](repeating: 0, count: 16_384)
        let answer = UnsafeMutablePointer<[UInt8]>.allocate(capacity: 1)
        answer.initialize(to: [])
        var event = epoll_event()
        while true {
            guard epoll_wait(epoll, &event, 1, -1) == 1 else { continue }
            let descriptor = Int32(truncatingIfNeeded: event.data.u64)
            if descriptor == listener {
                while case let accepted = accept4(listener, nil, nil, Int32(SOCK_NONBLOCK.rawValue)), accepted >= 0 {
                    guard accepted < 65_536 else { Glibc.close(accepted); continue }
                    slots[Int(accepted)] = LoopConnection(descriptor: accepted)
                    arm(accepted, EPOLL_CTL_ADD)
                }
                // Out of descriptors or memory: the connection stays queued, so wait a little
                // rather than wake again at once.
                if [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(errno) { usleep(10_000) }
                arm(listener, EPOLL_CTL_MOD)
                continue
            }
            guard let connection = slots[Int(descriptor)] else {
                // Not one of ours (cannot happen): closed rather than left disarmed.
                epoll_ctl(epoll, EPOLL_CTL_DEL, descriptor, nil)
                Glibc.close(descriptor)
                continue
            }
            var open = connection.readAvailable(into: &chunk)
            while open && connection.nextRequest() {
                answer.pointee.removeAll(keepingCapacity: true)
                var status = 502
                url.withCString { url in
                    connection.body.withUnsafeBufferPointer { body in
                        configure(handle, url: url, headers: headers, body: body)
                        _ = sluice_curl_setopt_write(handle, CURLOPT_WRITEFUNCTION, collect)
                        _ = sluice_curl_setopt_ptr(handle, CURLOPT_WRITEDATA, answer)
                        if curl_easy_perform(handle) == CURLE_OK {
                            _ = sluice_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
                        }
                    }
                }
                let out = fastCGIAnswer(requestId: connection.requestId, status: status, body: answer.pointee)
                open = writeAll(out, to: descriptor) && connection.keep
            }
            if open {
                arm(descriptor, EPOLL_CTL_MOD)
            } else {
                slots[Int(descriptor)] = nil
                epoll_ctl(epoll, EPOLL_CTL_DEL, descriptor, nil)
                Glibc.close(descriptor)
            }
        }
    }
    for worker in workers { pthread_join(worker, nil) }
    exit(0)
}
