import Logging
import SluiceCore
import SluiceFastCGI
import SluiceHTTP
import SluiceProviders
import SluiceRedis

/// One request, start to finish: read it, authenticate, resolve the route, call the
/// endpoints in plan order, answer, settle the call's reservations, and hand what is left
/// to write (audit record, health report, budget alerts) to the process's `CallSettler`.
/// One pipeline per thread; it owns that thread's curl handle and Redis connection. What it
/// needs of the world goes through ports (`ClientConnection`, `UpstreamPort`,
/// `EndpointHealthPort`, `GatewayKeyPort`, `AuditSinkPort`, and `GovernancePort` through
/// its `Governor`), and reads the time through a `GatewayClock`, so its unit tests run it
/// on in-memory fakes.
public final class RequestPipeline {
    let context: WorkerContext
    let http: any UpstreamPort
    let redis: RedisConnection
    let healthStore: any EndpointHealthPort
    let settler: any AuditSinkPort
    let governor: Governor
    /// Every time the request path reads (the call's and its attempts' own included).
    let clock: any GatewayClock
    private let keys: any GatewayKeyPort
    private let keyCache = ThreadKeyCache()
    private var random = ThreadRandom()
    /// The reservations of the call being served, settled as its response is finished: the
    /// call's own, and those of the endpoints it tried (`per: endpoint` limits) by name,
    /// with when Redis admitted them.
    var pendingPlans: [(plan: AdmissionPlan, endpoint: String?, atMs: Int?)] = []
    /// The call being served, recorded once its response is out.
    var call: CallRecord?
    /// The Responses API call being served: its id, the stored state it continues, and
    /// what it keeps when it is done.
    var responsesTurn: ResponsesTurn?
    /// Answer bytes the call being served held in memory (all attempts).
    var bufferedAnswerBytes = 0
    /// The attempts of the request being served, reported once its response is out.
    var pendingReport: (attempts: [AttemptRecord], unusedProbes: [String], owner: String)?
    /// The settlement `settleBeforeFinish` worked out, for the settler.
    var pendingSettlement: GovernanceTicket?
    /// Calls this request counted in flight (`balance: least_busy`), released after it.
    var inFlightMarks: [(upstream: String, token: String)] = []
    /// An answer to store in the route's cache once the response is out.
    var pendingCacheEntry: (key: String, fields: [String], ttl: Duration)?

    /// `settler` takes each answered call; the ports left out are this thread's own: a curl
    /// handle (`upstream`), and health and keys in Redis through the thread's connection;
    /// the time is the system's.
    init(context: WorkerContext, settler: any AuditSinkPort, upstream: (any UpstreamPort)? = nil,
         health: (any EndpointHealthPort)? = nil, keys: (any GatewayKeyPort)? = nil,
         clock: any GatewayClock = SystemClock()) {
        self.context = context
        self.clock = clock
        self.settler = settler
        self.http = upstream ?? HTTPClient()
        let redis = RedisConnection(config: context.config.redis)
        self.redis = redis
        self.healthStore = health ?? EndpointHealthStore(redis: redis, keys: context.redisKeys,
                                                         policy: context.config.health, logger: context.logger)
        self.keys = keys ?? KeyDirectory(redis: redis, names: context.redisKeys)
        context.pipelineCount.add(1, ordering: .relaxed)
        self.governor = Governor(context: context, clock: clock)
    }

    /// Serves the request `fcgi` has accepted. Never throws: every failure becomes an
    /// OpenAI-shaped error response.
    func handle(_ fcgi: any ClientConnection) {
        let requestId = fcgi.param("SLUICE_REQUEST_ID").flatMap { $0.isEmpty ? nil : $0 } ?? Self.newRequestId()
        let method = fcgi.param("REQUEST_METHOD") ?? "GET"
        let path = APIPath.of(uri: fcgi.param("DOCUMENT_URI") ?? fcgi.param("REQUEST_URI") ?? "/")
        let call = CallRecord(requestId: requestId, path: path, clientAddress: fcgi.param("REMOTE_ADDR"), clock: clock)
        // Every API call gets an audit record; the health check and metrics do not.
        self.call = path == "/sluice/healthz" || path == "/metrics" ? nil : call
        if self.call != nil { startTrace(call, fcgi: fcgi) }
        let writer = ClientWriter(request: fcgi, requestId: requestId, call: call)
        guard let body = fcgi.readBody(limit: context.config.server.maxBodyBytes) else {
            writer.send(GatewayError(.requestTooLarge,
                                     "The request body is larger than \(context.config.server.maxBodyBytes) bytes."))
            return
        }
        do {
            try serve(method: method, path: path, body: body, fcgi: fcgi, writer: writer)
        } catch {
            if error.httpStatus >= 500 {
                context.logger.warning("request failed", metadata: ["request_id": "\(requestId)", "path": "\(path)",
                                                                    "status": "\(error.httpStatus)", "error": "\(error)"])
            }
            var headers: [(name: String, value: String)] = []
            if error.code == .methodNotAllowed {
                headers.append(("Allow", path.hasPrefix("/v1/models") || path == "/metrics" ? "GET" : "POST"))
            }
            writer.send(error, extraHeaders: headers)
        }
    }

    private func serve(method: String, path: String, body: [UInt8], fcgi: any ClientConnection,
                       writer: ClientWriter) throws(GatewayError) {
        if path == "/sluice/healthz" {
            return health(writer)
        }
        if path == "/metrics" {
            guard method == "GET" || method == "HEAD" else { throw GatewayError(.methodNotAllowed, "Use GET for /metrics.") }
            do {
                let text = try MetricsPage.render(context: context, redis: redis)
                return writer.send(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Array(text.utf8))
            } catch {
                throw GatewayError(.backendUnavailable, "Metrics live in Redis, which cannot be reached.", retryAfter: 1)
            }
        }
        // Anthropic's Messages API: native to Anthropic endpoints, translated for the others.
        let operation = path.hasPrefix("/v1/") ? APIOperation(rawValue: String(path.dropFirst(4))) : nil
        if operation?.isAnthropic == true { writer.call.surface = .anthropic }
        let responseResource = path.hasPrefix("/v1/responses/")
        if operation == .responses || responseResource { writer.call.surface = .responses }
        guard path.hasPrefix("/v1/"), operation != nil || responseResource || path == "/v1/models" || path.hasPrefix("/v1/models/") else {
            throw GatewayError(.notFound, "Unknown API path '\(GatewayError.quote(path))'.")
        }
        let caller = try Authenticator(context: context, keys: keys, threadCache: keyCache, clock: clock)
            .caller(credential: fcgi.param("SLUICE_CREDENTIAL"), principal: fcgi.param("SLUICE_PRINCIPAL"))
        writer.call.caller = caller
        if responseResource {
            return try serveResponseResource(method: method, path: path, query: fcgi.param("QUERY_STRING") ?? "",
                                             caller: caller, writer: writer)
        }
        guard let operation else {
            guard method == "GET" || method == "HEAD" else {
                throw GatewayError(.methodNotAllowed, "Use GET for \(path).")
            }
            return try models(path: path, caller: caller, writer: writer)
        }
        guard method == "POST" else { throw GatewayError(.methodNotAllowed, "Use POST for \(path).") }
        var request = try APIRequest(operation: operation, body: body)
        if operation.isAnthropic {
            for (name, param) in [("anthropic-version", "HTTP_ANTHROPIC_VERSION"), ("anthropic-beta", "HTTP_ANTHROPIC_BETA")] {
                if let value = fcgi.param(param), !value.isEmpty { request.clientHeaders.append((name, value)) }
            }
        }
        writer.call.stream = request.stream
        guard let route = context.config.routes[request.model] else {
            throw GatewayError(.routeNotFound, "The model '\(GatewayError.quote(request.model))' does not exist or you do not have access to it.",
                               param: "model")
        }
        writer.call.route = route.name
        if let redactor = context.redactors[route.name], redactor.config.shouldSample(draw: Double.random(in: 0..<1, using: &random)) {
            writer.call.redactor = redactor
            writer.call.requestBody = body
            writer.call.credential = fcgi.param("SLUICE_CREDENTIAL")
        }
        guard caller.policy.allows(route: route.name) else {
            throw GatewayError(.routeNotAllowed, "This key is not allowed to use the model '\(route.name)'.", param: "model")
        }
        guard route.type == operation.routeType else {
            throw GatewayError(.routeWrongType,
                               "The model '\(route.name)' serves \(route.type.rawValue) requests, not /v1/\(operation.rawValue).",
                               param: "model")
        }
        let clientTags = try fcgi.param("HTTP_X_SLUICE_TAGS").map { (header) throws(GatewayError) in
            try RequestTags.parse(header: header)
        } ?? [:]
        // Forced tags win; client tags the policy does not allow are dropped, and named.
        let (tags, ignored) = caller.policy.resolveTags(client: clientTags)
        if !ignored.isEmpty { writer.call.responseHeaders.append(("X-Sluice-Ignored-Tags", ignored.joined(separator: ","))) }
        writer.call.tags = tags
        try context.config.governance.requiredTags.check(tags, scope: "This gateway")
        try route.requiredTags.check(tags, scope: "The model '\(route.name)'")
        try checkGuardrails(&request, route: route, call: writer.call)
        responsesTurn = operation == .responses ? try ResponsesTurn(request: request, route: route, caller: caller,
                                                                      redis: redis, keys: context.redisKeys) : nil
        defer { responsesTurn = nil }
        // Counting tokens generates nothing: no tokens to reserve or settle.
        let plan = operation == .countTokens ? nil : governor.plan(for: request, route: route, caller: caller, tags: tags)
        forward(request, route: route, tags: tags, plan: plan, writer: writer)
    }

    /// Tries the route's endpoints in plan order until one answers, within the route's
    /// attempts and deadline, and answers the client itself (errors included, with the
    /// visibility headers). Every attempt is kept for the health report after the response.
    private func forward(_ clientRequest: APIRequest, route: RouteConfig, tags: [String: String], plan admission: AdmissionPlan?,
                         writer: ClientWriter) {
        let started = clock.now
        // The cache first: a hit is admitted by its request counters alone and answered.
        if answerFromCache(clientRequest, route: route, admission: admission, writer: writer) { return }
        let owner = EndpointHealthStore.newOwner(using: &random)
        // A route with one endpoint calls it whatever its health (cooling included), so it
        // skips the read; its outcomes are still recorded, and they close or re-trip it.
        let busy = route.balance == .leastBusy
        let snapshotCall = route.endpoints.count > 1
            ? healthStore.snapshotCall(of: route.endpoints, probeLease: probeLease(for: route), owner: owner, inFlight: busy) : nil
        var health: HealthSnapshot?
        var refusal: GatewayError?
        if let admission {
            // Admission and the health snapshot: one round trip.
            let (decision, reply) = governor.admit(admission, with: snapshotCall)
            health = healthStore.snapshot(from: reply, of: route.endpoints)
            switch decision {
            case .admitted(let headers, let atMs):
                writer.call.responseHeaders += headers
                pendingPlans.append((admission, nil, atMs))
            case .refused(let error, let headers):
                writer.call.responseHeaders += headers
                refusal = error
            }
        } else if snapshotCall != nil {
            health = healthStore.snapshot(of: route.endpoints, probeLease: probeLease(for: route), owner: owner, inFlight: busy)
        }
        var plan = EndpointPlan.order(for: route, tags: tags, draw: Double.random(in: 0..<1, using: &random), health: health)
        if let turn = responsesTurn, refusal == nil {
            do {
                plan = try turn.restrict(plan, route: route, health: health)
            } catch {
                refusal = error
            }
        }
        let windows = route.endpoints.contains { $0.contextWindow != nil }
        let needed = windows ? ContextWindow.needed(clientRequest) : 0
        if windows, case let fitting = ContextWindow.fitting(plan, needed: needed), !fitting.skipped.isEmpty {
            writer.call.responseHeaders.append(("X-Sluice-Context-Skipped", fitting.skipped.joined(separator: ",")))
            if fitting.fit.isEmpty && refusal == nil { refusal = ContextWindow.error(needed: needed, route: route) }
            plan = fitting.fit
        }
        var granted = Set(route.endpoints.filter { health?.health(of: $0).state == .probeGranted }.map(\.upstreamKey))
        var attempts: [AttemptRecord] = []
        defer {
            pendingReport = (attempts, Array(granted), owner)
        }
        if let refusal {
            return writer.send(refusal, extraHeaders: [("X-Sluice-Route", route.name), ("X-Sluice-Attempts", "0")])
        }
        var lastError = GatewayError(.upstreamUnavailable, "No endpoint of '\(route.name)' is available.")
        var lastEndpoint = plan.first
        var machine = AttemptMachine(plan: plan.map { AttemptMachine.Target(name: $0.name, provider: $0.provider) },
                                     maxAttempts: route.retry.attempts, maxWait: route.retry.maxWait,
                                     deadline: route.retry.deadline)
        var conversions: [MessagesTarget: APIRequest] = [:]
        while case .call(let index, let wait, let checkLimits) = machine.next(elapsed: clock.now - started) {
            let endpoint = plan[index]
            if checkLimits, let endpointPlan = governor.plan(for: clientRequest, route: route, endpoint: endpoint) {
                switch governor.admit(endpointPlan, with: nil).0 {
                case .admitted(_, let atMs):
                    pendingPlans.append((endpointPlan, endpoint.name, atMs))
                case .refused(let error, _):
                    machine.record(.refusedByLimits(index: index))
                    lastError = error
                    lastEndpoint = endpoint
                    continue
                }
            }
            // Calling an endpoint again: back off, or wait as long as the provider asked.
            if wait > .zero, !pause(wait, writer: writer) { return }
            var limits = limits(endpoint: endpoint, route: route)
            if let left = machine.timeLeft(elapsed: clock.now - started) {
                guard left > .zero else {
                    lastError = GatewayError(.upstreamTimeout, "The request's deadline for '\(route.name)' passed.")
                    break
                }
                limits.total = min(limits.total, left)
                limits.firstByte = min(limits.firstByte, left)
            }
            lastEndpoint = endpoint
            guard let provider = context.config.providers[endpoint.provider] else {
                machine.record(.failed(index: index, retryAfterMs: nil, quotaExhausted: false))
                continue
            }
            var moveOn: MoveOn?
            attempt(endpoint, provider: provider, clientRequest: clientRequest, route: route, limits: limits,
                    attempts: &attempts, granted: &granted, conversions: &conversions, writer: writer, moveOn: &moveOn)
            guard let moveOn else { return }
            // That endpoint is done with this call: not busy with it while the next one works.
            healthStore.release(inFlightMarks)
            inFlightMarks = []
            lastError = moveOn.error
            machine.record(.failed(index: index, retryAfterMs: moveOn.askedWait, quotaExhausted: moveOn.quotaExhausted))
            // Too long for this endpoint: another round would not change that.
            if moveOn.contextExceeded { machine.record(.refusedByLimits(index: index)) }
            context.logger.notice("endpoint failed", metadata: ["route": "\(route.name)", "endpoint": "\(endpoint.name)",
                                                                "attempt": "\(attempts.count)", "error": "\(lastError)"])
        }
        writer.send(lastError, extraHeaders: lastEndpoint.map { visibility(route, $0, attempts.count) }
                        ?? [("X-Sluice-Route", route.name), ("X-Sluice-Attempts", String(attempts.count))])
    }

    /// What an attempt that did not end the call leaves for the next one.
    private struct MoveOn {
        var error: GatewayError
        /// What the provider asked to wait, when it answered with an error status.
        var askedWait: Int?
        var quotaExhausted: Bool
        /// The provider said the prompt is longer than its context window.
        var contextExceeded = false
    }

    /// Calls `endpoint` once. When that ends the call (an answer, or an error the route does
    /// not move on from), the client has its response and `moveOn` stays `nil`; otherwise
    /// `moveOn` says what failed. The attempt is added to `attempts` (and to the audit record).
    private func attempt(_ endpoint: EndpointConfig, provider: ProviderConfig, clientRequest: APIRequest, route: RouteConfig,
                         limits: TransferLimits, attempts: inout [AttemptRecord], granted: inout Set<String>,
                         conversions: inout [MessagesTarget: APIRequest], writer: ClientWriter, moveOn: inout MoveOn?) {
        var lastError = GatewayError(.upstreamError, "The endpoint '\(endpoint.name)' failed.")

        let translator: ProviderTranslator
        var upstream: UpstreamRequest
        let request: APIRequest
        do {
            let made: (APIRequest, ProviderTranslator)?
            if let turn = responsesTurn {
                made = try turn.call(kind: provider.kind)
            } else {
                made = try ProviderRegistry.call(clientRequest, kind: provider.kind, conversions: &conversions)
            }
            guard let call = made else {
                return answerTokenCountEstimate(clientRequest, endpoint: endpoint,
                                                headers: visibility(route, endpoint, attempts.count), writer: writer)
            }
            (request, translator) = call
            upstream = try translator.upstreamRequest(for: request, endpoint: endpoint, provider: provider,
                                                      limits: limits)
        } catch {
            return writer.send(error, extraHeaders: visibility(route, endpoint, attempts.count))
        }
        // The client's API differs from the answer's: a Messages client on a chat translation.
        let reshapes = writer.call.surface == .anthropic && !translator.answersInClientAPI
            && request.operation == .chatCompletions
        let visible = visibility(route, endpoint, attempts.count + 1)
        var streamTranslator = translator.streamTranslator(for: request)
        if reshapes {
            streamTranslator = ChainedStreamTranslator(streamTranslator, AnthropicSurface.streamTranslator(model: request.model))
        }
        if let turn = responsesTurn {
            turn.outcome = ResponsesStreamOutcome()
            writer.call.responsesOutcome = turn.outcome
            streamTranslator = translator.answersInClientAPI ? ResponsesPassthroughStream(outcome: turn.outcome)
                : ChainedStreamTranslator(streamTranslator,
                                          ResponsesSurface.streamTranslator(context: turn.context, outcome: turn.outcome))
        }
        let relay = UpstreamRelay(writer: writer, context: context, clock: clock, wantsStream: request.stream,
                                  translator: streamTranslator, framing: translator.streamFraming, extraHeaders: visible)
        let attemptSpan = propagateTrace(into: &upstream, call: writer.call)
        if route.balance == .leastBusy, route.endpoints.count > 1 { markInFlight(endpoint, limits: limits) }
        let attemptStart = clock.now
        let outcome = http.perform(upstream, handler: relay)
        bufferedAnswerBytes += relay.body.count
        // A relayed stream's latency is its time to the first event; any other answer's, the whole call.
        let elapsed = Self.milliseconds((relay.firstEventAt ?? clock.now) - attemptStart)
        let wasProbe = granted.remove(endpoint.upstreamKey) != nil
        let call = writer.call
        call.endpoint = endpoint
        call.upstream += clock.now - attemptStart
        func record(_ result: AttemptOutcome, status: Int, errorClass: String, retryAfter: Int = 0) {
            attempts.append(AttemptRecord(endpoint: endpoint.name, upstream: endpoint.upstreamKey, outcome: result,
                                          status: status, errorClass: errorClass, latencyMs: elapsed,
                                          retryAfterMs: retryAfter, wasProbe: wasProbe))
            if let attemptSpan { call.attemptSpans.append((attemptSpan, attemptStart, clock.now)) }
            call.attempts.append(AuditRecord.Attempt(endpoint: endpoint.name, provider: endpoint.provider, status: status,
                                                     error: errorClass, latencyMs: elapsed, probe: wasProbe,
                                                     failed: result == .fail))
        }
        /// Usage of what streamed: the provider's figure, or an estimate from the text sizes.
        func streamedUsage(complete: Bool) {
            if var reported = relay.streamUsage {
                if !complete && relay.streamStarted {
                    // Cut: the input (cache included) is the provider's; the output counted
                    // so far may lag what was relayed (Anthropic counts it at the end).
                    reported.completion = max(reported.completion, TokenUsage.estimate(bytes: relay.generatedBytes))
                }
                (call.usage, call.usageSource) = (reported, complete || !relay.streamStarted ? .provider : .partial)
            } else if relay.streamStarted {
                call.usage = TokenUsage(prompt: TokenUsage.estimate(bytes: request.body.count),
                                        completion: TokenUsage.estimate(bytes: relay.generatedBytes))
                call.usageSource = complete ? .estimated : .partial
            }
            call.streamCompleted = relay.streamStarted ? complete : nil
            if relay.streamStarted && !complete && call.errorClass == nil { call.errorClass = "stream_cut" }
        }
        // What the provider asked, when it answered with an error status.
        var askedWait: Int?
        var quotaExhausted = false
        var contextExceeded = false
        switch outcome {
        case .completed(let status) where relay.streamStarted:
            streamedUsage(complete: relay.sawTerminal && !relay.endedWithError)
            if relay.sawTerminal {
                record(.ok, status: status, errorClass: "ok")
                if let turn = responsesTurn, !relay.endedWithError {
                    keep(turn, route: route, endpoint: endpoint, native: translator.answersInClientAPI, body: nil,
                         writer: writer)
                }
            } else {
                relay.endStream(with: GatewayError(.upstreamError, "The provider's stream ended before it was complete."))
                record(.fail, status: status, errorClass: relay.endedWithError ? "stream_error" : "dropped")
                logIncomplete(route, endpoint, reason: "the provider's stream ended without its terminal event")
            }
            return
        case .failed(.aborted, _) where relay.stopReason == .abandoned:
            record(.neutral, status: relay.status, errorClass: "cancelled")
            streamedUsage(complete: false)
            let restarting = GatewayError(.backendUnavailable,
                                          "The gateway restarted while answering; retry the request.", retryAfter: 1)
            guard relay.streamStarted else { return writer.send(restarting, extraHeaders: visible) }
            relay.endStream(with: restarting)
            return
        case .failed(.aborted, _) where relay.stopReason == .blockedByGuardrail:
            // The endpoint answered; the gateway's guardrail ended the stream.
            record(.neutral, status: relay.status, errorClass: "guardrail")
            streamedUsage(complete: false)
            return
        case .failed(.aborted, _) where relay.stopReason == .clientGone:
            record(.neutral, status: relay.status, errorClass: "client_gone")
            call.errorClass = "client_gone"
            if !relay.streamStarted { call.status = 499 }
            streamedUsage(complete: false)
            return
        case .failed(let failure, _) where relay.streamStarted:
            record(.fail, status: relay.status, errorClass: RetryPolicy.errorClass(failure))
            streamedUsage(complete: false)
            relay.endStream(with: Self.error(for: failure, endpoint: endpoint))
            logIncomplete(route, endpoint, reason: RetryPolicy.errorClass(failure))
            return
        case .failed(.aborted, _) where relay.stopReason == .overflowed:
            record(.neutral, status: relay.status, errorClass: "too_large")
            return writer.send(GatewayError(.upstreamError, "The provider's answer is larger than the gateway accepts."),
                               extraHeaders: visible)
        case .failed(.aborted, _) where relay.stopReason == .failedBeforeStart:
            // Nothing reached the client: like an error status, the next endpoint may answer.
            let failure = relay.startFailure ?? (GatewayError(.upstreamError, "The provider's stream failed."), "malformed")
            lastError = failure.error
            record(.fail, status: relay.status, errorClass: failure.errorClass)
            guard route.retry.on.dropped else { return writer.send(lastError, extraHeaders: visible) }
        case .completed(let status) where relay.isStream:
            // An event stream that ended before its first event: nothing reached the client.
            lastError = GatewayError(.upstreamError, "The endpoint '\(endpoint.name)' ended its stream without an event.")
            record(.fail, status: status, errorClass: "dropped")
            guard route.retry.on.dropped else { return writer.send(lastError, extraHeaders: visible) }
        case .completed(let status) where (200..<300).contains(status):
            // The provider's answer in OpenAI's shape (unchanged for OpenAI-compatible ones).
            // An answer that is not what it claims (an HTML page, JSON that does not parse or
            // does not fit the provider's API) is the endpoint's failure, and nothing has
            // reached the client yet: the next endpoint may answer.
            var translated: [UInt8]?
            do {
                try Self.checkConforms(relay, stream: request.stream, endpoint: endpoint)
                translated = try translator.clientBody(for: request, status: status, body: relay.body)
            } catch {
                lastError = error
                record(.fail, status: status, errorClass: "malformed")
                guard route.retry.on.dropped else { return writer.send(lastError, extraHeaders: visible) }
                break
            }
            record(.ok, status: status, errorClass: "ok")
            if context.traceExporter != nil { call.answer.scan(relay.body) }
            let answer = translated ?? relay.body
            if request.operation == .countTokens {
                (call.usage, call.usageSource) = (TokenUsage(prompt: 0, completion: 0), .provider)
            } else if let reported = translator.usage(for: request, in: answer) {
                (call.usage, call.usageSource) = (reported, .provider)
            } else {
                call.usage = TokenUsage(prompt: TokenUsage.estimate(bytes: request.body.count),
                                        completion: TokenUsage.estimate(bytes: answer.count))
                call.usageSource = .estimated
            }
            if reshapes {
                do {
                    let message = try AnthropicSurface.messageResponse(fromChatCompletion: answer, model: request.model)
                    return writer.send(status: status, contentType: "application/json", body: message, extraHeaders: visible)
                } catch {
                    return writer.send(error, extraHeaders: visible)
                }
            }
            if let turn = responsesTurn {
                var body = answer
                if !translator.answersInClientAPI {
                    let made: (response: [UInt8], assistant: [UInt8])
                    do {
                        made = try ResponsesSurface.responseObject(fromChatCompletion: answer, context: turn.context)
                    } catch {
                        return writer.send(error, extraHeaders: visible)
                    }
                    (body, turn.outcome.response, turn.outcome.assistant) = (made.response, made.response, made.assistant)
                }
                // Kept before the answer leaves, so the client's follow-up finds it.
                keep(turn, route: route, endpoint: endpoint, native: translator.answersInClientAPI, body: body, writer: writer)
                return writer.send(status: status, contentType: "application/json", body: body, extraHeaders: visible)
            }
            let type = translated == nil ? relay.contentType : "application/json"
            return writer.send(status: status, contentType: type, body: answer, extraHeaders: visible)
        case .completed(let status):
            lastError = translator.clientError(status: status, headers: relay.headers, body: relay.body,
                                               provider: provider)
            askedWait = Self.retryAfterMilliseconds(relay.headers)
            quotaExhausted = RetryPolicy.isQuotaExhausted(lastError)
            // The prompt does not fit this endpoint's context window: the next one may take it.
            contextExceeded = ContextWindow.isExceeded(status: status, body: relay.body)
            record(RetryPolicy.isEndpointFailure(status: status) ? .fail : .neutral, status: status,
                   errorClass: contextExceeded ? "context_length" : String(status),
                   retryAfter: quotaExhausted ? max(askedWait ?? 0, 60_000) : askedWait ?? 0)
            guard contextExceeded || RetryPolicy.shouldTryNext(status: status, on: route.retry.on) else {
                return writer.send(lastError, extraHeaders: visible)
            }
        case .failed(let failure, _):
            lastError = Self.error(for: failure, endpoint: endpoint)
            record(.fail, status: 0, errorClass: RetryPolicy.errorClass(failure))
            guard RetryPolicy.shouldTryNext(failure, on: route.retry.on) else {
                return writer.send(lastError, extraHeaders: visible)
            }
        }
        moveOn = MoveOn(error: lastError, askedWait: askedWait, quotaExhausted: quotaExhausted,
                        contextExceeded: contextExceeded)
    }

    /// How long a probe lease lasts: long enough to learn whether the endpoint answers.
    private func probeLease(for route: RouteConfig) -> Duration {
        let longest = route.endpoints.map { limits(endpoint: $0, route: route) }.map { $0.connect + $0.firstByte }.max()
        return min(longest ?? .seconds(30), .seconds(60)) + .seconds(1)
    }

    private func limits(endpoint: EndpointConfig, route: RouteConfig) -> TransferLimits {
        Self.limits(endpoint: endpoint, route: route, config: context.config)
    }

    private static func newRequestId() -> String {
        (0..<16).map { _ in String(UInt8.random(in: 0...15), radix: 16) }.joined()
    }
}
