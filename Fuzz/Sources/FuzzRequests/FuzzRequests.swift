import SluiceCore
import SluiceProviders

/// libFuzzer entry point: the input is a client's request body. Every operation whose
/// `APIRequest` accepts it goes to every kind of provider the way `RequestPipeline`
/// sends it: `ProviderRegistry.call` (a Messages client becomes a chat request for
/// non-Anthropic providers), a Responses client through `ResponsesSurface.chatRequest`
/// (or natively to OpenAI-family providers), then the translator's
/// `upstreamRequest(for:endpoint:provider:limits:)`. A `GatewayError` is an answer (a 400
/// to the client); a trap is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for operation in APIOperation.allCases {
        guard var request = try? APIRequest(operation: operation, body: bytes) else { continue }
        if operation.isAnthropic {
            request.clientHeaders = [("anthropic-version", "2023-06-01"), ("anthropic-beta", "fuzz-2025-01-01")]
        }
        for kind in ProviderKind.allCases {
            if operation == .responses {
                responses(request, kind: kind)
            } else {
                var conversions: [MessagesTarget: APIRequest] = [:]
                guard let call = try? ProviderRegistry.call(request, kind: kind, conversions: &conversions) else { continue }
                send(call.0, with: call.1, kind: kind)
            }
        }
    }
    return 0
}

let limits = TransferLimits(connect: .seconds(1), firstByte: .seconds(2), idle: .seconds(3), total: .seconds(4))

/// A stored conversation, as a follow-up (`previous_response_id`) finds it.
let history = Array(#"[{"role":"user","content":"earlier"},{"role":"assistant","content":"reply"}]"#.utf8)

/// A Responses call on a provider of `kind`, as `ResponsesTurn.call(kind:)` makes it.
func responses(_ request: APIRequest, kind: ProviderKind) {
    let context = ResponsesContext(request: request.body, model: request.model, now: 0)
    _ = context.store
    _ = ResponsesSurface.inputItems(fromResponses: request.body)
    switch kind {
    case .openai, .openaiCompatible: return send(request, with: ResponsesPassthrough(dialect: .openai), kind: kind)
    case .azureOpenAI: return send(request, with: ResponsesPassthrough(dialect: .azure), kind: kind)
    case .anthropic, .bedrock, .databricks: break
    }
    for previous in [nil, history] {
        guard let made = try? ResponsesSurface.chatRequest(fromResponses: request.body, history: previous,
                                                           for: AnthropicSurface.target(for: kind)),
              let chat = try? APIRequest(operation: .chatCompletions, body: made.chat) else { continue }
        send(chat, with: ProviderRegistry.translator(for: kind), kind: kind)
    }
}

/// The upstream call for `request`, to an endpoint with and without `params`.
func send(_ request: APIRequest, with translator: ProviderTranslator, kind: ProviderKind) {
    let provider = provider(kind)
    for endpoint in endpoints(kind, request.operation) {
        _ = try? translator.upstreamRequest(for: request, endpoint: endpoint, provider: provider, limits: limits)
    }
    _ = translator.streamTranslator(for: request)
}

/// Endpoints of `kind` for `operation`: a plain one and one whose route sets `params`.
func endpoints(_ kind: ProviderKind, _ operation: APIOperation) -> [EndpointConfig] {
    let model: String
    switch (kind, operation) {
    case (.bedrock, .embeddings): model = "cohere.embed-v4:0"
    case (.bedrock, _): model = "anthropic.claude-sonnet-4-5-v1:0"
    case (.anthropic, _): model = "claude-sonnet-4-5"
    default: model = "gpt-fuzz"
    }
    var titan: [EndpointConfig] = []
    if kind == .bedrock && operation == .embeddings {
        titan = [EndpointConfig(name: "titan", provider: "bedrock", model: "amazon.titan-embed-text-v2:0")]
    }
    let params: [(name: String, json: String)] = [("temperature", "0.2"), ("top_k", "5"),
                                                 ("additionalModelRequestFields", #"{"thinking":{"type":"enabled"}}"#)]
    return titan + [EndpointConfig(name: "plain", provider: kind.rawValue, model: model),
                    EndpointConfig(name: "params", provider: kind.rawValue, model: model, params: params,
                                   headers: [("x-route", Secret("route-header", origin: "fuzz"))])]
}

func provider(_ kind: ProviderKind) -> ProviderConfig {
    let key = Secret("sk-fuzz-0123456789", origin: "fuzz")
    switch kind {
    case .bedrock:
        return ProviderConfig(name: "bedrock", kind: .bedrock, baseURL: "https://bedrock-runtime.us-east-1.amazonaws.com",
                              apiKey: nil, region: "us-east-1",
                              awsCredentials: AWSCredentials(accessKeyID: Secret("AKIAFUZZ", origin: "fuzz"),
                                                             secretAccessKey: key))
    case .anthropic:
        return ProviderConfig(name: "anthropic", kind: .anthropic, baseURL: "https://api.anthropic.com/v1", apiKey: key,
                              authHeader: "x-api-key", authPrefix: "")
    default:
        return ProviderConfig(name: kind.rawValue, kind: kind, baseURL: "https://api.example.com/v1", apiKey: key,
                              apiVersion: "2024-10-21")
    }
}
