/// A path of OpenAI's Responses API, as OpenAI and Azure OpenAI serve it:
///
/// - OpenAI: `POST /v1/responses`, `GET|DELETE /v1/responses/{id}`,
///   `POST /v1/responses/{id}/cancel`, `GET /v1/responses/{id}/input_items`
///   (each also without `/v1`);
/// - Azure OpenAI's v1 API: the same under `/openai/v1/responses` (`api-version` optional);
/// - Azure OpenAI's deployment form: `POST /openai/deployments/{deployment}/responses`
///   (`api-version` required), the deployment percent-decoded.
///
/// `action` is `nil` for an unknown sub-path or a method the path does not serve.
struct MockResponsesRoute: Sendable, Equatable {
    enum Action: Sendable, Equatable {
        case create
        case retrieve(id: String)
        case delete(id: String)
        case cancel(id: String)
        case inputItems(id: String)
    }

    /// `.openai` or `.azure`.
    var api: MockAPI
    /// The Azure deployment named in the path (deployment form only).
    var deployment: String?
    var action: Action?

    init?(method: String, path: String) {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        let rest: ArraySlice<String>
        if segments.count == 4, segments[0] == "openai", segments[1] == "deployments", segments[3] == "responses" {
            api = .azure
            deployment = segments[2].removingPercentEncoding ?? segments[2]
            action = method == "POST" ? .create : nil
            return
        } else if segments.count >= 3, segments[0] == "openai", segments[1] == "v1", segments[2] == "responses" {
            api = .azure
            rest = segments.dropFirst(3)
        } else if segments.count >= 2, segments[0] == "v1", segments[1] == "responses" {
            api = .openai
            rest = segments.dropFirst(2)
        } else if segments.count >= 1, segments[0] == "responses" {
            api = .openai
            rest = segments.dropFirst(1)
        } else {
            return nil
        }
        deployment = nil
        let parts = Array(rest)
        action = switch (method, parts.count) {
        case ("POST", 0): .create
        case ("GET", 1) where !parts[0].isEmpty: .retrieve(id: parts[0])
        case ("DELETE", 1) where !parts[0].isEmpty: .delete(id: parts[0])
        case ("POST", 2) where !parts[0].isEmpty && parts[1] == "cancel": .cancel(id: parts[0])
        case ("GET", 2) where !parts[0].isEmpty && parts[1] == "input_items": .inputItems(id: parts[0])
        default: nil
        }
    }
}
