import SluiceCore
import SluiceFastCGI
import SluiceRedis

/// A route's exact-match response cache (`cache:`), in Redis. The key is a SHA-256 of the
/// route, the caller's namespace and the request body's top-level members in name order
/// (minus `ignore_fields`); the value is what the client was sent — a JSON answer, or a
/// stream's events byte for byte — so a hit is replayed exactly. Only complete 200
/// answers are kept. A hit is still admitted by the route's limits (it counts as a
/// request; its token reservation is settled at zero) and costs nothing.
final class CallCache {
    enum Result: String { case hit, miss, bypass }

    let key: String
    let config: ResponseCacheConfig
    var result: Result
    /// Whether the answer may be stored (not after `Cache-Control: no-store`).
    let mayStore: Bool
    /// What the client was sent, while it fits `max_bytes`.
    var contentType: String?
    var body: [UInt8] = []
    var overflowed = false

    init(key: String, config: ResponseCacheConfig, result: Result, mayStore: Bool) {
        self.key = key
        self.config = config
        self.result = result
        self.mayStore = mayStore
    }

    /// Keeps `bytes` of the answer (until it outgrows `max_bytes`).
    func capture(_ bytes: UnsafeRawBufferPointer) {
        guard result == .miss || result == .bypass, mayStore, !overflowed else { return }
        guard body.count + bytes.count <= config.maxBytes else {
            overflowed = true
            body = []
            return
        }
        body.append(contentsOf: bytes)
    }

    /// The Redis key of a request: `<prefix>:cache:<sha256>` of the route, the API operation
    /// (a chat route answers OpenAI's and Anthropic's APIs alike), the namespace and the body.
    static func key(prefix: String, route: String, operation: APIOperation, namespace: String, body: [UInt8],
                    ignoring: Set<String>) -> String? {
        guard let members = try? JSONScanner.topLevelMembers(of: body) else { return nil }
        var canonical: [UInt8] = Array("\(route)\n\(operation.rawValue)\n\(namespace)\n".utf8)
        for member in members.filter({ !ignoring.contains($0.key) }).sorted(by: { $0.key < $1.key }) {
            canonical += Array(member.key.utf8)
            canonical.append(0)
            canonical += body[member.range]
            canonical.append(0)
        }
        return "\(prefix):cache:" + Digest.sha256Hex(canonical)
    }
}

extension RequestPipeline {
    /// Looks the request up in its route's cache; on a hit the client is answered from it
    /// and `true` is returned. Sets up `call.cache` either way, so the answer is stored
    /// after a miss.
    func answerFromCache(_ request: APIRequest, route: RouteConfig, writer: ClientWriter) -> Bool {
        guard let config = route.cache, [.chatCompletions, .completions, .embeddings, .messages].contains(request.operation) else {
            return false
        }
        let call = writer.call
        var namespace: String
        switch config.namespace {
        case .route: namespace = "*"
        case .key:
            switch call.caller {
            case .key(let record): namespace = "key:" + record.id
            case .principal(let name, _): namespace = "principal:" + name
            case nil: return false
            }
        case .tag(let name): namespace = "tag:\(name)=" + (call.tags[name] ?? "")
        }
        // Callers that skip guardrails never share answers with callers held to them.
        if let off = call.caller?.policy.guardrailsOff, !off.isEmpty { namespace += "|off:" + off.sorted().joined(separator: ",") }
        // Keyed on what the client sent: masked requests that look alike are not alike.
        guard let key = CallCache.key(prefix: context.redisKeys.prefix, route: route.name, operation: request.operation,
                                      namespace: namespace, body: call.guardrails?.unmaskedBody ?? request.body,
                                      ignoring: config.ignoreFields) else { return false }
        let control = (writer.request.param("HTTP_CACHE_CONTROL") ?? "").lowercased()
        let noStore = control.contains("no-store"), noCache = noStore || control.contains("no-cache")
        if noCache {
            call.cache = CallCache(key: key, config: config, result: .bypass, mayStore: !noStore)
            call.responseHeaders.append(("X-Sluice-Cache", "bypass"))
            countCache(route, .bypass)
            return false
        }
        let cache = CallCache(key: key, config: config, result: .miss, mayStore: true)
        call.cache = cache
        guard case .array(let fields)? = try? redis.command(["HMGET", key, "type", "body", "stream"], idempotent: true),
              fields.count == 3, case .string(let type) = fields[0], case .string(let body) = fields[1] else {
            call.responseHeaders.append(("X-Sluice-Cache", "miss"))
            countCache(route, .miss)
            return false
        }
        cache.result = .hit
        countCache(route, .hit)
        call.usage = TokenUsage(prompt: 0, completion: 0)
        call.usageSource = .none
        call.costNanos = 0
        let headers: [(name: String, value: String)] = [("X-Sluice-Route", route.name), ("X-Sluice-Attempts", "0"),
                                                       ("X-Sluice-Cache", "hit")]
        let contentType = String(decoding: type, as: UTF8.self)
        if fields[2].text == "1" {
            call.streamCompleted = true
            guard writer.startStream(contentType: contentType, extraHeaders: headers, flush: false) else { return true }
            writer.request.write(body)
            _ = writer.request.flush()
        } else {
            writer.send(status: 200, contentType: contentType, body: body, extraHeaders: headers)
        }
        return true
    }

    /// What to store once the response is out: a complete 200 answer that fit.
    static func cacheEntry(of call: CallRecord) -> (key: String, fields: [String], ttl: Duration)? {
        guard let cache = call.cache, cache.result != .hit, cache.mayStore, !cache.overflowed, !cache.body.isEmpty,
              call.status == 200, call.streamCompleted != false, call.errorClass == nil,
              let type = cache.contentType, let body = String(validating: cache.body, as: UTF8.self) else { return nil }
        return (cache.key, ["type", type, "body", body, "stream", call.stream ? "1" : "0"], cache.config.ttl)
    }

    /// Stores an answer (after the client has it).
    func storeInCache(_ entry: (key: String, fields: [String], ttl: Duration)) {
        let ttl = String(max(1, entry.ttl.wholeMilliseconds))
        _ = try? redis.pipeline([["MULTI"], ["DEL", entry.key], ["HSET", entry.key] + entry.fields, ["PEXPIRE", entry.key, ttl],
                                 ["EXEC"]])
    }

    private func countCache(_ route: RouteConfig, _ result: CallCache.Result) {
        context.metrics.add([("sluice_response_cache_total{route=\"\(route.name)\",result=\"\(result.rawValue)\"}", "1")])
    }
}
