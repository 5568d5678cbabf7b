import Foundation

/// What Azure OpenAI adds to OpenAI's wire format: its own error bodies for the errors
/// its front end answers (`{"error": {"code", "message"}}`), the content filter error,
/// and the content filter annotations on answers.
///
/// Errors that the model service itself raises (a malformed body, a 500) keep OpenAI's
/// shape, as Azure passes them through.
enum MockAzure {
    /// The answer to a path Azure does not serve, or one without `api-version`.
    static let resourceNotFound = reply(404, code: "404", message: "Resource not found")

    /// The answer to a missing or wrong `api-key`.
    static let accessDenied = reply(401, code: "401", message: "Access denied due to invalid subscription key or wrong "
        + "API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API "
        + "endpoint for your resource.")

    /// The answer for a deployment that does not exist (the `status=404` fault).
    static let deploymentNotFound = reply(404, code: "DeploymentNotFound", message: "The API deployment for this "
        + "resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment "
        + "and try again.")

    /// Azure's rate-limit answer (the `status=429` fault), with `retry-after` and `retry-after-ms`.
    static func rateLimited(operation: MockOperation, apiVersion: String, retryAfter: String?) -> MockReply {
        let name = switch operation {
        case .chat: "ChatCompletions_Create"
        case .completions: "Completions_Create"
        case .embeddings, .models: "Embeddings_Create"
        }
        return rateLimited(operationName: name, apiVersion: apiVersion, retryAfter: retryAfter)
    }

    /// Azure's rate-limit answer for the operation Azure names `operationName`
    /// (`Responses_Create` for the Responses API: the mock's name).
    static func rateLimited(operationName name: String, apiVersion: String, retryAfter: String?) -> MockReply {
        let seconds = retryAfter ?? "1"
        var reply = reply(429, code: "429", message: "Requests to the \(name) Operation under Azure OpenAI API "
            + "version \(apiVersion) have exceeded call rate limit of your current OpenAI S0 pricing tier. Please "
            + "retry after \(seconds) seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to "
            + "further increase the default rate limit.")
        reply.headers += [("retry-after", seconds), ("retry-after-ms", "\((Int(seconds) ?? 1) * 1000)")]
        return reply
    }

    /// The 400 Azure answers when the prompt trips its content filter (the
    /// `content_filter=1` fault): OpenAI's error object plus `status` and `innererror`.
    static let contentFilterError: MockReply = {
        var results = outputFilterResults
        results["violence"] = ["filtered": true, "severity": "medium"]
        results["jailbreak"] = ["filtered": false, "detected": false]
        let error: [String: Any] = [
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management "
                + "policy. Please modify your prompt and retry. To learn more about our content filtering policies "
                + "please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
            "type": NSNull(), "param": "prompt", "code": "content_filter", "status": 400,
            "innererror": ["code": "ResponsibleAIPolicyViolation", "content_filter_result": results] as [String: Any],
        ]
        return MockReply(status: 400, body: .json(MockJSON.encode(["error": error])))
    }()

    /// Adds Azure's content filter annotations to a chat or completions answer:
    /// `prompt_filter_results` and each choice's `content_filter_results`; a stream gets
    /// Azure's leading chunk with empty `choices`, empty `id`, `model` and `object`,
    /// `created` 0 and the `prompt_filter_results`. Embeddings are left alone.
    static func annotate(_ body: MockReply.Body, operation: MockOperation) -> MockReply.Body {
        guard operation == .chat || operation == .completions else { return body }
        switch body {
        case .json(let data):
            guard var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return body }
            object["prompt_filter_results"] = promptFilterResults
            object["choices"] = (object["choices"] as? [[String: Any]])?.map { choice in
                choice.merging(["content_filter_results": outputFilterResults]) { $1 }
            }
            return .json(MockJSON.encode(object))
        case .events(let events):
            let leading: [String: Any] = ["choices": [Any](), "created": 0, "id": "", "model": "", "object": "",
                                          "prompt_filter_results": promptFilterResults]
            return .events([.chunk(leading)] + events)
        case .eventStream, .raw:
            return body
        }
    }

    private static var outputFilterResults: [String: Any] {
        [
            "hate": ["filtered": false, "severity": "safe"],
            "self_harm": ["filtered": false, "severity": "safe"],
            "sexual": ["filtered": false, "severity": "safe"],
            "violence": ["filtered": false, "severity": "safe"],
        ]
    }

    private static var promptFilterResults: [[String: Any]] {
        var results = outputFilterResults
        results["jailbreak"] = ["filtered": false, "detected": false]
        return [["prompt_index": 0, "content_filter_results": results]]
    }

    private static func reply(_ status: Int, code: String, message: String) -> MockReply {
        MockReply(status: status, body: .json(MockJSON.encode(["error": ["code": code, "message": message]])))
    }
}
