import SluiceCore

/// OpenAI and every server that speaks its API. Requests pass through with only
/// `model` replaced; answers pass through unchanged.
public struct OpenAITranslator: ProviderTranslator {
    public init() {}

    public func upstreamRequest(for request: APIRequest, endpoint: EndpointConfig, provider: ProviderConfig,
                                limits: TransferLimits) throws(GatewayError) -> UpstreamRequest {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        if let key = provider.apiKey {
            headers.append((provider.authHeader, provider.authPrefix + key.exposedValue))
        }
        if request.stream { headers.append(("Accept", "text/event-stream")) }
        for header in provider.headers + endpoint.headers {
            headers.append((header.name, header.value.exposedValue))
        }
        // Streams always ask for usage, so the gateway knows the true totals; the usage chunk
        // is dropped again for a client that did not ask for it (`OpenAIStreamTranslator`).
        var params = endpoint.params
        if request.stream && !request.includeUsage {
            params.append(("stream_options", #"{"include_usage":true}"#))
        }
        return UpstreamRequest(method: .post, url: provider.baseURL + request.operation.upstreamPath, headers: headers,
                               body: request.upstreamBody(model: endpoint.model, params: params), limits: limits)
    }

    public func clientError(status: Int, headers: [(name: String, value: String)], body: [UInt8],
                            provider: ProviderConfig) -> GatewayError {
        OpenAIErrorBody.clientError(status: status, headers: headers, body: body, provider: provider)
    }

    public func streamTranslator(for request: APIRequest) -> StreamTranslator {
        OpenAIStreamTranslator(clientWantsUsage: request.includeUsage)
    }
}

/// OpenAI streams pass through event by event; the translator watches for the terminal
/// `[DONE]` and for error events, reads the usage chunk, and drops that chunk when the
/// client did not ask for usage (the gateway asked for it on the client's behalf).
public struct OpenAIStreamTranslator: StreamTranslator {
    private let clientWantsUsage: Bool
    public private(set) var usage: TokenUsage?
    public private(set) var generatedBytes = 0

    public init(clientWantsUsage: Bool = true) {
        self.clientWantsUsage = clientWantsUsage
    }

    public mutating func translate(event: ArraySlice<UInt8>) -> TranslatedEvent {
        guard let data = SSEFramer.data(of: event) else { return TranslatedEvent() }
        if data.elementsEqual("[DONE]".utf8) { return TranslatedEvent(isTerminal: true) }
        // An error object inside a stream (OpenAI sends `data: {"error": {...}}`).
        if data.count > 9, data.starts(with: Array("{\"error\"".utf8)) {
            let message = OpenAIErrorBody.message(in: Array(data)) ?? "The provider reported an error mid-stream."
            return TranslatedEvent(error: GatewayError(.upstreamError, message))
        }
        let hasUsage = Self.contains(data, Self.usageKey)
        let hasText = Self.contains(data, Self.contentKey) || Self.contains(data, Self.textKey)
        guard hasUsage || hasText else { return TranslatedEvent() }
        let chunk = Array(data)
        guard let members = try? JSONScanner.topLevelMembers(of: chunk) else { return TranslatedEvent() }
        if hasText, let choices = members.first(where: { $0.key == "choices" }), choices.kind == .array {
            generatedBytes += Self.textBytes(inChoices: choices.range, of: chunk)
        }
        if hasUsage, let reported = TokenUsage.openAI(in: chunk) {
            usage = reported
            let choices = members.first { $0.key == "choices" }
            let usageOnly = choices.map { JSONScanner.elements(of: $0.range, in: chunk).isEmpty } ?? true
            if !clientWantsUsage && usageOnly { return TranslatedEvent(output: []) }
        }
        return TranslatedEvent()
    }

    // Quick checks before parsing a chunk (any spacing after the name is allowed).
    private static let usageKey = Array("\"usage\"".utf8)
    private static let contentKey = Array("\"content\"".utf8)
    private static let textKey = Array("\"text\"".utf8)

    private static func contains(_ data: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        data.withContiguousStorageIfAvailable { buffer in
            buffer.count >= needle.count && (0...(buffer.count - needle.count)).contains { start in
                buffer[start] == needle[0] && needle.indices.allSatisfy { buffer[start + $0] == needle[$0] }
            }
        } ?? false
    }

    /// Bytes of `delta.content` (chat) or `text` (completions) across the chunk's choices.
    private static func textBytes(inChoices range: Range<Int>, of chunk: [UInt8]) -> Int {
        var total = 0
        for choice in JSONScanner.elements(of: range, in: chunk) where choice.kind == .object {
            for member in JSONScanner.members(of: choice.range, in: chunk) {
                if member.key == "text", member.kind == .string { total += member.range.count - 2 }
                if member.key == "delta", member.kind == .object {
                    for field in JSONScanner.members(of: member.range, in: chunk)
                    where field.key == "content" && field.kind == .string {
                        total += field.range.count - 2
                    }
                }
            }
        }
        return total
    }
}
