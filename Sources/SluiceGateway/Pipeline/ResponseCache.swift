import SluiceCore
import SluiceFastCGI
import SluiceRedis

/// A route's exact-match response cache (`cache:`), in Redis. The key is a SHA-256 of the
/// route, its guardrail config, the API operation, the caller's namespace and the request
/// body's top-level members in name order
/// (minus `ignore_fields`); the value is what the client was sent — a JSON answer, or a
/// stream's events byte for byte — so a hit is replayed exactly. Only complete 200
/// answers are kept. A hit is looked up before admission and admitted by the request
/// counters alone (no tokens reserved, no budget amount): it counts as a request and
/// costs nothing.
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

    /// The Redis key of a request: `<prefix>:cache:<sha256>` of the route, its guardrails
    /// (`guardrails`: a digest of their config, so answers stored under other guardrails are
    /// not served after a reload), the API operation (a chat route answers OpenAI's and
    /// Anthropic's APIs alike), the namespace and the body.
    static func key(prefix: String, route: String, guardrails: String, operation: APIOperation, namespace: String,
                    body: [UInt8], ignoring: Set<String>) -> String? {
        guard let members = try? JSONScanner.topLevelMembers(of: body) else { return nil }
        var canonical: [UInt8] = Array("\(route)\n\(guardrails)\n\(operation.rawValue)\n\(namespace)\n".utf8)
        for member in members.filter({ !ignoring.contains($0.key) }).sorted(by: { $0.key < $1.key }) {
            canonical += Array(member.key.utf8)
            canonical.append(0)
            canonical += body[member.range]
            canonical.append(0)
        }
        return "\(prefix):cache:" + Digest.sha256Hex(canonical)
    }

    /// Whose answers a call may read (`namespace:`): its key or principal by default, `*`
    /// for the whole route, or the value of a tag; callers that skip guardrails get their
    /// own. `nil`: no caller to key on.
    static func namespace(_ config: ResponseCacheConfig, caller: Caller?, tags: [String: String]) -> String? {
        var namespace: String
        switch config.namespace {
        case .route: namespace = "*"
        case .key:
            switch caller {
            case .key(let record): namespace = "key:" + record.id
            case .principal(let name, _): namespace = "principal:" + name
            case nil: return nil
            }
        case .tag(let name): namespace = "tag:\(name)=" + (tags[name] ?? "")
        }
        // Callers that skip guardrails never share answers with callers held to them.
        if let off = caller?.policy.guardrailsOff, !off.isEmpty { namespace += "|off:" + off.sorted().joined(separator: ",") }
        return namespace
    }

    /// What a route's cache keys carry of its guardrails: a SHA-256 of their config's
    /// description (arrays and scalars only, so the same in every process), made once
    /// per config load.
    static func guardrailsDigest(_ route: RouteConfig) -> String {
        route.guardrails.isEmpty ? "-" : Digest.sha256Hex(Array(String(describing: route.guardrails).utf8))
    }
}

/// An answer found in a route's cache, not yet sent.
struct CachedAnswer {
    var cache: CallCache
    var contentType: [UInt8]
    var body: [UInt8]
    var stream: Bool
}

extension RequestPipeline {
    /// Looks the request up in its route's cache (one round trip, for routes with `cache:`).
    /// A hit is returned, not sent: the caller admits it by the route's request limits
    /// first, then `replay`s it. After a miss or a bypass `call.cache` is set up, so the
    /// answer is stored once it is out.
    private func lookUpCache(_ request: APIRequest, route: RouteConfig, writer: ClientWriter) -> CachedAnswer? {
        guard let config = route.cache, [.chatCompletions, .completions, .embeddings, .messages].contains(request.operation) else {
            return nil
        }
        let call = writer.call
        // Keyed on what the client sent: masked requests that look alike are not alike.
        guard let namespace = CallCache.namespace(config, caller: call.caller, tags: call.tags),
              let key = CallCache.key(prefix: context.redisKeys.prefix, route: route.name,
                                      guardrails: context.cacheGuardrails[route.name] ?? "-", operation: request.operation,
                                      namespace: namespace, body: call.guardrails?.unmaskedBody ?? request.body,
                                      ignoring: config.ignoreFields) else { return nil }
        let control = (writer.request.param("HTTP_CACHE_CONTROL") ?? "").lowercased()
        let noStore = control.contains("no-store"), noCache = noStore || control.contains("no-cache")
        if noCache {
            call.cache = CallCache(key: key, config: config, result: .bypass, mayStore: !noStore)
            call.responseHeaders.append(("X-Sluice-Cache", "bypass"))
            countCache(route, .bypass)
            return nil
        }
        let cache = CallCache(key: key, config: config, result: .miss, mayStore: true)
        guard case .array(let fields)? = try? redis.command(["HMGET", key, "type", "body", "stream"], idempotent: true),
              fields.count == 3, case .string(let type) = fields[0], case .string(let body) = fields[1] else {
            call.cache = cache
            call.responseHeaders.append(("X-Sluice-Cache", "miss"))
            countCache(route, .miss)
            return nil
        }
        cache.result = .hit
        return CachedAnswer(cache: cache, contentType: type, body: body, stream: fields[2].text == "1")
    }

    /// Answers the request from its route's cache when it is there: admitted by the call's
    /// request counters alone (no tokens reserved, no budget amount: a hit uses no tokens
    /// and costs nothing; no health snapshot either, as no endpoint is called), then
    /// replayed. `false` after a miss or a bypass: the call goes on to admission as usual.
    func answerFromCache(_ request: APIRequest, route: RouteConfig, admission: AdmissionPlan?, writer: ClientWriter) -> Bool {
        guard let hit = lookUpCache(request, route: route, writer: writer) else { return false }
        if let plan = admission?.forCacheHit {
            switch governor.admit(plan, with: nil).0 {
            case .admitted(let headers, let atMs):
                writer.call.responseHeaders += headers
                pendingPlans.append((plan, nil, atMs))
            case .refused(let error, let headers):
                writer.call.responseHeaders += headers
                writer.send(error, extraHeaders: [("X-Sluice-Route", route.name), ("X-Sluice-Attempts", "0")])
                return true
            }
        }
        replay(hit, route: route, writer: writer)
        return true
    }

    /// Answers the client with `hit` (admitted): no provider call, no usage, no cost.
    private func replay(_ hit: CachedAnswer, route: RouteConfig, writer: ClientWriter) {
        let call = writer.call
        call.cache = hit.cache
        countCache(route, .hit)
        call.usage = TokenUsage(prompt: 0, completion: 0)
        call.usageSource = .none
        call.costNanos = 0
        let headers: [(name: String, value: String)] = [("X-Sluice-Route", route.name), ("X-Sluice-Attempts", "0"),
                                                       ("X-Sluice-Cache", "hit")]
        let contentType = String(decoding: hit.contentType, as: UTF8.self)
        if hit.stream {
            call.streamCompleted = true
            guard writer.startStream(contentType: contentType, extraHeaders: headers, flush: false) else { return }
            writer.request.write(hit.body)
            _ = writer.request.flush()
        } else {
            writer.send(status: 200, contentType: contentType, body: hit.body, extraHeaders: headers)
        }
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
        context.metrics.add([("sluice_response_cache_total{route=\"\(MetricsPage.label(route.name))\",result=\"\(result.rawValue)\"}", "1")])
    }
}
