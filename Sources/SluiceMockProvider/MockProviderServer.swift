import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A small deterministic HTTP/1.1 server that speaks the wire formats of OpenAI,
/// Anthropic, Azure OpenAI and Databricks Model Serving, for testing pipelines offline
/// (`sluice-mock`) and as the upstream of integration tests.
///
/// Endpoints (OpenAI's and Anthropic's with or without the `/v1` prefix):
/// - OpenAI: `POST /v1/chat/completions`, `POST /v1/completions` (JSON or server-sent
///   events), `POST /v1/embeddings`, `GET /v1/models`;
/// - Anthropic: `POST /v1/messages` (JSON or named events), `POST /v1/messages/count_tokens`
///   (see ``MockMessages``);
/// - Azure OpenAI: `POST /openai/deployments/{deployment}/chat/completions|completions|embeddings?api-version=…`;
/// - Databricks: `POST /serving-endpoints/{name}/invocations`;
/// - `GET /_mock/stats` and `POST /_mock/reset` (see ``MockStats``; reset also clears
///   the runtime faults);
/// - `POST /_mock/faults` with `{"model": "gpt-x", "fault": "status=500,retry_after=2"}`
///   to make every later request for that model fail until cleared with `"fault": ""`
///   (see ``MockRuntimeFaults``).
///
/// Requests choose faults through a model-name suffix or `x-mock-*` headers, or get the
/// runtime fault installed for their model (Azure: deployment; Databricks: endpoint);
/// see ``MockFaults``. Each connection gets its own thread and may carry many requests.
public final class MockProviderServer: Sendable {
    /// The port the server is bound to; the kernel's choice when the options asked for 0.
    public let port: Int

    private let listener: Int32
    private let router: MockRouter

    /// Binds `options.host:options.port` with `SO_REUSEADDR` and starts listening.
    /// Connections wait in the backlog until ``run()`` or ``start()``.
    public init(options: MockProviderOptions) throws(MockProviderError) {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(options.host, String(options.port), &hints, &found)
        guard status == 0, let address = found else {
            throw .resolve("\(options.host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(found) }

        let fd = try MockProviderError.check(
            socket(address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol),
            MockProviderError.socket)
        do throws(MockProviderError) {
            var one: Int32 = 1
            _ = try MockProviderError.check(
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)),
                MockProviderError.socket)
            _ = try MockProviderError.check(bind(fd, address.pointee.ai_addr, address.pointee.ai_addrlen),
                                            MockProviderError.bind)
            _ = try MockProviderError.check(listen(fd, SOMAXCONN), MockProviderError.listen)
            port = try Self.boundPort(of: fd)
        } catch {
            close(fd)
            throw error
        }
        listener = fd
        router = MockRouter(options: options)
    }

    deinit {
        close(listener)
    }

    /// Accepts and serves connections forever, each on its own thread.
    public func run() {
        signal(SIGPIPE, SIG_IGN)
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EMFILE || errno == ENFILE { Thread.sleep(forTimeInterval: 0.05) }
                continue  // EINTR, ECONNABORTED and the like: the next client may be fine
            }
            var one: Int32 = 1
            // Each stream event is one small write that must leave at once.
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let router = router
            Thread.detachNewThread {
                MockConnection(fd: fd, router: router).serve()
            }
        }
    }

    /// Runs ``run()`` on a background thread and returns at once.
    public func start() {
        signal(SIGPIPE, SIG_IGN)
        Thread.detachNewThread { self.run() }
    }

    private static func boundPort(of fd: Int32) throws(MockProviderError) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { pointer throws(MockProviderError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(MockProviderError) in
                try MockProviderError.check(getsockname(fd, address, &length), MockProviderError.listen)
            }
        }
        let port: UInt16 = switch Int32(storage.ss_family) {
        case AF_INET6: withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in6.self).sin6_port }
        default: withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in.self).sin_port }
        }
        return Int(UInt16(bigEndian: port))
    }
}
