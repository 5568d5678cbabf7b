import SluiceCore

/// Amazon Bedrock Runtime (https://docs.aws.amazon.com/bedrock/latest/APIReference/):
/// chat through Converse / ConverseStream, embeddings through InvokeModel (Amazon Titan
/// and Cohere Embed bodies). Calls are signed with SigV4 for the service's signing name
/// `bedrock`, or carry a Bedrock API key as `Authorization: Bearer`.
///
/// The endpoint's `model` is the Bedrock model id, inference profile id or ARN; its
/// `params` become top-level fields of the Converse or InvokeModel body
/// (`additionalModelRequestFields`, `guardrailConfig`, `input_type`, …).
public struct BedrockTranslator: ProviderTranslator {
    public init() {}

    /// The signing name of Bedrock Runtime (botocore `bedrock-runtime/2023-09-30`:
    /// `"signingName": "bedrock"`), although its host is `bedrock-runtime.{region}…`.
    public static let signingName = "bedrock"

    public var streamFraming: StreamFraming { .awsEventStream }

    public func upstreamRequest(for request: APIRequest, endpoint: EndpointConfig, provider: ProviderConfig,
                                limits: TransferLimits) throws(GatewayError) -> UpstreamRequest {
        let modelPath = provider.baseURL + "/model/" + URLPath.segment(endpoint.model)
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        let url: String
        let body: [UInt8]
        switch request.operation {
        case .chatCompletions:
            url = modelPath + (request.stream ? "/converse-stream" : "/converse")
            body = try BedrockConverseRequest.body(for: request, params: endpoint.params)
        case .embeddings:
            url = modelPath + "/invoke"
            headers.append(("Accept", "application/json"))
            body = try BedrockEmbeddings.body(for: request, modelID: endpoint.model, params: endpoint.params)
        case .countTokens:
            // CountTokens (botocore `CountTokens`: POST /model/{modelId}/count-tokens) counts
            // the Converse form of the request; it never generates.
            url = modelPath + "/count-tokens"
            body = try BedrockCountTokens.body(forMessages: request)
        case .completions, .messages, .responses:
            throw GatewayError.invalidRequest(
                "Provider '\(provider.name)' (Amazon Bedrock) serves chat and embeddings routes, not \(request.operation.rawValue).")
        }
        var signer: AWSSigV4?
        if let credentials = provider.awsCredentials {
            signer = AWSSigV4(region: provider.region ?? "", service: Self.signingName,
                              accessKeyID: credentials.accessKeyID.exposedValue,
                              secretAccessKey: credentials.secretAccessKey.exposedValue,
                              sessionToken: credentials.sessionToken?.exposedValue)
        } else if let key = provider.apiKey {
            headers.append((provider.authHeader, provider.authPrefix + key.exposedValue))
        }
        for header in provider.headers + endpoint.headers {
            headers.append((header.name, header.value.exposedValue))
        }
        return UpstreamRequest(method: .post, url: url, headers: headers, body: body, limits: limits, awsSigV4: signer)
    }

    public func clientError(status: Int, headers: [(name: String, value: String)], body: [UInt8],
                            provider: ProviderConfig) -> GatewayError {
        BedrockErrorBody.clientError(status: status, headers: headers, body: body, provider: provider)
    }

    public func streamTranslator(for request: APIRequest) -> StreamTranslator {
        BedrockStreamTranslator(model: request.model, clientWantsUsage: request.includeUsage,
                                structured: StructuredOutputTool.isRequested(by: request))
    }

    /// Converse answers become `chat.completion`s, InvokeModel embeddings an OpenAI
    /// embeddings list; both name the route (`request.model`) as the model.
    public func clientBody(for request: APIRequest, status: Int, body: [UInt8]) throws(GatewayError) -> [UInt8]? {
        switch request.operation {
        case .chatCompletions:
            return try BedrockConverseResponse.chatCompletion(from: body, model: request.model,
                                                              structured: StructuredOutputTool.isRequested(by: request))
        case .embeddings: return try BedrockEmbeddings.clientBody(for: request, body: body)
        case .countTokens: return try BedrockCountTokens.clientBody(from: body)
        case .completions, .messages, .responses: return nil
        }
    }
}
