import Foundation

/// The Azure OpenAI front: `POST /openai/deployments/{deployment}/chat/completions`,
/// `/completions` and `/embeddings`, each with `?api-version=…`. In order:
/// 1. with ``MockProviderOptions/apiKey`` set, the `api-key` header (or, as for Entra ID
///    tokens, `Authorization: Bearer`) must carry it: else Azure's 401;
/// 2. an unknown path, another method, or no `api-version`: Azure's 404 `Resource not found`;
/// 3. the deployment's faults (its `@` suffix, `x-mock-*` headers or a runtime fault
///    installed for it): `content_filter=1` gives Azure's 400 `content_filter`,
///    `status=401`/`404`/`429` Azure's own bodies (429 with `retry-after` and
///    `retry-after-ms`), other statuses and `quota` OpenAI's;
/// 4. the body and the answer are OpenAI's (the body's `model` is ignored; the answer's
///    `model` is the deployment without its suffix), with Azure's content filter
///    annotations (see ``MockAzure``). Streams honour `stream_options.include_usage`.
extension MockRouter {
    func azureReply(to request: HTTPRequest, deployment: String, operation: MockOperation?, serial: Int) -> MockReply {
        var faults = MockFaults()
        var reply = azureAnswer(to: request, deployment: deployment, operation: operation, serial: serial,
                                faults: &faults)
        reply.apply(faults, defaultDelay: options.defaultDelay)
        return reply
    }

    private func azureAnswer(to request: HTTPRequest, deployment: String, operation: MockOperation?, serial: Int,
                             faults: inout MockFaults) -> MockReply {
        if let key = options.apiKey, request.header("api-key") != key,
           request.header("authorization") != "Bearer \(key)" {
            return MockAzure.accessDenied
        }
        guard let operation, let apiVersion = Self.queryValue("api-version", in: request.target),
              !apiVersion.isEmpty else {
            return MockAzure.resourceNotFound
        }
        do throws(MockAPIError) {
            let name: String
            (name, faults) = try self.faults(for: deployment, request: request)
            if faults.contentFilter { return MockAzure.contentFilterError }
            if !faults.quota {
                switch faults.status {
                case 401: return MockAzure.accessDenied
                case 404: return MockAzure.deploymentNotFound
                case 429:
                    return MockAzure.rateLimited(operation: operation, apiVersion: apiVersion,
                                                 retryAfter: faults.retryAfter)
                default: break
                }
            }
            if let error = faults.injectedError { throw error }
            let body = try MockJSON.object(from: request.body)
            let call = MockCall(serial: serial, created: Int(Date().timeIntervalSince1970), model: name, faults: faults)
            let answer = try Self.generate(operation, body: body, call: call)
            return MockReply(status: 200, body: MockAzure.annotate(answer, operation: operation))
        } catch {
            return .error(error)
        }
    }

    /// The percent-decoded value of `name` in the query of `target`, if present.
    static func queryValue(_ name: String, in target: String) -> String? {
        guard let query = target.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            guard key == name else { continue }
            let value = parts.count > 1 ? String(parts[1]).replacingOccurrences(of: "+", with: " ") : ""
            return value.removingPercentEncoding ?? value
        }
        return nil
    }
}
