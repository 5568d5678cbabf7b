import Foundation

/// The Anthropic front: `POST /v1/messages` and `POST /v1/messages/count_tokens`
/// (also without `/v1`), checked in Anthropic's order:
/// 1. with ``MockProviderOptions/apiKey`` set, `x-api-key` must carry it: 401
///    `authentication_error` `x-api-key header is required` or `invalid x-api-key`;
/// 2. an `anthropic-version` header is required (any value): 400
///    `anthropic-version: header is required`;
/// 3. the body must be a JSON object with a `model`, whose faults then apply (the
///    `status` and `quota` faults as Anthropic words them, see
///    ``MockAPIError/anthropicInjected(_:)``);
/// 4. the rest of the body (``MockMessagesRequest``), then the answer (``MockMessages``),
///    whose input tokens the shared ``MockPromptCache`` splits (namespace: `anthropic`
///    and the model name). count_tokens answers `{"input_tokens": N}` with the whole
///    prompt (tools, system and messages; no `max_tokens` needed) and touches no cache.
///
/// Every reply carries `request-id: req_mock_<serial>`; errors have Anthropic's shape,
/// `request_id` included. Another method on these paths gets a 404 `not_found_error`.
extension MockRouter {
    func anthropicReply(to request: HTTPRequest, countTokens: Bool, valid: Bool, serial: Int) -> MockReply {
        let requestID = Self.requestID(serial)
        var faults = MockFaults()
        var reply: MockReply
        do throws(MockAPIError) {
            guard valid else { throw .anthropic(404, "Not Found") }
            try checkAnthropicHeaders(request)
            guard let body = (try? JSONSerialization.jsonObject(with: request.body)) as? [String: Any] else {
                throw .anthropicInvalid("There was an error parsing the body of your request: expected a JSON object.")
            }
            let name: String
            (name, faults) = try self.faults(for: MockMessagesRequest.model(of: body), request: request)
            if let error = MockAPIError.anthropicInjected(faults) { throw error }
            if let over = faults.tokensOverWindow(bodyBytes: request.body.count) {
                throw .anthropicInvalid("prompt is too long: \(over.tokens) tokens > \(over.window) maximum")
            }
            let parsed = try MockMessagesRequest(body: body, countTokens: countTokens)
            let call = MockCall(serial: serial, created: Int(Date().timeIntervalSince1970), model: name, faults: faults)
            let answer: MockReply.Body
            if countTokens {
                answer = MockMessages.countTokens(parsed)
            } else {
                let cache = promptCache.account(parsed.cacheUnits, namespace: "anthropic\u{1f}" + name)
                answer = MockMessages.reply(to: parsed, call: call, cache: cache)
            }
            reply = MockReply(status: 200, headers: [("request-id", requestID)], body: answer)
        } catch {
            reply = .anthropicError(error, requestID: requestID)
        }
        reply.apply(faults, defaultDelay: options.defaultDelay)
        return reply
    }

    private func checkAnthropicHeaders(_ request: HTTPRequest) throws(MockAPIError) {
        if let key = options.apiKey {
            guard let sent = request.header("x-api-key") else {
                throw .anthropic(401, "x-api-key header is required")
            }
            guard sent == key else { throw .anthropic(401, "invalid x-api-key") }
        }
        guard let version = request.header("anthropic-version"), !version.isEmpty else {
            throw .anthropicInvalid("anthropic-version: header is required")
        }
    }
}
