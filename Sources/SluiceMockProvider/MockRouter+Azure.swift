extension MockRouter {
    func azureReply(to request: HTTPRequest, deployment: String, operation: MockOperation?, serial: Int) -> MockReply {
        .error(.invalidURL(method: request.method, path: request.path))
    }
}
