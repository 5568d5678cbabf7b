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
