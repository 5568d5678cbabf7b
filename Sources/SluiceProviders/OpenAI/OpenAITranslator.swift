import Glibc
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
    /// (the provider ignored `encoding_format`): those are converted; and chat completions
    /// that lack members OpenAI's schema requires (`message.refusal`, `choices[].logprobs`,
    /// both nullable): those get them as `null`.
    public func clientBody(for request: APIRequest, status: Int, body: [UInt8]) throws(GatewayError) -> [UInt8]? {
        guard dialect != .openai else { return nil }
        if request.operation == .chatCompletions { return ChatCompletionSchema.completingRequiredMembers(body) }
        guard EmbeddingEncoding.wantsBase64(request) else { return nil }
        return EmbeddingEncoding.convertingToBase64(body)
    }

    public func streamTranslator(for request: APIRequest) -> StreamTranslator {
        OpenAIStreamTranslator(clientWantsUsage: request.includeUsage)
    }
}

/// OpenAI streams pass through event by event; the translator watches for the terminal
/// `[DONE]` and for error events, reads the usage chunk, and drops that chunk when the
/// client did not ask for usage (the gateway asked for it on the client's behalf).
///
/// Chunks that break OpenAI's schema are mended, so that every client sees OpenAI's
/// stream: a chunk with no choices and no usage (Azure's `prompt_filter_results`
/// preamble, whose `id` and `object` are empty) is dropped; `usage` on a chunk that has
/// choices (Databricks repeats the running totals on every chunk) is removed, and the
/// last totals go out once, in a final usage chunk, only to a client that asked for usage.
public struct OpenAIStreamTranslator: StreamTranslator {
    private let clientWantsUsage: Bool
    public private(set) var usage: TokenUsage?
    public private(set) var generatedBytes = 0
    /// The provider sent a usage-only chunk (OpenAI's own way).
    private var sawUsageChunk = false
    /// `id`, `created` and `model` of the first chunk, for a usage chunk the gateway writes.
    private var identity: (id: String, created: String, model: String)?

    public init(clientWantsUsage: Bool = true) {
        self.clientWantsUsage = clientWantsUsage
    }

    public mutating func translate(event: ArraySlice<UInt8>) -> TranslatedEvent {
        guard let data = SSEFramer.data(of: event) else { return TranslatedEvent() }
        if data.elementsEqual("[DONE]".utf8) {
            guard clientWantsUsage, !sawUsageChunk, let usage, let identity else { return TranslatedEvent(isTerminal: true) }
            // The provider's totals came on content chunks: one usage chunk, as OpenAI sends it.
            var details = ""
            if usage.cached > 0 { details += ",\"prompt_tokens_details\":{\"cached_tokens\":\(usage.cached)}" }
            if usage.reasoning > 0 { details += ",\"completion_tokens_details\":{\"reasoning_tokens\":\(usage.reasoning)}" }
            let chunk = "{\"id\":\(identity.id),\"object\":\"chat.completion.chunk\",\"created\":\(identity.created),"
                + "\"model\":\(identity.model),\"choices\":[],\"usage\":{\"prompt_tokens\":\(usage.prompt),"
                + "\"completion_tokens\":\(usage.completion),\"total_tokens\":\(usage.total)\(details)}}"
            return TranslatedEvent(output: Array("data: \(chunk)\n\ndata: [DONE]\n\n".utf8), isTerminal: true)
        }
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
        let survey = ChunkSurvey(of: data)
        generatedBytes += survey.textBytes
        let hasUsage = survey.hasUsage
        let noChoices = survey.noChoices
        if identity == nil || (noChoices && !hasUsage) || hasUsage {
            return inspect(Array(data), hasUsage: hasUsage)
        }
        return TranslatedEvent()
    }

    /// The chunks that need parsing: the first one (its identity), a usage-bearing one, and
    /// one that looks choice-less.
    private mutating func inspect(_ chunk: [UInt8], hasUsage: Bool) -> TranslatedEvent {
        guard let members = try? JSONScanner.topLevelMembers(of: chunk) else { return TranslatedEvent() }
        let choices = members.first { $0.key == "choices" }
        let choiceless = choices.map { JSONScanner.elements(of: $0.range, in: chunk).isEmpty } ?? true
        if identity == nil, !choiceless {
            func text(_ key: String, _ fallback: String) -> String {
                members.first { $0.key == key }.map { String(decoding: chunk[$0.range], as: UTF8.self) } ?? fallback
            }
            identity = (text("id", "\"\""), text("created", "0"), text("model", "\"\""))
        }
        let usageMember = members.first { $0.key == "usage" && $0.kind == .object }
        guard hasUsage, let usageMember, let reported = TokenUsage.openAI(usageAt: usageMember.range, in: chunk) else {
            // Azure's preamble (and any chunk with neither choices nor usage) is not an OpenAI chunk.
            return choiceless ? TranslatedEvent(output: []) : TranslatedEvent()
        }
        usage = reported
        if choiceless {
            sawUsageChunk = true
            return clientWantsUsage ? TranslatedEvent() : TranslatedEvent(output: [])
        }
        // Running totals on a content chunk: the chunk goes on without them.
        let mended = JSONMemberRemoval.removing("usage", from: chunk)
        return TranslatedEvent(output: Array("data: ".utf8) + mended + Array("\n\n".utf8))
    }

    private static let errorPrefix = Array("{\"error\"".utf8)
    private static let errorCodePrefix = Array("{\"error_code\"".utf8)
}

/// What one lexical pass over a stream chunk's JSON finds: the bytes of the string values
/// of `content` and `text` members (escapes counted as written), whether a `usage` member
/// holds an object (`"usage":null` does not count), and whether `choices` is empty. String
/// contents are skipped whole, so text inside a value never looks like a member.
struct ChunkSurvey: Equatable {
    var textBytes = 0
    var hasUsage = false
    var noChoices = false

    init(textBytes: Int = 0, hasUsage: Bool = false, noChoices: Bool = false) {
        self.textBytes = textBytes
        self.hasUsage = hasUsage
        self.noChoices = noChoices
    }

    init(of data: ArraySlice<UInt8>) {
        if let found = data.withContiguousStorageIfAvailable({ ChunkSurvey(scanning: $0) }) {
            self = found
        } else {
            self = Array(data).withUnsafeBufferPointer { ChunkSurvey(scanning: $0) }
        }
    }

    private static let quote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")

    private init(scanning bytes: UnsafeBufferPointer<UInt8>) {
        let count = bytes.count
        var index = 0
        while index < count {
            guard bytes[index] == Self.quote else {
                index += 1
                continue
            }
            let start = index + 1
            let end = Self.stringEnd(bytes, from: start)
            guard end < count else { return }
            index = end + 1
            let length = end - start
            // Only a member name of interest matters: a string of 4, 5 or 7 bytes before a colon.
            guard length == 4 || length == 5 || length == 7 else { continue }
            let colon = Self.skipSpace(bytes, from: end + 1)
            guard colon < count, bytes[colon] == UInt8(ascii: ":") else { continue }
            let value = Self.skipSpace(bytes, from: colon + 1)
            guard value < count else { return }
            let name = UnsafeBufferPointer(rebasing: bytes[start..<end])
            if bytes[value] == Self.quote, Self.equals(name, "content") || Self.equals(name, "text") {
                let valueEnd = Self.stringEnd(bytes, from: value + 1)
                textBytes += min(valueEnd, count) - (value + 1)
                index = valueEnd + 1
            } else if bytes[value] == UInt8(ascii: "{"), Self.equals(name, "usage") {
                hasUsage = true
            } else if bytes[value] == UInt8(ascii: "["), Self.equals(name, "choices") {
                let close = Self.skipSpace(bytes, from: value + 1)
                if close < count, bytes[close] == UInt8(ascii: "]") { noChoices = true }
            }
        }
    }

    /// The closing quote of the string whose contents start at `start` (`count` if none).
    private static func stringEnd(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var index = start
        while index < bytes.count {
            let byte = bytes[index]
            if byte == quote { return index }
            index += byte == backslash ? 2 : 1
        }
        return bytes.count
    }

    private static func skipSpace(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var index = start
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
        return index
    }

    private static func equals(_ name: UnsafeBufferPointer<UInt8>, _ expected: StaticString) -> Bool {
        name.count == expected.utf8CodeUnitCount && memcmp(name.baseAddress!, expected.utf8Start, name.count) == 0
    }
}
