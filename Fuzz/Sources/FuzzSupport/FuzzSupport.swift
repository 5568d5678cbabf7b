import SluiceCore
import SluiceProviders

// What the provider harnesses share: the client requests and provider configurations
// that every answer is read against.

/// Client requests, one per shape the translators tell apart.
public enum Requests {
    public static func make(_ operation: APIOperation, _ json: String) -> APIRequest {
        do {
            return try APIRequest(operation: operation, body: Array(json.utf8))
        } catch {
            fatalError("harness request does not validate: \(error)")
        }
    }

    public static let chat = make(.chatCompletions, #"""
        {"model":"route","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}
        """#)
    public static let chatNoUsage = make(.chatCompletions, #"""
        {"model":"route","messages":[{"role":"user","content":"hi"}],"stream":true}
        """#)
    /// `response_format`: Anthropic and Bedrock answer through a forced tool.
    public static let chatStructured = make(.chatCompletions, #"""
        {"model":"route","messages":[{"role":"user","content":"hi"}],"stream":true,
         "response_format":{"type":"json_schema","json_schema":{"name":"out","schema":{"type":"object"}}}}
        """#)
    public static let embeddings = make(.embeddings, #"{"model":"route","input":"hello"}"#)
    public static let embeddingsBase64 = make(.embeddings, #"{"model":"route","input":["a","b"],"encoding_format":"base64"}"#)
    public static let messages = make(.messages, #"""
        {"model":"route","max_tokens":16,"messages":[{"role":"user","content":"hi"}],"stream":true}
        """#)
    public static let countTokens = make(.countTokens, #"{"model":"route","messages":[{"role":"user","content":"hi"}]}"#)
    public static let responses = make(.responses, #"""
        {"model":"route","input":"hi","stream":true,"reasoning":{"effort":"low","summary":"auto"},"store":true}
        """#)

    public static let responsesContext = ResponsesContext(request: responses.body, model: "route", now: 0)
}

/// Providers with credentials long enough to be redacted from error messages.
public enum Providers {
    public static let key = Secret("sk-fuzz-0123456789", origin: "fuzz")
    public static let headers = [(name: "x-extra", value: Secret("extra-secret-value", origin: "fuzz"))]

    public static func provider(_ kind: ProviderKind) -> ProviderConfig {
        switch kind {
        case .bedrock:
            return ProviderConfig(name: "bedrock", kind: .bedrock, baseURL: "https://bedrock-runtime.us-east-1.amazonaws.com",
                                  apiKey: nil, headers: headers, region: "us-east-1",
                                  awsCredentials: AWSCredentials(accessKeyID: Secret("AKIAFUZZ", origin: "fuzz"),
                                                                 secretAccessKey: key,
                                                                 sessionToken: Secret("session-token", origin: "fuzz")))
        case .anthropic:
            return ProviderConfig(name: "anthropic", kind: .anthropic, baseURL: "https://api.anthropic.com/v1", apiKey: key,
                                  authHeader: "x-api-key", authPrefix: "", headers: headers)
        default:
            return ProviderConfig(name: kind.rawValue, kind: kind, baseURL: "https://api.example.com/v1", apiKey: key,
                                  headers: headers, apiVersion: "2024-10-21")
        }
    }
}

/// A fresh translator from chat chunks to Responses events.
public func responsesSurface() -> StreamTranslator {
    ResponsesSurface.streamTranslator(context: Requests.responsesContext, outcome: ResponsesStreamOutcome())
}
