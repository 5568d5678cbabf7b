import SluiceCore
import SluiceHTTP
import SluiceProviders
import SluiceRedis

/// One `POST /v1/responses` call: the id it will have on a translated route, the state of
/// the response it continues (`previous_response_id`), and the chat bodies made for each
/// kind of provider it may reach.
///
/// - Native providers (OpenAI, Azure OpenAI, OpenAI-compatible) hold their responses:
///   the gateway pins each response id to the endpoint that produced it, and a follow-up
///   goes to that endpoint only (another account would answer "not found"); if it is
///   cooling down the client gets a 503 naming it.
/// - Translated providers (Anthropic, Bedrock, Databricks) hold nothing: the gateway keeps
///   the conversation under the id in Redis, scoped to the caller.
final class ResponsesTurn {
    let context: ResponsesContext
    let owner: String
    private let requestBody: [UInt8]
    private let request: APIRequest
    /// The response this call continues, if the client named one the caller may see.
    let previous: ResponsesState?
    private let previousID: String?
    /// Chat bodies made for each target, and their input messages (for the kept state).
    private var made: [MessagesTarget: (request: APIRequest, input: [UInt8])] = [:]
    /// The input of the chat body that was sent (for the kept state).
    private(set) var sentInput: [UInt8]?
    var outcome = ResponsesStreamOutcome()

    init(request: APIRequest, route: RouteConfig, caller: Caller, redis: RedisConnection, keys: RedisKeys) throws(GatewayError) {
        self.request = request
        self.requestBody = request.body
        self.owner = Self.owner(of: caller)
        self.context = ResponsesContext(request: request.body, model: request.model)
        previousID = context.previousResponseID
        if let id = previousID {
            previous = try Self.load(id, owner: owner, redis: redis, keys: keys)
            // Another caller's response, even one a shared provider account holds, does not exist for this one.
            if previous == nil, try Self.load(id, owner: nil, redis: redis, keys: keys) != nil {
                throw GatewayError(.routeNotFound, "Previous response with id '\(GatewayError.quote(id))' not found.",
                                   param: "previous_response_id")
            }
        } else {
            previous = nil
        }
    }

    /// The caller as a state's owner: its key id or principal.
    static func owner(of caller: Caller) -> String {
        switch caller {
        case .key(let record): return "key:" + record.id
        case .principal(let name, _): return "principal:" + name
        }
    }

    /// The state kept under `id`, if `owner` may see it (any owner's for `nil`); `nil` when
    /// there is none.
    static func load(_ id: String, owner: String?, redis: RedisConnection, keys: RedisKeys) throws(GatewayError) -> ResponsesState? {
        let reply: RedisValue
        do {
            reply = try redis.checked(["GET", keys.response(id)], idempotent: true)
        } catch {
            throw GatewayError(.backendUnavailable, "The gateway's response store (Redis) cannot be reached.", retryAfter: 1)
        }
        guard case .string(let bytes) = reply, let state = ResponsesState(decoding: bytes), owner == nil || state.owner == owner else {
            return nil
        }
        return state
    }

    /// The plan narrowed to the endpoint that holds the previous response, when a provider
    /// holds it.
    func restrict(_ plan: [EndpointConfig], route: RouteConfig, health: HealthSnapshot?) throws(GatewayError) -> [EndpointConfig] {
        guard let previous, previous.pinned, let id = previousID else { return plan }
        guard let pinned = route.endpoints.first(where: { $0.name == previous.endpoint }) else {
            throw GatewayError.invalidRequest(
                "The response '\(id)' was created through the model '\(previous.route)'; continue it there.",
                param: "previous_response_id")
        }
        if let health, !health.health(of: pinned).isUsable {
            throw GatewayError(.backendUnavailable,
                               "The response '\(id)' is held by the endpoint '\(pinned.name)', which is cooling down after failures; "
                               + "retry shortly (no other endpoint holds it).", retryAfter: 5)
        }
        return [pinned]
    }

    /// The request and translator for a provider of `kind`.
    func call(kind: ProviderKind) throws(GatewayError) -> (APIRequest, ProviderTranslator)? {
        switch kind {
        case .openai, .openaiCompatible: return (request, ResponsesPassthrough(dialect: .openai))
        case .azureOpenAI: return (request, ResponsesPassthrough(dialect: .azure))
        case .anthropic, .bedrock, .databricks: break
        }
        if let id = previousID {
            guard let previous, !previous.pinned else {
                throw GatewayError(.routeNotFound, "Previous response with id '\(GatewayError.quote(id))' not found.",
                                   param: "previous_response_id")
            }
        }
        let target = AnthropicSurface.target(for: kind)
        if let cached = made[target] {
            sentInput = cached.input
            return (cached.request, ProviderRegistry.translator(for: kind))
        }
        let (chat, input) = try ResponsesSurface.chatRequest(fromResponses: requestBody, history: previous?.messages, for: target)
        var made = try APIRequest(operation: .chatCompletions, body: chat)
        made.clientHeaders = request.clientHeaders
        self.made[target] = (made, input)
        sentInput = input
        return (made, ProviderRegistry.translator(for: kind))
    }

    /// Whether the client asked the provider (or the gateway) to keep this response.
    var stores: Bool { context.store }
}

extension RequestPipeline {
    /// Keeps what a finished Responses call leaves: a pin to the endpoint for a native
    /// response (`body` is its JSON, `nil` for a stream), or the conversation for a
    /// translated one. A conversation over `responses.max_bytes` is not kept, and the
    /// answer says so (`X-Sluice-Response-Stored: false`).
    func keep(_ turn: ResponsesTurn, route: RouteConfig, endpoint: EndpointConfig, native: Bool, body: [UInt8]?,
              writer: ClientWriter) {
        guard turn.stores else { return }
        let id: String
        let state: ResponsesState
        if native {
            guard let found = body.flatMap(Self.responseID(in:)) ?? turn.outcome.responseID else { return }
            id = found
            state = .pin(owner: turn.owner, route: route.name, endpoint: endpoint.name)
        } else {
            guard let response = turn.outcome.response, let assistant = turn.outcome.assistant else { return }
            id = turn.context.id
            state = .kept(owner: turn.owner, route: route.name, endpoint: endpoint.name, history: turn.previous?.messages,
                          input: turn.sentInput ?? Array("[]".utf8), assistant: assistant,
                          inputItems: ResponsesSurface.inputItems(fromResponses: turn.context.requestBody),
                          response: response)
        }
        let encoded = state.encoded
        let limits = context.config.responses
        guard encoded.count <= limits.maxBytes else {
            writer.call.responseHeaders.append(("X-Sluice-Response-Stored", "false"))
            context.logger.notice("response not kept: larger than responses.max_bytes",
                                  metadata: ["route": "\(route.name)", "bytes": "\(encoded.count)"])
            return
        }
        do {
            _ = try redis.checked(["SET", context.redisKeys.response(id), String(decoding: encoded, as: UTF8.self),
                                   "PX", String(Int(limits.storeTTL.wholeMilliseconds))], idempotent: true)
        } catch {
            writer.call.responseHeaders.append(("X-Sluice-Response-Stored", "false"))
            context.logger.warning("response not kept: Redis", metadata: ["error": "\(error)"])
        }
    }

    /// The `id` of a Response object.
    static func responseID(in body: [UInt8]) -> String? {
        guard let members = try? JSONScanner.topLevelMembers(of: body),
              let id = members.first(where: { $0.key == "id" && $0.kind == .string }) else { return nil }
        return JSONScanner.decodeString(at: id.range, in: body)
    }

    /// `GET|DELETE /v1/responses/{id}`, `POST /v1/responses/{id}/cancel` and
    /// `GET /v1/responses/{id}/input_items`: from the kept conversation, or relayed to the
    /// endpoint that holds the response. Another caller's response does not exist.
    func serveResponseResource(method: String, path: String, query: String, caller: Caller,
                               writer: ClientWriter) throws(GatewayError) {
        let parts = path.dropFirst("/v1/responses/".count).split(separator: "/", omittingEmptySubsequences: false)
        guard let first = parts.first, !first.isEmpty, parts.count <= 2,
              first.utf8.allSatisfy({ $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || (48...57).contains($0)
                  || (65...90).contains($0) || (97...122).contains($0) }) else {
            throw GatewayError(.notFound, "Unknown API path '\(GatewayError.quote(path))'.")
        }
        let id = String(first)
        let action = parts.count == 2 ? String(parts[1]) : ""
        switch (action, method) {
        case ("", "GET"), ("", "DELETE"), ("input_items", "GET"), ("cancel", "POST"): break
        case ("", _), ("input_items", _), ("cancel", _):
            throw GatewayError(.methodNotAllowed, "\(method) is not allowed on \(GatewayError.quote(path)).")
        default:
            throw GatewayError(.notFound, "Unknown API path '\(GatewayError.quote(path))'.")
        }
        let owner = ResponsesTurn.owner(of: caller)
        guard let state = try ResponsesTurn.load(id, owner: owner, redis: redis, keys: context.redisKeys),
              caller.policy.allows(route: state.route) else {
            throw GatewayError(.routeNotFound, "Response with id '\(id)' not found.")
        }
        writer.call.route = state.route
        guard state.pinned else {
            switch (action, method) {
            case ("", "GET"):
                return writer.send(status: 200, contentType: "application/json", body: state.response)
            case ("", "DELETE"):
                _ = try? redis.checked(["DEL", context.redisKeys.response(id)])
                return writer.send(status: 200, contentType: "application/json", body: ResponsesSurface.deleted(id))
            case ("input_items", _):
                return writer.send(status: 200, contentType: "application/json", body: ResponsesSurface.itemList(state.inputItems))
            default:
                throw GatewayError.invalidRequest("Only responses created with background=true can be cancelled.")
            }
        }
        // The provider holds it: ask the endpoint that produced it.
        guard let route = context.config.routes[state.route],
              let endpoint = route.endpoints.first(where: { $0.name == state.endpoint }),
              let provider = context.config.providers[endpoint.provider] else {
            throw GatewayError(.upstreamUnavailable, "The endpoint that holds the response '\(id)' is no longer configured.")
        }
        writer.call.endpoint = endpoint
        let dialect: OpenAIDialect = provider.kind == .azureOpenAI ? .azure : .openai
        var suffix = "/" + id + (action.isEmpty ? "" : "/" + action)
        if !query.isEmpty { suffix += "?" + query }
        let upstream = UpstreamRequest(method: UpstreamRequest.Method(rawValue: method) ?? .get,
                                       url: ResponsesPassthrough.url(dialect: dialect, provider: provider, suffix: suffix),
                                       headers: ResponsesPassthrough.headers(provider: provider, endpoint: endpoint),
                                       body: method == "POST" ? Array("{}".utf8) : [],
                                       limits: Self.limits(endpoint: endpoint, route: route, config: context.config))
        let relay = UpstreamRelay(writer: writer, context: context, clock: clock, wantsStream: false,
                                  translator: OpenAIStreamTranslator(),
                                  extraHeaders: [("X-Sluice-Route", route.name), ("X-Sluice-Endpoint", endpoint.name)])
        switch http.perform(upstream, handler: relay) {
        case .completed(let status) where (200..<300).contains(status):
            if method == "DELETE" { _ = try? redis.checked(["DEL", context.redisKeys.response(id)]) }
            writer.send(status: status, contentType: relay.contentType, body: relay.body,
                        extraHeaders: [("X-Sluice-Route", route.name), ("X-Sluice-Endpoint", endpoint.name)])
        case .completed(let status):
            throw OpenAITranslator().clientError(status: status, headers: relay.headers, body: relay.body, provider: provider)
        case .failed:
            throw GatewayError(.upstreamUnavailable, "The endpoint '\(endpoint.name)' that holds the response could not be reached.")
        }
    }
}
