extension MockRouter {
    func databricksReply(to request: HTTPRequest, endpoint: String, valid: Bool, serial: Int) -> MockReply {
        .error(.invalidURL(method: request.method, path: request.path))
    }
}
