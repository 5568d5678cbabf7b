import Foundation

/// The Responses API front, for OpenAI (`/v1/responses…`) and Azure OpenAI
/// (`/openai/v1/responses…`, `/openai/deployments/{deployment}/responses`); see
/// ``MockResponsesRoute``. In order:
/// 1. the API key: with ``MockProviderOptions/apiKey`` set, OpenAI paths need
///    `Authorization: Bearer <key>` (else OpenAI's 401), Azure paths `api-key: <key>` or
///    the bearer (else Azure's 401). The key sent (with the `OpenAI-Project` and
///    `OpenAI-Organization` headers on OpenAI paths, as OpenAI scopes by project) owns the
///    responses it creates (``MockResponseStore``): another account gets 404 for them.
/// 2. the path: unknown sub-path or method: OpenAI's 404 `Invalid URL`, or Azure's
///    `Resource not found` (also for the deployment form without `api-version`);
/// 3. `POST …/responses`: the body (``MockResponsesRequest``), then the faults of the
///    model (or the deployment in the path) as for chat, Azure's `content_filter` and
///    401/404/429 bodies on Azure paths; `previous_response_id` must name a stored
///    response of this key (else 400 `previous_response_not_found`); then
///    ``MockResponses`` answers. The response is stored unless `store` is false or a
///    `stream_error` fault breaks its stream.
/// 4. `GET …/responses/{id}`: the stored Response object;
///    `DELETE …/responses/{id}`: `{"id", "object": "response.deleted", "deleted": true}`;
///    `POST …/responses/{id}/cancel`: the response unchanged when it was created with
///    `background: true` (the mock finishes every response at once), else 400 "Cannot
///    cancel a synchronous response.";
///    `GET …/responses/{id}/input_items`: `{"object": "list", "data", "first_id",
///    "last_id", "has_more"}` over the request's own input items, newest first unless
///    `order=asc`, at most `limit` (default 20), after the item `after`.
///    An unknown id: 404 "Response with id '…' not found.". The `x-mock-*` headers'
///    faults apply to these too.
extension MockRouter {
    func responsesReply(to request: HTTPRequest, route: MockResponsesRoute, serial: Int) -> MockReply {
        var faults = MockFaults()
        var reply = responsesAnswer(to: request, route: route, serial: serial, faults: &faults)
        reply.apply(faults, defaultDelay: options.defaultDelay)
        return reply
    }

    private func responsesAnswer(to request: HTTPRequest, route: MockResponsesRoute, serial: Int,
                                 faults: inout MockFaults) -> MockReply {
        let bearer = request.header("authorization").flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        let owner: String
        if route.api == .azure {
            if let key = options.apiKey, request.header("api-key") != key, bearer != key { return MockAzure.accessDenied }
            let version = Self.queryValue("api-version", in: request.target)
            guard route.action != nil, route.deployment == nil || !(version ?? "").isEmpty else {
                return MockAzure.resourceNotFound
            }
            owner = request.header("api-key") ?? bearer ?? ""
        } else {
            guard route.action != nil else { return .error(.invalidURL(method: request.method, path: request.path)) }
            if let key = options.apiKey, bearer != key { return .error(.invalidAPIKey) }
            // OpenAI scopes responses by project: a key used for two projects is two accounts.
            owner = (bearer ?? "") + "|" + (request.header("openai-project") ?? "") + "|"
                + (request.header("openai-organization") ?? "")
        }
        do throws(MockAPIError) {
            switch route.action {
            case .create, nil:
                return try createResponse(request, route: route, owner: owner, serial: serial, faults: &faults)
            case .retrieve(let id):
                return MockReply(status: 200, body: .json(try stored(id, owner: owner, request, &faults).response))
            case .delete(let id):
                _ = try stored(id, owner: owner, request, &faults)
                _ = responseStore.delete(id: id, owner: owner)
                return .ok(["id": id, "object": "response.deleted", "deleted": true])
            case .cancel(let id):
                let entry = try stored(id, owner: owner, request, &faults)
                guard entry.background else { throw .cannotCancelSynchronous }
                return MockReply(status: 200, body: .json(entry.response))
            case .inputItems(let id):
                let items = try stored(id, owner: owner, request, &faults).inputItemList
                return .ok(try Self.itemList(items, target: request.target))
            }
        } catch {
            return .error(error)
        }
    }

    /// The stored response `id` of `owner`, after the header faults.
    private func stored(_ id: String, owner: String, _ request: HTTPRequest,
                        _ faults: inout MockFaults) throws(MockAPIError) -> MockResponseStore.Entry {
        faults = try MockFaults.parse(suffix: nil, request: request)
        if let error = faults.injectedError { throw error }
        guard let entry = responseStore.entry(id: id, owner: owner) else { throw .responseNotFound(id) }
        return entry
    }

    private func createResponse(_ request: HTTPRequest, route: MockResponsesRoute, owner: String, serial: Int,
                                faults: inout MockFaults) throws(MockAPIError) -> MockReply {
        let body = try MockJSON.object(from: request.body)
        let token = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let parsed = try MockResponsesRequest(body, modelRequired: route.deployment == nil, idPrefix: token)
        let name: String
        (name, faults) = try self.faults(for: route.deployment ?? parsed.model ?? "", request: request)
        if route.api == .azure, let azureError = Self.azureFaultReply(faults, request: request) {
            return azureError
        }
        if let error = faults.injectedError { throw error }
        var context: [[String: Any]] = []
        if let previousID = parsed.previousResponseID {
            guard let previous = responseStore.entry(id: previousID, owner: owner) else {
                throw .previousResponseNotFound(previousID)
            }
            context = previous.continuation
        }
        context += parsed.input
        let call = MockCall(serial: serial, created: Int(Date().timeIntervalSince1970), model: name, faults: faults)
        let answer = try MockResponses(request: parsed, call: call, token: token, context: context)
        let response = MockJSON.encode(answer.response)
        if parsed.store, !(parsed.stream && faults.streamError != nil) {
            responseStore.save(.init(owner: owner, response: response, inputItems: MockJSON.encode(parsed.input),
                                     context: MockJSON.encode(context), output: MockJSON.encode(answer.output),
                                     background: parsed.background), id: answer.id)
        }
        return MockReply(status: 200, body: parsed.stream ? .events(answer.events()) : .json(response))
    }

    /// Azure's own bodies for the `content_filter` fault and `status` 401, 404 and 429.
    private static func azureFaultReply(_ faults: MockFaults, request: HTTPRequest) -> MockReply? {
        if faults.contentFilter { return MockAzure.contentFilterError }
        guard !faults.quota else { return nil }
        switch faults.status {
        case 401: return MockAzure.accessDenied
        case 404: return MockAzure.deploymentNotFound
        case 429:
            let version = queryValue("api-version", in: request.target) ?? "v1"
            return MockAzure.rateLimited(operationName: "Responses_Create", apiVersion: version,
                                         retryAfter: faults.retryAfter)
        default: return nil
        }
    }

    /// The `input_items` page: `order` (`desc` by default), `limit` (1–100, default 20), `after`.
    private static func itemList(_ items: [[String: Any]], target: String) throws(MockAPIError) -> [String: Any] {
        let order = queryValue("order", in: target) ?? "desc"
        guard order == "asc" || order == "desc" else {
            throw .invalidValue("order", "Supported values are: 'asc' and 'desc'.")
        }
        let limitText = queryValue("limit", in: target)
        guard let limit = limitText.map({ Int($0) }) ?? 20, (1...100).contains(limit) else {
            throw .invalidValue("limit", "expected an integer between 1 and 100.")
        }
        var ordered = order == "desc" ? Array(items.reversed()) : items
        if let after = queryValue("after", in: target),
           let index = ordered.firstIndex(where: { $0["id"] as? String == after }) {
            ordered = Array(ordered[(index + 1)...])
        }
        let page = Array(ordered.prefix(limit))
        return ["object": "list", "data": page, "has_more": ordered.count > page.count,
                "first_id": page.first?["id"] ?? NSNull(), "last_id": page.last?["id"] ?? NSNull()]
    }
}
