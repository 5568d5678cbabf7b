import Foundation
import Synchronization

/// Decides the reply to each request: routing, the API key, faults, and the generators.
/// It does no I/O; ``MockConnection`` sends what it returns. Bedrock Runtime paths
/// (`/model/{modelId}/…`) go to ``MockBedrock``.
///
/// Each wire format has its own front, which checks that API's credentials and headers
/// and renders its errors: OpenAI here, Anthropic, Azure OpenAI and Databricks in
/// `MockRouter+Anthropic.swift`, `MockRouter+Azure.swift`, `MockRouter+Databricks.swift`,
/// and OpenAI's Responses API (for OpenAI and Azure) in `MockRouter+Responses.swift`
/// (see ``MockRoute``). Every reply carries `x-request-id: req_mock_<serial>`.
///
/// Control endpoints, which never need the API key and are not counted in the stats:
/// - `GET /_mock/stats`: the counters of ``MockStats``;
/// - `POST /_mock/reset`: zeroes them, clears the runtime faults, the prompt cache
///   (``MockPromptCache``) and the stored responses (``MockResponseStore``), `{"reset": true}`;
/// - `POST /_mock/faults` with `{"model": "gpt-x", "fault": "status=500"}`: installs a
///   fault for that model, `""` clears it, `{"ok": true}` (see ``MockRuntimeFaults``).
final class MockRouter: Sendable {
    /// The ids `GET /v1/models` lists.
    static let models = ["mock-model", "mock-chat", "mock-embedding"]

    let stats = MockStats()
    let runtimeFaults = MockRuntimeFaults()
    /// Shared by every connection and wire format.
    let promptCache = MockPromptCache()
    /// The Responses API's stored responses.
    let responseStore = MockResponseStore()
    let options: MockProviderOptions
    private let serial = Atomic<Int>(0)
    private let bedrock: MockBedrock

    init(options: MockProviderOptions) {
        self.options = options
        self.bedrock = MockBedrock(options: options, runtimeFaults: runtimeFaults, promptCache: promptCache)
    }

    /// The reply to `request`. OpenAI and Anthropic paths work with or without the `/v1` prefix.
    func reply(to request: HTTPRequest) -> MockReply {
        if request.path.hasPrefix("/_mock/") {
            return control(request)
        }
        if let bedrockRoute = MockBedrockRoute(path: request.path) {
            stats.record(request, route: .bedrock(modelID: bedrockRoute.modelID))
            return bedrock.reply(to: request, route: bedrockRoute, serial: serial.wrappingAdd(1, ordering: .relaxed).newValue)
        }
        let route = MockRoute(method: request.method, path: request.path)
        stats.record(request, route: route)
        let serial = serial.wrappingAdd(1, ordering: .relaxed).newValue
        var reply = switch route {
        case .openAI(let operation): openAIReply(to: request, operation: operation, serial: serial)
        case .anthropic(let countTokens, let valid):
            anthropicReply(to: request, countTokens: countTokens, valid: valid, serial: serial)
        case .azure(let deployment, let operation):
            azureReply(to: request, deployment: deployment, operation: operation, serial: serial)
        case .databricks(let endpoint, let valid):
            databricksReply(to: request, endpoint: endpoint, valid: valid, serial: serial)
        case .responses(let responsesRoute):
            responsesReply(to: request, route: responsesRoute, serial: serial)
        case .bedrock:
            MockReply.error(MockAPIError.invalidURL(method: request.method, path: request.path))
        }
        reply.headers.append(("x-request-id", Self.requestID(serial)))
        return reply
    }

    /// The id of request number `serial`, as `x-request-id` (and Anthropic's `request-id`).
    static func requestID(_ serial: Int) -> String { "req_mock_\(serial)" }

    /// The faults for a model as the client named it: the runtime fault installed for it,
    /// else its `@` suffix and the `x-mock-*` headers. Also returns the name without suffix.
    func faults(for model: String, request: HTTPRequest) throws(MockAPIError) -> (name: String, faults: MockFaults) {
        let (name, suffix) = MockFaults.split(model: model)
        if let installed = runtimeFaults.faults(for: model) {
            return (name, installed)
        }
        return (name, try MockFaults.parse(suffix: suffix, request: request))
    }

    /// Runs an OpenAI-shaped generator for `operation` (not `.models`).
    /// `caching` turns on OpenAI's automatic prompt caching for chat (see ``MockChat``).
    static func generate(_ operation: MockOperation, body: [String: Any], call: MockCall,
                         caching: MockChat.Caching? = nil) throws(MockAPIError) -> MockReply.Body {
        switch operation {
        case .chat: try MockChat.reply(to: body, call: call, caching: caching)
        case .completions: try MockCompletions.reply(to: body, call: call)
        case .embeddings: try MockEmbeddings.reply(to: body, call: call)
        case .models: .json(MockJSON.encode(modelList()))
        }
    }

    private func openAIReply(to request: HTTPRequest, operation: MockOperation?, serial: Int) -> MockReply {
        var faults = MockFaults()
        var reply: MockReply
        do throws(MockAPIError) {
            guard let operation else { throw .invalidURL(method: request.method, path: request.path) }
            if let key = options.apiKey, request.header("authorization") != "Bearer \(key)" {
                throw .invalidAPIKey
            }
            if operation == .models {
                faults = try MockFaults.parse(suffix: nil, request: request)
                if let error = faults.injectedError { throw error }
                reply = .ok(Self.modelList())
            } else {
                reply = try openAIAnswer(operation, request: request, serial: serial, faults: &faults)
            }
        } catch {
            reply = .error(error)
        }
        reply.apply(faults, defaultDelay: options.defaultDelay)
        return reply
    }

    private func openAIAnswer(_ operation: MockOperation, request: HTTPRequest, serial: Int,
                              faults: inout MockFaults) throws(MockAPIError) -> MockReply {
        let body = try MockJSON.object(from: request.body)
        guard let rawModel = body["model"], !(rawModel is NSNull) else {
            throw .invalidRequest("you must provide a model parameter", param: "model",
                                  code: "missing_required_parameter")
        }
        guard let model = rawModel as? String else { throw .invalidType("model", expected: "a string") }
        let name: String
        (name, faults) = try self.faults(for: model, request: request)
        if let error = faults.injectedError { throw error }
        if let over = faults.tokensOverWindow(bodyBytes: request.body.count) {
            throw MockAPIError(status: 400, type: "invalid_request_error", code: "context_length_exceeded", param: "messages",
                               message: "This model's maximum context length is \(over.window) tokens. However, your messages "
                                   + "resulted in \(over.tokens) tokens. Please reduce the length of the messages.")
        }
        let call = MockCall(serial: serial, created: Int(Date().timeIntervalSince1970), model: name, faults: faults)
        let caching = MockChat.Caching(cache: promptCache, bodyBytes: request.body.count)
        return MockReply(status: 200, body: try Self.generate(operation, body: body, call: call, caching: caching))
    }

    /// `GET /_mock/stats`, `POST /_mock/reset` and `POST /_mock/faults`.
    private func control(_ request: HTTPRequest) -> MockReply {
        switch (request.method, request.path) {
        case ("GET", "/_mock/stats"):
            return .ok(stats.snapshot().merging(bedrock.authLog.snapshot()) { current, _ in current })
        case ("POST", "/_mock/reset"):
            stats.reset()
            runtimeFaults.reset()
            promptCache.reset()
            responseStore.reset()
            bedrock.authLog.reset()
            return .ok(["reset": true])
        case ("POST", "/_mock/faults"):
            do throws(MockAPIError) {
                try runtimeFaults.configure(from: request.body)
                return .ok(["ok": true])
            } catch {
                return .error(error)
            }
        default:
            return .error(.invalidURL(method: request.method, path: request.path))
        }
    }

    private static func modelList() -> [String: Any] {
        ["object": "list",
         "data": Self.models.map { ["id": $0, "object": "model", "created": 1_700_000_000, "owned_by": "sluice-mock"] }]
    }
}
