import SluiceCore

/// The Anthropic Messages API (`POST /v1/messages`) served from any route: pure
/// functions that turn the client's Anthropic request into the canonical OpenAI
/// chat-completions body the gateway routes, and every kind of answer back.
///
/// A call through the surface:
/// 1. `chatRequest(fromMessages:)` → `APIRequest(operation: .chatCompletions, body:)`;
///    the route is the Anthropic `model`.
/// 2. The provider translator runs as for any chat call.
/// 3. A 2xx answer: the provider's `clientBody(for:status:body:)` (or the upstream bytes
///    when it returns `nil`) → `messageResponse(fromChatCompletion:model:)`.
/// 4. A stream: `ChainedStreamTranslator(provider.streamTranslator(for:), streamTranslator(model:))`.
/// 5. Any error: `errorBody(for:)` with `error.httpStatus`, or `streamErrorEvent(for:)`
///    once a stream has started.
public enum AnthropicSurface {
    /// The canonical OpenAI chat-completions body for an Anthropic Messages request body.
    /// Throws `invalidRequest` (400) where Anthropic would answer `invalid_request_error`.
    public static func chatRequest(fromMessages body: [UInt8], for target: MessagesTarget = .openAI) throws(GatewayError) -> [UInt8] {
        try MessagesRequestBody.make(from: body, for: target)
    }

    /// Who reads the canonical chat body on the way to a provider of `kind`.
    public static func target(for kind: ProviderKind) -> MessagesTarget {
        kind == .bedrock || kind == .anthropic ? .anthropicFeatures : .openAI
    }

    /// The Anthropic `message` body for an OpenAI `chat.completion` body; `model` is the
    /// model the client asked for.
    public static func messageResponse(fromChatCompletion body: [UInt8], model: String) throws(GatewayError) -> [UInt8] {
        try MessagesResponseBody.make(from: body, model: model)
    }

    /// A fresh translator from OpenAI chunks to Anthropic events for one streamed answer.
    public static func streamTranslator(model: String) -> AnthropicSurfaceStreamTranslator {
        AnthropicSurfaceStreamTranslator(model: model)
    }

    /// The Anthropic error body for `error` (send it with `error.httpStatus`).
    public static func errorBody(for error: GatewayError) -> [UInt8] {
        Array(MessagesErrorBody.json(for: error).utf8)
    }

    /// `error` as an Anthropic stream `error` event, to end a stream that already started.
    public static func streamErrorEvent(for error: GatewayError) -> [UInt8] {
        Array(ServerSentEvent.named("error", MessagesErrorBody.json(for: error)).utf8)
    }
}
