import CCurl
import CFastCGI
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

func responder(socketPath: String, answerPath: String, threads: Int) -> Never {
    let answer = readFile(answerPath)
    let head = Array("Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(answer.count)\r\n\r\n".utf8)
    guard FCGX_Init() == 0 else { fail("FCGX_Init failed") }
    unlink(socketPath)
    let listener = FCGX_OpenSocket(socketPath, 1024)
    guard listener >= 0 else { fail("cannot listen on \(socketPath)") }
    chmod(socketPath, 0o777)
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
default:
    fail("unknown mode '\(argument(1))': responder, curl or curl-multi")
}
