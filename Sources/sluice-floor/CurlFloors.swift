import CCurl
import Glibc

// `curl` and `curl-multi`: libcurl alone, blocking and multiplexed, and what both proxies
// share of it.

nonisolated(unsafe) let discard: curl_write_callback = { _, size, count, _ in size * count }

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
