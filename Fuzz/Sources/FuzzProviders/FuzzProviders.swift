import FuzzSupport
import SluiceCore
import SluiceProviders

/// libFuzzer entry point: the input is a provider's whole (non-streamed) answer, read
/// every way the gateway reads one:
///
/// 1. a 2xx body: each translator's `clientBody(for:status:body:)`, then
///    `usage(for:in:)` on what it returned, then the surfaces that re-shape a chat
///    completion (`AnthropicSurface.messageResponse`, `ResponsesSurface.responseObject`);
/// 2. an error body: `clientError(status:headers:body:provider:)` for a spread of
///    statuses, and the error as the client would get it.
///
/// Streams are `FuzzStreams`. A thrown `GatewayError` is an answer; a trap is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    wholeBody(bytes)
    errorBody(bytes)
    return 0
}

/// Each translator the gateway uses, the provider behind it, and the requests it serves.
let translators: [(translator: ProviderTranslator, provider: ProviderConfig, requests: [APIRequest])] = [
    (OpenAITranslator(dialect: .openai), Providers.provider(.openai), [Requests.chat, Requests.embeddingsBase64]),
    (OpenAITranslator(dialect: .azure), Providers.provider(.azureOpenAI),
     [Requests.chat, Requests.embeddings, Requests.embeddingsBase64]),
    (OpenAITranslator(dialect: .databricks), Providers.provider(.databricks),
     [Requests.chat, Requests.embeddings, Requests.embeddingsBase64]),
    (AnthropicTranslator(now: { 0 }), Providers.provider(.anthropic), [Requests.chat, Requests.chatStructured]),
    (BedrockTranslator(), Providers.provider(.bedrock),
     [Requests.chat, Requests.chatStructured, Requests.embeddings, Requests.embeddingsBase64, Requests.countTokens]),
    (AnthropicPassthrough(), Providers.provider(.anthropic), [Requests.messages, Requests.countTokens]),
    (ResponsesPassthrough(dialect: .openai), Providers.provider(.openai), [Requests.responses]),
    (ResponsesPassthrough(dialect: .azure), Providers.provider(.azureOpenAI), [Requests.responses]),
]

// MARK: - Whole bodies

/// A 2xx answer, as `RequestPipeline` handles it.
func wholeBody(_ body: [UInt8]) {
    for (translator, _, requests) in translators {
        for request in requests {
            let translated: [UInt8]?
            do {
                translated = try translator.clientBody(for: request, status: 200, body: body)
            } catch {
                _ = error.jsonBody
                continue
            }
            let answer = translated ?? body
            _ = translator.usage(for: request, in: answer)
            // A Messages or Responses client on a chat translation gets the answer re-shaped.
            if request.operation == .chatCompletions && !translator.answersInClientAPI {
                surfaces(answer)
            }
        }
    }
    surfaces(body)
}

/// The chat completion `answer` as an Anthropic message and as a Response object.
func surfaces(_ answer: [UInt8]) {
    if let message = try? AnthropicSurface.messageResponse(fromChatCompletion: answer, model: "route") {
        _ = TokenUsage.anthropic(in: message)
    }
    if let made = try? ResponsesSurface.responseObject(fromChatCompletion: answer, context: Requests.responsesContext) {
        _ = TokenUsage.openAI(in: made.response)
    }
}

/// A non-2xx answer: the client-facing error for a spread of statuses, from each error
/// reader once (Azure and the Responses passthrough read errors as OpenAI does, the
/// Anthropic passthrough as Anthropic does).
func errorBody(_ body: [UInt8]) {
    let headers: [(name: String, value: String)] = [("content-type", "application/json"), ("retry-after", "7")]
    let readers: [(ProviderTranslator, ProviderConfig)] = [
        (OpenAITranslator(dialect: .openai), Providers.provider(.openai)),
        (OpenAITranslator(dialect: .databricks), Providers.provider(.databricks)),
        (AnthropicTranslator(now: { 0 }), Providers.provider(.anthropic)),
        (BedrockTranslator(), Providers.provider(.bedrock)),
    ]
    for (translator, provider) in readers {
        for status in [400, 401, 429, 529, 302] {
            let error = translator.clientError(status: status, headers: headers, body: body, provider: provider)
            _ = error.httpStatus
            _ = error.jsonBody
        }
    }
}
