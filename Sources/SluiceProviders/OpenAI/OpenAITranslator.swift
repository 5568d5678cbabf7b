import SluiceCore

/// OpenAI and every server that speaks its API. Requests pass through with only
/// `model` replaced; answers pass through unchanged.
///
/// Azure OpenAI and Databricks Model Serving speak the same bodies: they are this
/// translator with another `OpenAIDialect` (the URL, the auth header and the error shape).
public struct OpenAITranslator: ProviderTranslator {
    /// Where the provider serves each operation and how it reports errors.
    public let dialect: OpenAIDialect

    public init(dialect: OpenAIDialect = .openai) {
        self.dialect = dialect
    }

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
        if request.stream && !request.includeUsage && dialect.streamsUsage(provider) {
            params.append(("stream_options", #"{"include_usage":true}"#))
        }
        var body = request.upstreamBody(model: endpoint.model, params: params)
        if !dialect.bodyNamesModel {
            body = JSONMemberRemoval.removing("model", from: body)
        }
        return UpstreamRequest(method: .post, url: dialect.url(for: request.operation, model: endpoint.model, provider: provider),
                               headers: headers, body: body, limits: limits)
    }

    public func clientError(status: Int, headers: [(name: String, value: String)], body: [UInt8],
                            provider: ProviderConfig) -> GatewayError {
        switch dialect {
        case .openai, .azure:
            return OpenAIErrorBody.clientError(status: status, headers: headers, body: body, provider: provider)
        case .databricks:
            return DatabricksErrorBody.clientError(status: status, headers: headers, body: body, provider: provider)
        }
    }

    /// OpenAI's own answers pass through. Azure OpenAI and Databricks answers pass through
    /// too, except embeddings the client asked for as `base64` that came back as floats
    /// (the provider ignored `encoding_format`): those are converted.
    public func clientBody(for request: APIRequest, status: Int, body: [UInt8]) throws(GatewayError) -> [UInt8]? {
        guard dialect != .openai, EmbeddingEncoding.wantsBase64(request) else { return nil }
        return EmbeddingEncoding.convertingToBase64(body)
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
        // An error object inside a stream (OpenAI sends `data: {"error": {...}}`; Databricks
        // `data: {"error_code": "...", "message": "..."}`).
        if data.count > 9, data.starts(with: Self.errorPrefix) {
            let message = OpenAIErrorBody.message(in: Array(data)) ?? "The provider reported an error mid-stream."
            return TranslatedEvent(error: GatewayError(.upstreamError, message))
        }
        if data.count > 14, data.starts(with: Self.errorCodePrefix) {
            let members = (try? JSONScanner.topLevelMembers(of: Array(data))) ?? []
            let bytes = Array(data)
            let message = members.first { $0.key == "message" && $0.kind == .string }
                .map { JSONScanner.decodeString(at: $0.range, in: bytes) } ?? "The provider reported an error mid-stream."
            return TranslatedEvent(error: GatewayError(.upstreamError, message))
        }
        // Only the usage chunk is parsed; text is measured by a byte scan, since it only
        // feeds the estimate of a cut stream's usage.
        generatedBytes += Self.textBytes(in: data)
        guard Self.contains(data, Self.usageObject) || Self.contains(data, Self.usageObjectSpaced) else {
            return TranslatedEvent()
        }
        let chunk = Array(data)
        guard let reported = TokenUsage.openAI(in: chunk) else { return TranslatedEvent() }
        usage = reported
        if !clientWantsUsage, let members = try? JSONScanner.topLevelMembers(of: chunk) {
            let choices = members.first { $0.key == "choices" }
            if choices.map({ JSONScanner.elements(of: $0.range, in: chunk).isEmpty }) ?? true {
                return TranslatedEvent(output: [])
            }
        }
        return TranslatedEvent()
    }

    // `"usage":{` (compact) or `"usage": {` (Python-style spacing); `"usage":null` is skipped.
    private static let usageObject = Array("\"usage\":{".utf8)
    private static let usageObjectSpaced = Array("\"usage\": {".utf8)
    private static let errorPrefix = Array("{\"error\"".utf8)
    private static let errorCodePrefix = Array("{\"error_code\"".utf8)
    private static let textKeys = [Array("\"content\":".utf8), Array("\"text\":".utf8)]

    private static func contains(_ data: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        data.withContiguousStorageIfAvailable { find(needle, in: $0, from: 0) != nil } ?? false
    }

    /// Where `needle` starts in `buffer` at or after `start` (a plain loop: no closure per byte).
    private static func find(_ needle: [UInt8], in buffer: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        let count = needle.count
        guard let first = needle.first, count <= buffer.count else { return nil }
        var index = start
        while index + count <= buffer.count {
            if buffer[index] == first {
                var matched = 1
                while matched < count && buffer[index + matched] == needle[matched] { matched += 1 }
                if matched == count { return index }
            }
            index += 1
        }
        return nil
    }

    /// Bytes of the string values of `content` / `text` members (escapes counted as written).
    private static func textBytes(in data: ArraySlice<UInt8>) -> Int {
        data.withContiguousStorageIfAvailable { buffer -> Int in
            var total = 0
            for key in textKeys {
                var from = 0
                while let found = find(key, in: buffer, from: from) {
                    var cursor = found + key.count
                    while cursor < buffer.count, buffer[cursor] == 0x20 { cursor += 1 }
                    guard cursor < buffer.count, buffer[cursor] == UInt8(ascii: "\"") else {
                        from = cursor
                        continue
                    }
                    cursor += 1
                    let start = cursor
                    while cursor < buffer.count, buffer[cursor] != UInt8(ascii: "\"") {
                        cursor += buffer[cursor] == UInt8(ascii: "\\") ? 2 : 1
                    }
                    total += min(cursor, buffer.count) - start
                    from = cursor + 1
                }
            }
            return total
        } ?? 0
    }
}
