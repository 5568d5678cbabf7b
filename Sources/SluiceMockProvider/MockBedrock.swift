import Foundation

/// Amazon Bedrock Runtime's wire format on the mock (botocore `bedrock-runtime` 2023-09-30,
/// rest-json): `POST /model/{modelId}/converse`, `/converse-stream`, `/invoke` and
/// `/count-tokens` (``MockBedrockCountTokens``).
///
/// Each request is authenticated first (``MockBedrockAuth``), then gets its faults: the
/// runtime fault installed for its model id, else the model id's `@` suffix and the
/// `x-mock-*` headers (``MockFaults``, with the Bedrock keys of ``MockBedrockFaults``). A
/// `status`, `quota` or `exception` fault answers with that Bedrock error; otherwise
/// ``MockBedrockConverse``, ``MockBedrockConverseStream``, ``MockBedrockEmbeddings`` or
/// ``MockBedrockCountTokens`` answer. Converse prompts go through the router's shared
/// ``MockPromptCache`` (namespace `bedrock` and the model id). Every answer has an `x-amzn-RequestId`; errors are ``MockBedrockError``s.
final class MockBedrock: Sendable {
    /// How requests authenticated, for `GET /_mock/stats`.
    let authLog = MockBedrockAuthLog()
    private let options: MockProviderOptions
    private let runtimeFaults: MockRuntimeFaults
    private let promptCache: MockPromptCache

    init(options: MockProviderOptions, runtimeFaults: MockRuntimeFaults, promptCache: MockPromptCache) {
        self.options = options
        self.runtimeFaults = runtimeFaults
        self.promptCache = promptCache
    }

    /// The reply to a request whose target is `route`, with its timing faults applied.
    func reply(to request: HTTPRequest, route: MockBedrockRoute, serial: Int) -> MockReply {
        var faults = MockFaults()
        var reply: MockReply
        do throws(MockBedrockError) {
            let now = Int(Date().timeIntervalSince1970)
            let (outcome, refusal) = MockBedrockAuth.check(request, options: options.bedrock, apiKey: options.apiKey, now: now)
            authLog.record(outcome, checked: options.bedrock.verifiesSignatures || options.apiKey != nil)
            if let refusal { throw refusal }
            guard request.method == "POST", let operation = route.operation else {
                throw .unknownOperation(method: request.method, path: request.path)
            }
            faults = try self.faults(for: route.modelID, request: request)
            if let error = MockBedrockError.injected(faults) { throw error }
            let call = MockCall(serial: serial, created: now, model: MockFaults.split(model: route.modelID).name, faults: faults)
            let delay = faults.delay ?? options.defaultDelay ?? .zero
            reply = try generate(operation, request: request, call: call, latencyMs: Int(delay / .milliseconds(1)))
        } catch {
            reply = error.reply
        }
        reply.apply(faults, defaultDelay: options.defaultDelay)
        reply.headers.append(("x-amzn-RequestId", Self.requestID(serial)))
        return reply
    }

    private func faults(for modelID: String, request: HTTPRequest) throws(MockBedrockError) -> MockFaults {
        if let installed = runtimeFaults.faults(for: modelID) { return installed }
        do throws(MockAPIError) {
            return try MockFaults.parse(suffix: MockFaults.split(model: modelID).faults, request: request)
        } catch {
            throw .validation(error.message)
        }
    }

    private func generate(_ operation: MockBedrockRoute.Operation, request: HTTPRequest, call: MockCall,
                          latencyMs: Int) throws(MockBedrockError) -> MockReply {
        let body: [String: Any]
        do throws(MockAPIError) {
            body = try MockJSON.object(from: request.body)
        } catch {
            throw operation == .invoke ? .malformedInput("#: expected type: JSONObject")
                : .validation("Malformed request body: expected a JSON object.")
        }
        switch operation {
        case .converse, .converseStream:
            let request = try MockBedrockConverseRequest(body: body)
            let cache = promptCache.account(request.cacheUnits, namespace: "bedrock\u{1f}" + call.model)
            let answer = MockBedrockConverse(request: request, call: call, latencyMs: latencyMs, cache: cache)
            if operation == .converse { return .ok(answer.response) }
            return MockReply(status: 200, body: .eventStream(MockBedrockConverseStream.events(answer, call: call)))
        case .countTokens:
            return .ok(try MockBedrockCountTokens.reply(to: body, modelID: call.model))
        case .invoke:
            guard let family = MockBedrockEmbeddings.family(of: call.model) else {
                throw .validation("The provided model identifier is invalid. (The mock's InvokeModel serves "
                                  + "amazon.titan-embed-text-v1, amazon.titan-embed-text-v2:0 and cohere.embed-*-v3.)")
            }
            let (object, tokens) = try MockBedrockEmbeddings.reply(to: body, family: family, call: call)
            var reply = MockReply.ok(object)
            reply.headers = [("X-Amzn-Bedrock-Input-Token-Count", "\(tokens)"),
                             ("X-Amzn-Bedrock-Invocation-Latency", "\(latencyMs)")]
            return reply
        }
    }

    /// A request id shaped like AWS's (a UUID), unique per request.
    static func requestID(_ serial: Int) -> String {
        let digits = String(serial)
        return "00000000-0000-4000-8000-" + String(repeating: "0", count: max(0, 12 - digits.count)) + digits
    }
}
