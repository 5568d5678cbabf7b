import CFastCGI
import Glibc

// `responder`: libfcgi's threads answering canned JSON.

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
