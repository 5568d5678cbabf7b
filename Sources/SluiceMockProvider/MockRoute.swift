import Foundation

/// Which provider's wire format a request speaks, decided by its path alone.
enum MockAPI: String, Sendable, CaseIterable {
    case openai, anthropic, azure, databricks, bedrock
}

/// An OpenAI-shaped operation, as OpenAI, Azure OpenAI and Databricks serve it.
enum MockOperation: Sendable, Equatable {
    case chat, completions, embeddings, models
}

/// Where a request goes, parsed from its method and path (query excluded):
///
/// - `/v1/messages`, `/v1/messages/count_tokens` (also without `/v1`): Anthropic;
/// - `/v1/responses…`, `/openai/v1/responses…`, `/openai/deployments/{deployment}/responses`:
///   OpenAI's Responses API, for OpenAI or Azure OpenAI (see ``MockResponsesRoute``);
/// - `/openai/deployments/{deployment}/chat/completions` (or `/completions`,
///   `/embeddings`): Azure OpenAI, the deployment percent-decoded;
/// - `/serving-endpoints/{name}/invocations`: Databricks Model Serving;
/// - anything else: OpenAI, `operation` `nil` when the path is unknown.
enum MockRoute: Sendable, Equatable {
    case openAI(MockOperation?)
    /// `countTokens` is `/v1/messages/count_tokens`; `valid` is false for a method
    /// other than `POST`.
    case anthropic(countTokens: Bool, valid: Bool)
    /// `operation` is `nil` for an unknown path or a method other than `POST`.
    case azure(deployment: String, operation: MockOperation?)
    /// `valid` is false for an unknown path under the endpoint or a method other than `POST`.
    case databricks(endpoint: String, valid: Bool)
    /// Bedrock Runtime (`/model/{modelId}/…`), served by ``MockBedrock``.
    case bedrock(modelID: String)
    /// The Responses API, served by `MockRouter+Responses.swift`.
    case responses(MockResponsesRoute)

    init(method: String, path: String) {
        let post = method == "POST"
        let apiPath = path.hasPrefix("/v1/") ? String(path.dropFirst(3)) : path
        if apiPath == "/messages" || apiPath == "/messages/count_tokens" {
            self = .anthropic(countTokens: apiPath.hasSuffix("/count_tokens"), valid: post)
            return
        }
        if let responses = MockResponsesRoute(method: method, path: path) {
            self = .responses(responses)
            return
        }

        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        if segments.count >= 3, segments[0] == "openai", segments[1] == "deployments" {
            let deployment = segments[2].removingPercentEncoding ?? segments[2]
            let operation: MockOperation? = switch segments.dropFirst(3).joined(separator: "/") {
            case "chat/completions": .chat
            case "completions": .completions
            case "embeddings": .embeddings
            default: nil
            }
            self = .azure(deployment: deployment, operation: post ? operation : nil)
            return
        }
        if segments.count >= 2, segments[0] == "serving-endpoints", !segments[1].isEmpty {
            let endpoint = segments[1].removingPercentEncoding ?? segments[1]
            self = .databricks(endpoint: endpoint, valid: post && segments.count == 3 && segments[2] == "invocations")
            return
        }
        self = switch (method, apiPath) {
        case ("POST", "/chat/completions"): .openAI(.chat)
        case ("POST", "/completions"): .openAI(.completions)
        case ("POST", "/embeddings"): .openAI(.embeddings)
        case ("GET", "/models"): .openAI(.models)
        default: .openAI(nil)
        }
    }

    var api: MockAPI {
        switch self {
        case .openAI: .openai
        case .anthropic: .anthropic
        case .azure: .azure
        case .databricks: .databricks
        case .bedrock: .bedrock
        case .responses(let route): route.api
        }
    }

    /// The name `by_model` counts the request under: the Azure deployment or the
    /// Databricks endpoint as sent (fault suffix included), else the body's string
    /// `model`, if any (a Responses API request in Azure's deployment form counts under
    /// its deployment).
    func statsModel(body: Data) -> String? {
        switch self {
        case .azure(let deployment, _): return deployment
        case .databricks(let endpoint, _): return endpoint
        case .bedrock(let modelID): return modelID
        case .responses(let route) where route.deployment != nil: return route.deployment
        case .openAI, .anthropic, .responses:
            guard !body.isEmpty,
                  let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else { return nil }
            return object["model"] as? String
        }
    }
}
