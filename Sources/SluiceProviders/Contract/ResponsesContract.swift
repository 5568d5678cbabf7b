import SluiceCore

/// The translation contract of OpenAI's Responses API (`POST /v1/responses`) on routes
/// whose provider has no Responses API: what each documented field of
/// `ResponseCreateParams` becomes on Anthropic and Bedrock (Claude) and on Databricks
/// (chat completions), or why it is refused (a 400 naming it). On `openai`,
/// `azure_openai` and `openai_compatible` endpoints every field passes unchanged.
/// The chat body a Responses request becomes is checked again by `ChatContract`.
public enum ResponsesContract {
    public struct Row: Sendable {
        public let field: String
        /// A value that uses the field, as JSON text.
        public let sample: String
        /// Values that mean "not used" (besides `null`), as compact JSON text.
        public let defaults: [String]
        /// Anthropic and Bedrock (Claude).
        public let claude: ChatContract.Rule
        /// Databricks (OpenAI chat completions).
        public let databricks: ChatContract.Rule

        func rule(for target: MessagesTarget) -> ChatContract.Rule {
            target == .anthropicFeatures ? claude : databricks
        }
    }

    private static func row(_ field: String, _ sample: String, defaults: [String] = [], claude: ChatContract.Rule,
                            databricks: ChatContract.Rule? = nil) -> Row {
        Row(field: field, sample: sample, defaults: defaults, claude: claude, databricks: databricks ?? claude)
    }

    public static let rows: [Row] = [
        row("model", #""route""#, claude: .translated("the endpoint's model")),
        row("input", #""hi""#, claude: .translated("messages (input_text/input_image/output_text parts, function_call → tool_calls, function_call_output → tool messages, reasoning.encrypted_content → signed thinking blocks)"),
            databricks: .translated("messages (input_text/input_image/output_text parts, function_call → tool_calls, function_call_output → tool messages)")),
        row("instructions", #""be brief""#, claude: .translated("a system message first")),
        row("tools", #"[{"type":"function","name":"f","parameters":{"type":"object"}}]"#,
            claude: .translated("function tools (built-in tools refused, naming them)")),
        row("tool_choice", #""required""#, defaults: [#""auto""#], claude: .translated("tool_choice (auto, none, required, a function)")),
        row("parallel_tool_calls", "false", defaults: ["true"], claude: .translated("parallel_tool_calls (then as the chat contract says)")),
        row("reasoning", #"{"effort":"low"}"#, claude: .translated("effort → thinking budget; the thinking comes back as a reasoning item (summary when asked, signed blocks in encrypted_content)"),
            databricks: .translated("effort → reasoning_effort")),
        row("text", #"{"format":{"type":"json_schema","name":"x","schema":{"type":"object"}}}"#,
            defaults: [#"{"format":{"type":"text"}}"#], claude: .translated("format → response_format (json_schema, json_object); verbosity refused")),
        row("max_output_tokens", "77", claude: .translated("max_completion_tokens")),
        row("temperature", "0.25", claude: .translated("temperature")),
        row("top_p", "0.5", claude: .translated("top_p")),
        row("stream", "true", defaults: ["false"], claude: .translated("a stream, re-emitted as Responses events with sequence numbers")),
        row("stream_options", #"{"include_obfuscation":false}"#, claude: .answer("events carry no obfuscation padding")),
        row("store", "false", defaults: ["true"], claude: .answer("the gateway keeps the conversation in Redis (TTL and size cap), per key")),
        row("previous_response_id", #""resp_x""#, claude: .translated("the stored conversation, for the same key only")),
        row("metadata", #"{"k":"v"}"#, claude: .answer("kept on the stored response")),
        row("user", #""u-1""#, claude: .translated("user (then metadata.user_id / requestMetadata.user)")),
        row("safety_identifier", #""u-1""#, claude: .translated("user (then metadata.user_id / requestMetadata.user)")),
        row("include", #"["reasoning.encrypted_content"]"#, defaults: ["[]"],
            claude: .answer("reasoning.encrypted_content (always given); other includes refused")),
        row("prompt_cache_key", #""k""#, claude: .translated("cache_control breakpoints after the instructions and on the last input item"),
            databricks: .refused("Databricks takes no cache key")),
        row("service_tier", #""flex""#, defaults: [#""auto""#, #""default""#], claude: .refused("only the standard tier")),
        row("truncation", #""auto""#, defaults: [#""disabled""#], claude: .refused("the gateway does not drop context")),
        row("background", "true", defaults: ["false"], claude: .refused("background responses need OpenAI")),
        row("conversation", #""conv_x""#, claude: .refused("OpenAI's Conversations API; use previous_response_id")),
        row("prompt", #"{"id":"pmpt_x"}"#, claude: .refused("OpenAI's stored prompts")),
        row("max_tool_calls", "3", claude: .refused("no cap on built-in tool calls")),
        row("top_logprobs", "2", defaults: ["0"], claude: .refused("no log probabilities")),
        row("prompt_cache_retention", #""24h""#, claude: .refused("use prompt_cache_key")),
    ]

    private static let byField: [String: Row] = Dictionary(uniqueKeysWithValues: rows.map { ($0.field, $0) })

    /// Refuses the first field `target` cannot honour, or that the contract does not know.
    static func check(_ request: JSONObject, target: MessagesTarget) throws(GatewayError) {
        for member in request.members where !member.value.isNull {
            guard let row = byField[member.key] else {
                throw GatewayError.invalidRequest("'\(member.key)' is not a Responses field this route can translate.",
                                                  param: member.key)
            }
            if row.defaults.contains(member.value.encoded) { continue }
            if case .refused(let reason) = row.rule(for: target) {
                throw GatewayError.invalidRequest("'\(member.key)' is not supported on this route: \(reason).", param: member.key)
            }
        }
        if let include = request["include"]?.arrayValue {
            for (index, entry) in include.enumerated() where entry.stringValue != "reasoning.encrypted_content" {
                throw GatewayError.invalidRequest("include '\(entry.stringValue ?? "?")' cannot be served on this route.",
                                                  param: "include[\(index)]")
            }
        }
        if let verbosity = request["text"]?["verbosity"], !verbosity.isNull, verbosity.stringValue != "medium" {
            throw GatewayError.invalidRequest("'text.verbosity' cannot be translated for this route.", param: "text.verbosity")
        }
    }
}
