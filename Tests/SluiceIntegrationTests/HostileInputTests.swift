import Foundation
import SluiceCore
import SluiceProviders
import SluiceRedis
import XCTest

/// The gateway tried as an attacker would, through the shipped nginx config, real Redis
/// and every provider kind: malformed and hostile bodies, wrong types in every documented
/// field, request smuggling, oversize heads, httpoxy and SSRF attempts. Every answer is a
/// clear error with the right status (never a 5xx from the gateway, never a dead worker),
/// and the canary provider key and gateway key appear nowhere a client or operator reads.
final class HostileInputTests: SharedStackTestCase {
    nonisolated(unsafe) private static var cachedKey: String?
    /// A listener that must never be connected to (SSRF and httpoxy targets).
    nonisolated(unsafe) private static var trap: WebhookReceiver?
    /// Every response the hostile traffic got, for the canary search.
    nonisolated(unsafe) private static var seen: [String] = []

    override class var stackConfig: ((GatewayStack) -> String)? {
        { stack in
            // The refused provider's key file must exist before the pool reads the config.
            try? "\(wrongProviderKey)\n".write(toFile: stack.directory.path + "/wrong.key", atomically: true, encoding: .utf8)
            return """
            server: { listen: "unix:\(stack.socketPath)", workers: 2, threads: 4, drain_timeout: 5s }
            redis: { url: "redis://127.0.0.1:\(stack.redisPort)/0", timeout: 500ms }
            audit: { spool_dir: "\(stack.directory.path)/spool" }
            providers:
            \(stack.mockProviders)
              wrong-key: { kind: openai, base_url: "http://127.0.0.1:\(stack.mockPort)/v1", api_key: "${file:\(stack.directory.path)/wrong.key}" }
            routes:
              chat: { type: chat, endpoints: [ { provider: openai, model: gpt-4o } ] }
              claude: { type: chat, endpoints: [ { provider: anthropic, model: claude-sonnet-4-20250514 } ] }
              bedrock: { type: chat, endpoints: [ { provider: bedrock, model: "anthropic.claude-3-5-sonnet-20240620-v1:0" } ] }
              embed: { type: embeddings, endpoints: [ { provider: openai, model: text-embedding-3-small } ] }
              refused-key: { type: chat, endpoints: [ { provider: wrong-key, model: gpt-4o } ] }
            principals:
              "*": {}
            """
        }
    }

    /// A second provider secret the mock refuses: its 401 must not carry it to the client.
    private static let wrongProviderKey = "sk-canary-wrong-\(UInt64.random(in: 0...UInt64.max))"

    override class func setUp() {
        super.setUp()
        trap = try? WebhookReceiver()
    }

    override class func tearDown() {
        trap?.stop()
        super.tearDown()
    }

    private var key: String {
        get throws {
            if let key = Self.cachedKey { return key }
            let key = try gateway().createKey(name: "hostile-tests")
            Self.cachedKey = key
            return key
        }
    }

    @discardableResult
    private func post(_ path: String, _ body: String, headers: [(String, String)] = []) throws -> TestResponse {
        let response = try gateway().client.post(path, key: key, body, extraHeaders: headers)
        Self.seen.append(response.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n") + "\n" + response.text)
        return response
    }

    /// Sends raw bytes to nginx and returns what came back (until it closes or 3 s pass).
    private func raw(_ request: [UInt8]) throws -> String {
        let port = try gateway().nginxPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw StackError("cannot connect to nginx") }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var offset = 0
        while offset < request.count {
            let sent = request[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { break }  // nginx may refuse before reading everything
            offset += sent
        }
        var reply = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            reply += buffer[0..<count]
        }
        let text = String(decoding: reply, as: UTF8.self)
        Self.seen.append(text)
        return text
    }

    private func rawPost(_ body: [UInt8], path: String = "/v1/chat/completions", extraHead: String = "") throws -> String {
        let head = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(try key)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n\(extraHead)Connection: close\r\n\r\n"
        return try raw(Array(head.utf8) + body)
    }

    private static func status(of reply: String) -> Int {
        Int(reply.split(separator: " ", maxSplits: 2).dropFirst().first ?? "") ?? 0
    }

    // MARK: Bodies

    func testMalformedAndHostileBodiesGetClearErrors() throws {
        let stack = try gateway()
        let workers = Set(stack.workerPids())
        let deepArray = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let deepObject = String(repeating: #"{"a":"#, count: 100_000) + "1" + String(repeating: "}", count: 100_000)
        let cases: [(String, String, Set<Int>)] = [
            ("100,000-deep array", #"{"model":"chat","messages":\#(deepArray)}"#, [400]),
            ("100,000-deep object", #"{"model":"chat","messages":[],"metadata":\#(deepObject)}"#, [400]),
            ("duplicate model", #"{"model":"gpt-4o-smuggled","model":"chat","messages":[]}"#, [400]),
            ("duplicate stream", #"{"model":"chat","stream":false,"stream":true,"messages":[]}"#, [400]),
            ("max_tokens 1e999", #"{"model":"chat","max_tokens":1e999,"messages":[{"role":"user","content":"hi"}]}"#, [400]),
            ("max_tokens -1e999", #"{"model":"chat","max_tokens":-1e999,"messages":[{"role":"user","content":"hi"}]}"#, [400]),
            ("max_tokens 2^70", #"{"model":"chat","max_tokens":1180591620717411303424,"messages":[{"role":"user","content":"hi"}]}"#, [400]),
            ("not JSON", "model=chat", [400]),
            ("JSON array", "[1,2,3]", [400]),
            ("empty", "", [400]),
            ("trailing garbage", #"{"model":"chat","messages":[]} x"#, [400]),
            ("lone surrogate", #"{"model":"chat","messages":[{"role":"user","content":"\ud800"}]}"#, [200, 400]),
            ("escaped NUL", #"{"model":"chat","messages":[{"role":"user","content":"a\u0000b"}]}"#, [200, 400]),
            ("model is a URL", #"{"model":"http://169.254.169.254/latest/meta-data","messages":[]}"#, [404]),
            ("model with a fault suffix", #"{"model":"chat@status=500","messages":[]}"#, [404]),
            ("model of 1 MB", #"{"model":"\#(String(repeating: "m", count: 1 << 20))","messages":[]}"#, [404]),
        ]
        for (name, body, expected) in cases {
            for route in ["chat", "claude", "bedrock"] {
                let response = try post("/v1/chat/completions", body.replacingOccurrences(of: #""model":"chat""#, with: #""model":"\#(route)""#))
                XCTAssertTrue(expected.contains(response.status), "\(name) on \(route): \(response.status) \(response.text.prefix(300))")
                if response.status >= 400 {
                    XCTAssertNotNil(response.json["error"] as? [String: Any], "\(name): \(response.text.prefix(300))")
                    XCTAssertLessThan(response.body.count, 2048, "\(name): errors never echo the input in full")
                }
            }
        }
        // Numbers a translation would turn into infinity or NaN never reach a provider.
        for route in ["claude", "bedrock"] {
            for field in ["temperature", "top_p", "frequency_penalty", "presence_penalty", "seed"] {
                let response = try post("/v1/chat/completions", #"{"model":"\#(route)","\#(field)":1e999,"messages":[{"role":"user","content":"hi"}]}"#)
                XCTAssertEqual(response.status, 400, "\(field)=1e999 on \(route): \(response.text.prefix(300))")
            }
        }
        // Raw bytes: invalid UTF-8 and a raw NUL inside a string.
        for (name, bytes) in [("invalid UTF-8", [0xC3, 0x28]), ("overlong UTF-8", [0xC0, 0xAF]), ("raw NUL", [0x00]),
                              ("UTF-16 surrogate in UTF-8", [0xED, 0xA0, 0x80])] as [(String, [UInt8])] {
            for route in ["chat", "claude"] {
                let body = Array(#"{"model":"\#(route)","messages":[{"role":"user","content":"a"#.utf8) + bytes + Array(#"b"}]}"#.utf8)
                let reply = try rawPost(body)
                XCTAssertEqual(Self.status(of: reply), 400, "\(name) on \(route): \(reply.prefix(400))")
            }
        }
        XCTAssertEqual(Set(stack.workerPids()), workers, "no worker died")
    }

    /// A wrong JSON type in each documented field of each client API, on every kind: a 4xx
    /// (the gateway's, or the provider's passed on), never a 5xx and never a crash.
    func testWrongTypesInEveryDocumentedFieldAreClientErrors() throws {
        let stack = try gateway()
        let workers = Set(stack.workerPids())
        let wrongValues = [#""x""#, "12345", "-1", "1.5", "[]", "[1]", "{}", #"{"x":1}"#, "true", "null"]
        func check(_ path: String, _ route: String, fields: [String], base: (String) -> String) throws {
            for field in fields where field != "model" {
                for value in wrongValues {
                    let body = base(#""\#(field)":\#(value)"#)
                    let response = try post(path, body)
                    XCTAssertLessThan(response.status, 500, "\(path) \(route) \(field)=\(value): \(response.text.prefix(300))")
                    XCTAssertGreaterThan(response.status, 0, "\(path) \(route) \(field)=\(value)")
                }
            }
        }
        let chatFields = Set(ChatContract.rows.map(\.field) + ["messages"]).sorted()
        for route in ["chat", "claude", "bedrock"] {
            try check("/v1/chat/completions", route, fields: chatFields) { member in
                member.hasPrefix(#""messages""#) ? #"{"model":"\#(route)",\#(member)}"#
                    : #"{"model":"\#(route)","max_tokens":16,"messages":[{"role":"user","content":"hi"}],\#(member)}"#
            }
        }
        let messagesFields = Set(MessagesContract.rows.map(\.field) + ["messages", "max_tokens"]).sorted()
        for route in ["claude", "chat", "bedrock"] {
            try check("/v1/messages", route, fields: messagesFields) { member in
                let fields = [#""model":"\#(route)""#, #""max_tokens":16"#, #""messages":[{"role":"user","content":"hi"}]"#]
                    .filter { !member.hasPrefix($0.split(separator: ":")[0] + ":") }
                return "{" + (fields + [member]).joined(separator: ",") + "}"
            }
        }
        let responsesFields = Set(ResponsesContract.rows.map(\.field) + ["input"]).sorted()
        for route in ["chat", "claude"] {
            try check("/v1/responses", route, fields: responsesFields) { member in
                member.hasPrefix(#""input""#) ? #"{"model":"\#(route)",\#(member)}"#
                    : #"{"model":"\#(route)","input":"hi",\#(member)}"#
            }
        }
        XCTAssertEqual(Set(stack.workerPids()), workers, "no worker died")
    }

    // MARK: HTTP

    func testSmugglingAndOversizeHeadsAreRefused() throws {
        let stack = try gateway()
        let key = try self.key
        let body = #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#
        let smuggled = #"{"model":"chat","messages":[{"role":"user","content":"smuggled"}]}"#
        let before = stack.mockCount(model: "gpt-4o")
        let attempts: [(String, String)] = [
            ("CL and TE", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\n"
                + "Content-Length: \(body.count)\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                + "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\nContent-Length: \(smuggled.count)\r\n\r\n\(smuggled)"),
            ("two Content-Lengths", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\n"
                + "Content-Length: 5\r\nContent-Length: \(body.count)\r\n\r\n\(body)"),
            ("obfuscated TE", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\n"
                + "Transfer-Encoding: xchunked\r\n\r\n\(body)"),
            ("TE chunked, identity", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\n"
                + "Transfer-Encoding: chunked, identity\r\n\r\n\(body)"),
            ("bad chunk size", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\n"
                + "Transfer-Encoding: chunked\r\n\r\nzz\r\n\(body)\r\n0\r\n\r\n"),
            ("header of 64 KB", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\n"
                + "X-Big: \(String(repeating: "a", count: 65536))\r\nContent-Length: \(body.count)\r\n\r\n\(body)"),
            ("URI of 64 KB", "GET /v1/models/\(String(repeating: "a", count: 65536)) HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("400 headers", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\n"
                + (0..<400).map { "X-H\($0): \(String(repeating: "v", count: 200))\r\n" }.joined()
                + "Content-Length: \(body.count)\r\n\r\n\(body)"),
        ]
        for (name, request) in attempts {
            let reply = try raw(Array(request.utf8))
            let status = Self.status(of: reply)
            XCTAssertTrue((400..<500).contains(status) || status == 501, "\(name): \(reply.prefix(300))")
            XCTAssertEqual(reply.components(separatedBy: "HTTP/1.1 ").count - 1, 1, "\(name): one response only")
        }
        XCTAssertEqual(stack.mockCount(model: "gpt-4o"), before, "no smuggled request reached a provider")
        // An oversize body: 413 in OpenAI's shape.
        let large = try rawPost(Array(#"{"model":"chat","messages":[{"role":"user","content":""#.utf8)
                                + [UInt8](repeating: 0x61, count: 9 << 20) + Array(#""}]}"#.utf8))
        XCTAssertEqual(Self.status(of: large), 413, String(large.prefix(300)))
    }

    func testHttpoxyAndSSRFAttemptsReachNothing() throws {
        let stack = try gateway()
        let trap = try XCTUnwrap(Self.trap)
        let target = "http://127.0.0.1:\(trap.port)"
        let proxied = try post("/v1/chat/completions", #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#,
                               headers: [("Proxy", target), ("X-Forwarded-Host", "127.0.0.1:\(trap.port)"),
                                         ("X-Forwarded-Proto", "http"), ("Forwarded", "host=127.0.0.1:\(trap.port)")])
        XCTAssertEqual(proxied.status, 200, proxied.text)
        let fields = [#""base_url":"\#(target)/v1""#, #""api_base":"\#(target)""#, #""azure_endpoint":"\#(target)""#,
                      #""extra_headers":{"Host":"127.0.0.1:\#(trap.port)"}"#, #""url":"\#(target)""#,
                      #""endpoint":"\#(target)""#]
        for route in ["chat", "claude", "bedrock"] {
            for field in fields {
                try post("/v1/chat/completions", #"{"model":"\#(route)","messages":[{"role":"user","content":"hi"}],\#(field)}"#)
            }
            // Image URLs pass to the provider as URLs; the gateway never fetches them.
            try post("/v1/chat/completions", #"{"model":"\#(route)","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"\#(target)/cat.png"}}]}]}"#)
        }
        try post("/v1/chat/completions", #"{"model":"\#(target)","messages":[]}"#)
        try post("/v1/messages", #"{"model":"claude","max_tokens":8,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"\#(target)/x.png"}}]}]}"#)
        _ = stack.client.send(.get, "/v1/models/..%2F..%2F_mock%2Fstats", headers: [("Authorization", "Bearer \(try key)")])
        usleep(200_000)
        XCTAssertEqual(trap.received.count, 0, "nothing connected to the trap: \(trap.received)")
    }

    // MARK: Secrets

    /// Every record in the audit stream, as stored.
    private func auditStream(_ stack: GatewayStack) throws -> String {
        let redis = RedisConnection(config: RedisConfig(url: RedisURL(address: .tcp(host: "127.0.0.1", port: stack.redisPort)),
                                                        timeout: .seconds(3)))
        guard case .array(let entries) = try redis.checked(["XRANGE", "sluice:audit", "-", "+"]) else { return "" }
        return entries.compactMap { entry -> String? in
            guard case .array(let parts) = entry, parts.count == 2 else { return nil }
            return parts[1].fieldMap["record"]
        }.joined(separator: "\n")
    }

    /// Runs last (the name sorts after the others): every response the hostile traffic got,
    /// the logs, the audit stream, the spool and /metrics hold neither canary key, nor the
    /// gateway key's full hash.
    func testZCanaryKeysAppearNowhere() throws {
        let stack = try gateway()
        let key = try self.key
        // Traffic that puts the gateway key where it does not belong, and a provider that
        // refuses its key.
        // (A key inside the prompt is the client's content: the model may echo it back.)
        try post("/v1/chat/completions", #"{"model":"chat","messages":[{"role":"user","content":"hi"}],"user":"\#(key)"}"#)
        let tagged = try post("/v1/chat/completions", #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#,
                              headers: [("X-Sluice-Tags", "team=\(key)")])
        XCTAssertEqual(tagged.status, 400, "a credential is never recorded as a tag: \(tagged.text)")
        try post("/v1/chat/completions", #"{"model":"\#(key)","messages":[]}"#)
        try post("/v1/chat/completions", #"{"model":"refused-key","messages":[{"role":"user","content":"hi"}]}"#)
        for header in [("Authorization", "Bearer \(key)x"), ("x-api-key", "\(key)0"), ("Authorization", "Basic \(key)")] {
            let response = stack.client.send(.post, "/v1/chat/completions?key=\(key)", headers: [header],
                                             body: #"{"model":"chat","messages":[]}"#)
            Self.seen.append(response.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n") + response.text)
            XCTAssertEqual(response.status, 401, response.text)
        }
        let metrics = stack.client.send(.get, "/metrics").text
        // Records reach Redis from each worker's settler a moment after their responses.
        try waitUntil("the refused call's record is in the audit stream", timeout: .seconds(5)) {
            (try? auditStream(stack).contains("refused-key")) ?? false
        }
        let audit = try auditStream(stack)
        let usage = try stack.sluice(["usage", "--json"]).output
        let keysList = try stack.sluice(["keys", "list"]).output
        var places: [(String, String)] = [("responses", Self.seen.joined(separator: "\n")), ("metrics", metrics),
                                          ("audit tail", audit), ("usage", usage), ("keys list", keysList)]
        let files = FileManager.default.enumerator(atPath: stack.directory.path)?.compactMap { $0 as? String } ?? []
        for file in files where !file.hasSuffix(".key") && !file.hasSuffix("sluice.yaml") && !file.hasPrefix("mock") {
            if let text = try? String(contentsOfFile: stack.directory.path + "/" + file, encoding: .isoLatin1) {
                places.append((file, text))
            }
        }
        XCTAssertTrue(places.contains { $0.0 == "pool.log" }, "the pool's log is searched")
        XCTAssertTrue(audit.contains("refused-key"), "the audit stream is searched")
        let canaries = [("provider key", stack.mockKey), ("refused provider key", Self.wrongProviderKey),
                        ("gateway key", key), ("gateway key hash", GatewayKeyFormat.hash(key))]
        for (place, text) in places {
            for (name, canary) in canaries {
                let line = text.split(separator: "\n").first { $0.contains(canary) }.map { String($0.prefix(600)) } ?? ""
                XCTAssertFalse(text.contains(canary), "the \(name) appears in \(place): \(line)")
            }
        }
    }
}
