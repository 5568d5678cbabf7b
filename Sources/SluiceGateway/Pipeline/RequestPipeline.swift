import Logging
import SluiceCore
import SluiceFastCGI
import SluiceHTTP
import SluiceProviders
import SluiceRedis

/// One request, start to finish: read it, authenticate, resolve the route, call the
/// endpoints in plan order, answer. One pipeline per thread; it owns that thread's
/// curl handle and Redis connection.
public final class RequestPipeline {
    private let context: WorkerContext
    private let http: HTTPClient
    private let redis: RedisConnection

    public init(context: WorkerContext) {
        self.context = context
        self.http = HTTPClient()
        self.redis = RedisConnection(config: context.config.redis)
    }

    /// Serves the request `fcgi` has accepted. Never throws: every failure becomes an
    /// OpenAI-shaped error response.
    public func handle(_ fcgi: FastCGIRequest) {
        let requestId = fcgi.param("SLUICE_REQUEST_ID").flatMap { $0.isEmpty ? nil : $0 } ?? Self.newRequestId()
        let writer = ClientWriter(request: fcgi, requestId: requestId)
        let method = fcgi.param("REQUEST_METHOD") ?? "GET"
        let path = Self.apiPath(fcgi.param("DOCUMENT_URI") ?? fcgi.param("REQUEST_URI") ?? "/")
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
            if error.code == .methodNotAllowed { headers.append(("Allow", path.hasPrefix("/v1/models") ? "GET" : "POST")) }
            writer.send(error, extraHeaders: headers)
        }
    }

    private func serve(method: String, path: String, body: [UInt8], fcgi: FastCGIRequest,
                       writer: ClientWriter) throws(GatewayError) {
        if path == "/sluice/healthz" {
            return health(writer)
        }
        let operation = APIOperation(rawValue: String(path.dropFirst(4)))
        guard path.hasPrefix("/v1/"), operation != nil || path == "/v1/models" || path.hasPrefix("/v1/models/") else {
            throw GatewayError(.notFound, "Unknown API path '\(path)'.")
        }
        let caller = try Authenticator(context: context, redis: redis)
            .caller(credential: fcgi.param("SLUICE_CREDENTIAL"), principal: fcgi.param("SLUICE_PRINCIPAL"))
        guard let operation else {
            guard method == "GET" || method == "HEAD" else {
                throw GatewayError(.methodNotAllowed, "Use GET for \(path).")
            }
            return try models(path: path, caller: caller, writer: writer)
        }
        guard method == "POST" else { throw GatewayError(.methodNotAllowed, "Use POST for \(path).") }
        let request = try APIRequest(operation: operation, body: body)
        guard let route = context.config.routes[request.model] else {
            throw GatewayError(.routeNotFound, "The model '\(request.model)' does not exist or you do not have access to it.",
                               param: "model")
        }
        guard caller.policy.allows(route: route.name) else {
            throw GatewayError(.routeNotAllowed, "This key is not allowed to use the model '\(route.name)'.", param: "model")
        }
        guard route.type == operation.routeType else {
            throw GatewayError(.routeWrongType,
                               "The model '\(route.name)' serves \(route.type.rawValue) requests, not /v1/\(operation.rawValue).",
                               param: "model")
        }
        let tags = try fcgi.param("HTTP_X_SLUICE_TAGS").map { (header) throws(GatewayError) in
            try RequestTags.parse(header: header)
        } ?? [:]
        try forward(request, route: route, tags: tags, writer: writer)
    }

    /// Tries the route's endpoints in plan order until one answers.
    private func forward(_ request: APIRequest, route: RouteConfig, tags: [String: String],
                         writer: ClientWriter) throws(GatewayError) {
        let plan = EndpointPlan.order(for: route, tags: tags, draw: Double.random(in: 0..<1))
        var lastError = GatewayError(.upstreamUnavailable, "No endpoint of '\(route.name)' could be reached.")
        for (attempt, endpoint) in plan.enumerated() {
            guard let provider = context.config.providers[endpoint.provider] else { continue }
            let translator = ProviderRegistry.translator(for: provider.kind)
            let upstream = try translator.upstreamRequest(for: request, endpoint: endpoint, provider: provider,
                                                          limits: limits(endpoint: endpoint, route: route, provider: provider))
            let relay = UpstreamRelay(writer: writer, context: context, wantsStream: request.stream,
                                      translator: translator.streamTranslator(for: request),
                                      extraHeaders: [("X-Sluice-Endpoint", endpoint.name)])
            let outcome = http.perform(upstream, handler: relay)
            let isLast = attempt == plan.count - 1
            switch outcome {
            case .completed where relay.streamStarted:
                if !relay.sawTerminal {
                    relay.endStream(with: GatewayError(.upstreamError, "The provider's stream ended before it was complete."))
                }
                return
            case .failed(.aborted, _) where relay.stopReason == .abandoned:
                let restarting = GatewayError(.backendUnavailable,
                                              "The gateway restarted while answering; retry the request.", retryAfter: 1)
                guard relay.streamStarted else { throw restarting }
                relay.endStream(with: restarting)
                return
            case .failed(let failure, _) where relay.streamStarted:
                relay.endStream(with: Self.error(for: failure, endpoint: endpoint))
                return
            case .failed(.aborted, _) where relay.stopReason == .clientGone:
                return
            case .failed(.aborted, _) where relay.stopReason == .overflowed:
                throw GatewayError(.upstreamError, "The provider's answer is larger than the gateway accepts.")
            case .completed(let status) where (200..<300).contains(status):
                writer.send(status: status, contentType: relay.contentType, body: relay.body,
                            extraHeaders: [("X-Sluice-Endpoint", endpoint.name)])
                return
            case .completed(let status):
                lastError = translator.clientError(status: status, headers: relay.headers, body: relay.body,
                                                   provider: provider)
                guard RetryPolicy.shouldTryNext(status: status), !isLast else { throw lastError }
            case .failed(let failure, _):
                lastError = Self.error(for: failure, endpoint: endpoint)
                guard RetryPolicy.shouldTryNext(failure), !isLast else { throw lastError }
            }
            context.logger.notice("endpoint failed, trying the next one",
                                  metadata: ["route": "\(route.name)", "endpoint": "\(endpoint.name)",
                                             "error": "\(lastError)"])
        }
        throw lastError
    }

    private func limits(endpoint: EndpointConfig, route: RouteConfig, provider: ProviderConfig) -> TransferLimits {
        let timeouts = endpoint.timeouts.overriding(route.timeouts).overriding(provider.timeouts).overriding(.defaults)
        return TransferLimits(connect: timeouts.connect ?? .seconds(5), firstByte: timeouts.firstByte ?? .seconds(120),
                              idle: timeouts.idle ?? .seconds(120), total: timeouts.total ?? .seconds(600))
    }

    private static func error(for failure: UpstreamFailure, endpoint: EndpointConfig) -> GatewayError {
        switch failure {
        case .connect:
            return GatewayError(.upstreamUnavailable, "The endpoint '\(endpoint.name)' could not be reached.")
        case .timeout(let kind):
            return GatewayError(.upstreamTimeout, "The endpoint '\(endpoint.name)' timed out (\(kind.rawValue) timeout).")
        case .transport:
            return GatewayError(.upstreamError, "The connection to the endpoint '\(endpoint.name)' failed.")
        case .aborted:
            return GatewayError(.upstreamError, "The call to the endpoint '\(endpoint.name)' was cancelled.")
        }
    }

    private func models(path: String, caller: Caller, writer: ClientWriter) throws(GatewayError) {
        if path == "/v1/models" {
            return writer.sendJSON(status: 200, ModelList.list(for: caller, context: context))
        }
        let name = String(path.dropFirst("/v1/models/".count))
        guard context.config.routes[name] != nil, caller.policy.allows(route: name) else {
            throw GatewayError(.routeNotFound, "The model '\(name)' does not exist or you do not have access to it.")
        }
        writer.sendJSON(status: 200, ModelList.object(name, context: context))
    }

    private func health(_ writer: ClientWriter) {
        do {
            _ = try redis.checked(["PING"], idempotent: true)
            writer.sendJSON(status: 200, "{\"status\":\"ok\",\"redis\":\"ok\"}")
        } catch {
            writer.sendJSON(status: 503, "{\"status\":\"degraded\",\"redis\":\"unreachable\"}")
        }
    }

    /// The API path: query string dropped, anything before `/v1/` (an estate's mount prefix) ignored.
    static func apiPath(_ uri: String) -> String {
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? uri
        if path.hasSuffix("/sluice/healthz") { return "/sluice/healthz" }
        if let range = path.firstRange(of: "/v1/") { return String(path[range.lowerBound...]) }
        return path
    }

    private static func newRequestId() -> String {
        (0..<16).map { _ in String(UInt8.random(in: 0...15), radix: 16) }.joined()
    }
}
