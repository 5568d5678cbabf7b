import CCurl
import CFastCGI
import CLinux
import Glibc

// What the gateway's fixed parts cost on their own, on this machine, for `scripts/bench
// --floor`: the same libfcgi and libcurl the pool uses, with no gateway work in between.
//
//   sluice-floor responder SOCKET ANSWER_FILE THREADS
//       A FastCGI responder that answers every request with ANSWER_FILE as JSON: each of
//       THREADS threads accepts on SOCKET (a Unix socket path) and serves one kept
//       connection at a time, as libfcgi does. Runs until killed.
//   sluice-floor curl URL BODY_FILE CALLS THREADS
//       THREADS threads each POST BODY_FILE to URL CALLS/THREADS times, one blocking
//       transfer at a time on one kept connection (the pool's way).
//   sluice-floor curl-multi URL BODY_FILE CALLS IN_FLIGHT
//       One thread keeps IN_FLIGHT transfers going at once on one curl multi handle (an
//       event loop's way).
//   sluice-floor proxy-pool SOCKET URL THREADS
//       A FastCGI responder that passes each request's body on to URL (a POST) and answers
//       with the provider's answer, in the pool's shape with no gateway work: THREADS
//       threads share one epoll set of one-shot descriptors (the listener and every kept
//       connection), and the thread that takes a readable connection serves its request
//       with one blocking libcurl transfer on its own kept connection to the provider.
//       Runs until killed.
//   sluice-floor proxy-loop SOCKET URL
//       The same on one thread with an event loop: FastCGI records read from kept
//       connections on epoll, and every transfer on one curl multi handle whose sockets
//       and timer are on the same epoll. Runs until killed.
//
// The curl modes print `calls=N cpu_us=X user_us=Y` per call (getrusage of the process,
// after 200 warm-up calls), and exit 1 if a transfer fails or answers other than 200.

@inline(never) func fail(_ message: String) -> Never {
    let line = "sluice-floor: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(1)
}

func readFile(_ path: String) -> [UInt8] {
    guard let file = fopen(path, "rb") else { fail("cannot open \(path)") }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while case let count = fread(&chunk, 1, chunk.count, file), count > 0 { bytes += chunk[0..<count] }
    return bytes
}

func cpuMicroseconds() -> (total: Double, user: Double) {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let user = Double(usage.ru_utime.tv_sec) * 1e6 + Double(usage.ru_utime.tv_usec)
    return (user + Double(usage.ru_stime.tv_sec) * 1e6 + Double(usage.ru_stime.tv_usec), user)
}

func startThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) -> [pthread_t] {
    final class Box: @unchecked Sendable {
        let body: @Sendable (Int) -> Void
        let index: Int
        init(_ body: @escaping @Sendable (Int) -> Void, _ index: Int) { self.body = body; self.index = index }
    }
    return (0..<count).map { index in
        var thread = pthread_t()
        let box = Unmanaged.passRetained(Box(body, index)).toOpaque()
        guard pthread_create(&thread, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body(box.index)
            return nil
        }, box) == 0 else { fail("pthread_create failed") }
        return thread
    }
}

// MARK: responder

/// libfcgi's listening socket at `socketPath` (made anew, open to nginx's workers).
func fastCGIListener(_ socketPath: String) -> Int32 {
    // libfcgi installs a SIGTERM handler that only flags a shutdown for the next accept
    // (where a handler is the default one): with ours in place, TERM stops the responder.
    signal(SIGTERM) { _ in _exit(0) }
    guard FCGX_Init() == 0 else { fail("FCGX_Init failed") }
    unlink(socketPath)
    let listener = FCGX_OpenSocket(socketPath, 1024)
    guard listener >= 0 else { fail("cannot listen on \(socketPath)") }
    chmod(socketPath, 0o777)
    return listener
}

func responder(socketPath: String, answerPath: String, threads: Int) -> Never {
    let answer = readFile(answerPath)
    let head = Array("Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(answer.count)\r\n\r\n".utf8)
    let listener = fastCGIListener(socketPath)
    let workers = startThreads(threads) { _ in
        var request = FCGX_Request()
        FCGX_InitRequest(&request, listener, 0)
        var sink = [CChar](repeating: 0, count: 65_536)
        while FCGX_Accept_r(&request) >= 0 {
            while FCGX_GetStr(&sink, Int32(sink.count), request.in) > 0 {}
            head.withUnsafeBufferPointer { _ = FCGX_PutStr(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), Int32($0.count), request.out) }
            answer.withUnsafeBufferPointer { _ = FCGX_PutStr(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), Int32($0.count), request.out) }
            FCGX_Finish_r(&request)
        }
    }
    for worker in workers { pthread_join(worker, nil) }
    exit(0)
}

// MARK: curl

nonisolated(unsafe) private let discard: curl_write_callback = { _, size, count, _ in size * count }

/// Sets one POST on `handle`; `headers` and `body` outlive the transfer.
func configure(_ handle: UnsafeMutableRawPointer, url: UnsafePointer<CChar>, headers: UnsafeMutablePointer<curl_slist>?,
               body: UnsafeBufferPointer<UInt8>) {
    _ = sluice_curl_setopt_ptr(handle, CURLOPT_URL, url)
    _ = sluice_curl_setopt_ptr(handle, CURLOPT_HTTPHEADER, headers)
    _ = sluice_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
    _ = sluice_curl_setopt_long(handle, CURLOPT_TCP_NODELAY, 1)
    _ = sluice_curl_setopt_long(handle, CURLOPT_POST, 1)
    _ = sluice_curl_setopt_ptr(handle, CURLOPT_POSTFIELDS, body.baseAddress)
    _ = sluice_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
    _ = sluice_curl_setopt_write(handle, CURLOPT_WRITEFUNCTION, discard)
}

func checkAnswer(_ handle: UnsafeMutableRawPointer, _ code: CURLcode) {
    guard code == CURLE_OK else { fail("transfer failed: \(String(cString: curl_easy_strerror(code)))") }
    var status = 0
    _ = sluice_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
    guard status == 200 else { fail("answered \(status), not 200") }
}

func report(calls: Int, from start: (total: Double, user: Double)) {
    let end = cpuMicroseconds()
    let perCall = (end.total - start.total) / Double(calls)
    let userPerCall = (end.user - start.user) / Double(calls)
    print("calls=\(calls) cpu_us=\((perCall * 10).rounded() / 10) user_us=\((userPerCall * 10).rounded() / 10)")
}

let warmUp = 200

func blockingCurl(url: String, body: [UInt8], calls: Int, threads: Int) {
    let perThread = max(1, calls / threads)
    final class Start: @unchecked Sendable {
        var mutex = pthread_mutex_t()
        var condition = pthread_cond_t()
        var warmed = 0
        var go = false
        init() { pthread_mutex_init(&mutex, nil); pthread_cond_init(&condition, nil) }
    }
    let start = Start()
    let threadsStarted = startThreads(threads) { _ in
        guard let handle = curl_easy_init() else { fail("curl_easy_init failed") }
        let headers = curl_slist_append(curl_slist_append(curl_slist_append(nil, "Content-Type: application/json"),
                                                          "Authorization: Bearer sk-floor"), "Expect:")
        url.withCString { url in
            body.withUnsafeBufferPointer { body in
                for call in 0..<(perThread + warmUp / threads + 1) {
                    if call == warmUp / threads + 1 {
                        // Every thread warmed up before the clock starts.
                        pthread_mutex_lock(&start.mutex)
                        start.warmed += 1
                        pthread_cond_broadcast(&start.condition)
                        while !start.go { pthread_cond_wait(&start.condition, &start.mutex) }
                        pthread_mutex_unlock(&start.mutex)
                    }
                    configure(handle, url: url, headers: headers, body: body)
                    checkAnswer(handle, curl_easy_perform(handle))
                }
            }
        }
        curl_slist_free_all(headers)
        curl_easy_cleanup(handle)
    }
    pthread_mutex_lock(&start.mutex)
    while start.warmed < threads { pthread_cond_wait(&start.condition, &start.mutex) }
    let began = cpuMicroseconds()
    start.go = true
    pthread_cond_broadcast(&start.condition)
    pthread_mutex_unlock(&start.mutex)
    for thread in threadsStarted { pthread_join(thread, nil) }
    report(calls: perThread * threads, from: began)
}

func multiplexedCurl(url: String, body: [UInt8], calls: Int, inFlight: Int) {
    guard let multi = curl_multi_init() else { fail("curl_multi_init failed") }
    let headers = curl_slist_append(curl_slist_append(curl_slist_append(nil, "Content-Type: application/json"),
                                                      "Authorization: Bearer sk-floor"), "Expect:")
    url.withCString { url in
        body.withUnsafeBufferPointer { body in
            for _ in 0..<inFlight {
                guard let handle = curl_easy_init() else { fail("curl_easy_init failed") }
                configure(handle, url: url, headers: headers, body: body)
                curl_multi_add_handle(multi, handle)
            }
            var done = 0
            var began = cpuMicroseconds()
            var running: Int32 = 0
            while done < calls + warmUp {
                curl_multi_perform(multi, &running)
                var queued: Int32 = 0
                while let message = curl_multi_info_read(multi, &queued) {
                    guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle else { continue }
                    checkAnswer(handle, message.pointee.data.result)
                    curl_multi_remove_handle(multi, handle)
                    done += 1
                    if done == warmUp { began = cpuMicroseconds() }
                    configure(handle, url: url, headers: headers, body: body)
                    curl_multi_add_handle(multi, handle)
                }
                curl_multi_poll(multi, nil, 0, 1000, nil)
            }
            report(calls: done - warmUp, from: began)
        }
    }
}

// MARK: proxies

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

nonisolated(unsafe) private let collect: curl_write_callback = { buffer, size, count, context in
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

nonisolated(unsafe) private let onCurlSocket: curl_socket_callback = { _, socket, what, _, _ in
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
nonisolated(unsafe) private let onCurlTimer: curl_multi_timer_callback = { _, timeoutMs, _ in
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

let arguments = CommandLine.arguments
func argument(_ index: Int) -> String {
    guard index < arguments.count else { fail("usage: see the comment at the top of Sources/sluice-floor/main.swift") }
    return arguments[index]
}
func number(_ index: Int) -> Int {
    guard let value = Int(argument(index)), value > 0 else { fail("'\(argument(index))' is not a positive number") }
    return value
}

switch argument(1) {
case "responder":
    responder(socketPath: argument(2), answerPath: argument(3), threads: number(4))
case "curl":
    curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    blockingCurl(url: argument(2), body: readFile(argument(3)), calls: number(4), threads: number(5))
case "curl-multi":
    curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    multiplexedCurl(url: argument(2), body: readFile(argument(3)), calls: number(4), inFlight: number(5))
case "proxy-pool":
    curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    proxyPool(socketPath: argument(2), url: argument(3), threads: number(4))
case "proxy-loop":
    curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    proxyLoop(socketPath: argument(2), url: argument(3))
default:
    fail("unknown mode '\(argument(1))': responder, curl, curl-multi, proxy-pool or proxy-loop")
}
