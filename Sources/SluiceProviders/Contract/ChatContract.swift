import SluiceCore

/// The translation contract of chat completions on routes whose provider speaks another
/// API (Anthropic's Messages, Bedrock's Converse): for every documented request field,
/// what it becomes, or why it is refused. A field is never silently dropped: a refused
/// field with a value other than its default gets a 400 naming it (`param`), and so does a
/// field this table does not know. The README's contract table is this table
/// (`ChatContractTests` checks both, and walks every row for every provider).
public enum ChatContract {
    /// What happens to a field on one kind of provider.
    public enum Rule: Sendable, Equatable {
        /// Sent on as the named provider field(s).
        case translated(String)
        /// Shapes the answer rather than the provider request.
        case answer(String)
        /// Refused with a 400 unless the value is the field's default.
        case refused(String)
    }

    /// One documented field.
    public struct Row: Sendable {
        public let field: String
        /// A non-default value, as JSON text (the conformance test sends it).
        public let sample: String
        /// Values that mean "not used" (besides `null`), as compact JSON text.
        public let defaults: [String]
        public let anthropic: Rule
        public let bedrock: Rule

        public func rule(for kind: ProviderKind) -> Rule? {
            switch kind {
            case .anthropic: return anthropic
            case .bedrock: return bedrock
            default: return nil
            }
        }
    }

    private static func row(_ field: String, _ sample: String, defaults: [String] = [], anthropic: Rule, bedrock: Rule) -> Row {
        Row(field: field, sample: sample, defaults: defaults, anthropic: anthropic, bedrock: bedrock)
    }

    /// OpenAI's `CreateChatCompletionRequest` (the openai-openapi document) plus the
    /// extensions other gateways accept for Claude (`thinking`, `top_k`; `cache_control`
    /// and `thinking_blocks` live inside messages and tools).
    public static let rows: [Row] = [
        row("model", #""route""#, anthropic: .translated("model (the endpoint's model)"),
            bedrock: .translated("the URL's modelId (the endpoint's model)")),
        row("messages", #"[{"role":"user","content":"hi"}]"#,
            anthropic: .translated("system + messages (content parts, tool calls and results, cache_control, thinking_blocks)"),
            bedrock: .translated("system + messages (content blocks, toolUse/toolResult, cachePoint, reasoningContent)")),
        row("max_completion_tokens", "77", anthropic: .translated("max_tokens"), bedrock: .translated("inferenceConfig.maxTokens")),
        row("max_tokens", "77", anthropic: .translated("max_tokens"), bedrock: .translated("inferenceConfig.maxTokens")),
        row("temperature", "0.25", anthropic: .translated("temperature (0–1; above 1 refused)"),
            bedrock: .translated("inferenceConfig.temperature")),
        row("top_p", "0.5", anthropic: .translated("top_p"), bedrock: .translated("inferenceConfig.topP")),
        row("stop", #"["END"]"#, anthropic: .translated("stop_sequences"), bedrock: .translated("inferenceConfig.stopSequences")),
        row("stream", "true", defaults: ["false"], anthropic: .translated("stream"), bedrock: .translated("ConverseStream")),
        row("stream_options", #"{"include_usage":true}"#, anthropic: .answer("one final usage chunk"),
            bedrock: .answer("one final usage chunk")),
        row("tools", #"[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]"#,
            anthropic: .translated("tools (input_schema; cache_control kept)"),
            bedrock: .translated("toolConfig.tools (toolSpec; cache_control → cachePoint)")),
        row("tool_choice", #""required""#, defaults: [#""auto""#], anthropic: .translated("tool_choice (auto/any/tool/none)"),
            bedrock: .translated("toolConfig.toolChoice (auto/any/tool)")),
        row("parallel_tool_calls", "false", defaults: ["true"],
            anthropic: .translated("tool_choice.disable_parallel_tool_use"),
            bedrock: .refused("Converse cannot turn parallel tool use off")),
        row("user", #""u-1""#, anthropic: .translated("metadata.user_id"), bedrock: .translated("requestMetadata.user")),
        row("safety_identifier", #""u-1""#, anthropic: .translated("metadata.user_id"),
            bedrock: .translated("requestMetadata.user")),
        row("response_format", #"{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}"#,
            defaults: [#"{"type":"text"}"#],
            anthropic: .translated("a forced tool whose input is the answer's JSON (json_schema, json_object)"),
            bedrock: .translated("toolConfig with a forced tool whose input is the answer's JSON (json_schema, json_object)")),
        row("reasoning_effort", #""low""#, defaults: [#""none""#],
            anthropic: .translated("thinking.budget_tokens (minimal 1024, low 2048, medium 8192, high 16384)"),
            bedrock: .translated("additionalModelRequestFields.thinking (same budgets)")),
        row("thinking", #"{"type":"enabled","budget_tokens":2048}"#, defaults: [#"{"type":"disabled"}"#],
            anthropic: .translated("thinking"), bedrock: .translated("additionalModelRequestFields.thinking")),
        row("top_k", "5", anthropic: .translated("top_k"), bedrock: .translated("additionalModelRequestFields.top_k")),
        row("service_tier", #""default""#, defaults: [#""auto""#],
            anthropic: .translated("service_tier (auto → auto, default → standard_only; flex, priority refused)"),
            bedrock: .refused("Bedrock's tier is the model's or inference profile's")),
        row("logprobs", "true", defaults: ["false"], anthropic: .refused("Anthropic returns no log probabilities"),
            bedrock: .refused("Converse returns no log probabilities")),
        row("top_logprobs", "2", defaults: ["0"], anthropic: .refused("Anthropic returns no log probabilities"),
            bedrock: .refused("Converse returns no log probabilities")),
        row("n", "2", defaults: ["1"], anthropic: .refused("one choice per request"), bedrock: .refused("one choice per request")),
        row("modalities", #"["text","audio"]"#, defaults: [#"["text"]"#], anthropic: .refused("no audio output"),
            bedrock: .refused("no audio output")),
        row("audio", #"{"voice":"alloy","format":"mp3"}"#, anthropic: .refused("no audio output"),
            bedrock: .refused("no audio output")),
        row("frequency_penalty", "0.5", defaults: ["0", "0.0"], anthropic: .refused("no frequency penalty"),
            bedrock: .refused("no frequency penalty")),
        row("presence_penalty", "0.5", defaults: ["0", "0.0"], anthropic: .refused("no presence penalty"),
            bedrock: .refused("no presence penalty")),
        row("logit_bias", #"{"50256":-100}"#, defaults: ["{}"], anthropic: .refused("no logit bias"),
            bedrock: .refused("no logit bias")),
        row("seed", "7", anthropic: .refused("no seeded sampling"), bedrock: .refused("no seeded sampling")),
        row("store", "true", defaults: ["false"], anthropic: .refused("OpenAI's stored completions only"),
            bedrock: .refused("OpenAI's stored completions only")),
        row("metadata", #"{"k":"v"}"#, defaults: ["{}"], anthropic: .refused("OpenAI's stored-completion tags only"),
            bedrock: .refused("OpenAI's stored-completion tags only")),
        row("prediction", #"{"type":"content","content":"x"}"#, anthropic: .refused("no predicted outputs"),
            bedrock: .refused("no predicted outputs")),
        row("web_search_options", "{}", anthropic: .refused("OpenAI's search models only"),
            bedrock: .refused("OpenAI's search models only")),
        row("verbosity", #""low""#, anthropic: .refused("no verbosity control"), bedrock: .refused("no verbosity control")),
        row("prompt_cache_key", #""k""#, anthropic: .refused("use cache_control on content parts"),
            bedrock: .refused("use cache_control on content parts")),
        row("prompt_cache_retention", #""24h""#, anthropic: .refused("use cache_control with ttl"),
            bedrock: .refused("use cache_control with ttl")),
        row("functions", #"[{"name":"f","parameters":{"type":"object"}}]"#, anthropic: .refused("deprecated: use tools"),
            bedrock: .refused("deprecated: use tools")),
        row("function_call", #""auto""#, anthropic: .refused("deprecated: use tool_choice"),
            bedrock: .refused("deprecated: use tool_choice")),
    ]

    private static let byField: [String: Row] = Dictionary(uniqueKeysWithValues: rows.map { ($0.field, $0) })

    /// Refuses, with a 400 naming it, the first field of `request` that `kind` cannot
    /// honour: a refused field with a value other than its default, or a field the
    /// contract does not know.
    static func check(_ request: JSONObject, kind: ProviderKind, providerName: String) throws(GatewayError) {
        for member in request.members where !member.value.isNull {
            guard let row = byField[member.key] else {
                throw GatewayError.invalidRequest(
                    "'\(member.key)' is not a chat completions field this route can translate for \(providerName).",
                    param: member.key)
            }
            guard case .refused(let reason)? = row.rule(for: kind) else { continue }
            let text = member.value.encoded
            if row.defaults.contains(text) { continue }
            throw GatewayError.invalidRequest("'\(member.key)' is not supported by \(providerName): \(reason).",
                                              param: member.key)
        }
    }
}
