import Foundation
import Synchronization

/// Decides the reply to each request: routing, the API key, faults, and the generators.
/// It does no I/O; ``MockConnection`` sends what it returns. Bedrock Runtime paths
/// (`/model/{modelId}/…`) go to ``MockBedrock``.
///
/// Control endpoints, which never need the API key and are not counted in the stats:
/// - `GET /_mock/stats`: the counters of ``MockStats``;
/// - `POST /_mock/reset`: zeroes them and clears the runtime faults, `{"reset": true}`;
/// - `POST /_mock/faults` with `{"model": "gpt-x", "fault": "status=500"}`: installs a
///   fault for that model, `""` clears it, `{"ok": true}` (see ``MockRuntimeFaults``).
final class MockRouter: Sendable {
    /// The ids `GET /v1/models` lists.
    static let models = ["mock-model", "mock-chat", "mock-embedding"]

    private enum Route {
        case chat, completions, embeddings, models
    }

    let stats = MockStats()
    let runtimeFaults = MockRuntimeFaults()
    private let options: MockProviderOptions
    private let serial = Atomic<Int>(0)
    private let bedrock: MockBedrock

    init(options: MockProviderOptions) {
        self.options = options
        self.bedrock = MockBedrock(options: options, runtimeFaults: runtimeFaults)
    }

    /// The reply to `request`. Paths work with or without the `/v1` prefix.
    func reply(to request: HTTPRequest) -> MockReply {
        let path = request.path
        if path.hasPrefix("/_mock/") {
            return control(request)
        }
        if let route = MockBedrockRoute(path: path) {
            stats.record(request, model: route.modelID)
            return bedrock.reply(to: request, route: route, serial: serial.wrappingAdd(1, ordering: .relaxed).newValue)
        }
        stats.record(request)
        let apiPath = path.hasPrefix("/v1/") ? String(path.dropFirst(3)) : path
        let route: Route? = switch (request.method, apiPath) {
        case ("POST", "/chat/completions"): .chat
        case ("POST", "/completions"): .completions
        case ("POST", "/embeddings"): .embeddings
        case ("GET", "/models"): .models
        default: nil
        }
        let serial = serial.wrappingAdd(1, ordering: .relaxed).newValue
        var faults = MockFaults()
        var reply: MockReply
        do throws(MockAPIError) {
            guard let route else { throw .invalidURL(method: request.method, path: path) }
            if let key = options.apiKey, request.header("authorization") != "Bearer \(key)" {
                throw .invalidAPIKey
            }
            if route == .models {
                faults = try MockFaults.parse(suffix: nil, request: request)
                if let error = faults.injectedError { throw error }
                reply = .ok(modelList())
            } else {
                reply = try generate(route, request: request, serial: serial, faults: &faults)
            }
        } catch {
            reply = .error(error)
        }
        reply.apply(faults, defaultDelay: options.defaultDelay)
        reply.headers.append(("x-request-id", "req_mock_\(serial)"))
        return reply
    }

    private func generate(_ route: Route, request: HTTPRequest, serial: Int,
                          faults: inout MockFaults) throws(MockAPIError) -> MockReply {
        let body = try MockJSON.object(from: request.body)
        guard let rawModel = body["model"], !(rawModel is NSNull) else {
            throw .invalidRequest("you must provide a model parameter", param: "model",
                                  code: "missing_required_parameter")
        }
        guard let model = rawModel as? String else { throw .invalidType("model", expected: "a string") }
        let (name, suffix) = MockFaults.split(model: model)
        if let installed = runtimeFaults.faults(for: model) {
            faults = installed
        } else {
            faults = try MockFaults.parse(suffix: suffix, request: request)
        }
        if let error = faults.injectedError { throw error }
        let call = MockCall(serial: serial, created: Int(Date().timeIntervalSince1970),
                            model: name, faults: faults)
        let replyBody: MockReply.Body = switch route {
        case .chat: try MockChat.reply(to: body, call: call)
        case .completions: try MockCompletions.reply(to: body, call: call)
        case .embeddings: try MockEmbeddings.reply(to: body, call: call)
        case .models: .json(MockJSON.encode(modelList()))
        }
        return MockReply(status: 200, body: replyBody)
    }

    /// `GET /_mock/stats`, `POST /_mock/reset` and `POST /_mock/faults`.
    private func control(_ request: HTTPRequest) -> MockReply {
        switch (request.method, request.path) {
        case ("GET", "/_mock/stats"):
            return .ok(stats.snapshot().merging(bedrock.authLog.snapshot()) { current, _ in current })
        case ("POST", "/_mock/reset"):
            stats.reset()
            runtimeFaults.reset()
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

    private func modelList() -> [String: Any] {
        ["object": "list",
         "data": Self.models.map { ["id": $0, "object": "model", "created": 1_700_000_000, "owned_by": "sluice-mock"] }]
    }
}
