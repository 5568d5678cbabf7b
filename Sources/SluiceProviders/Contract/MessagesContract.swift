import SluiceCore

/// The translation contract of Anthropic's Messages API (`/v1/messages`) on routes whose
/// provider is not Anthropic: what each documented request field becomes on an
/// OpenAI-family provider (OpenAI, Azure OpenAI, Databricks, OpenAI-compatible servers)
/// and on Bedrock's Converse, or why it is refused (a 400 naming it). On `anthropic`
/// endpoints every field passes unchanged (`AnthropicPassthrough`). `MessagesRequestBody`
/// implements it; `ChatContractTests` walks every row and checks the README's table.
public enum MessagesContract {
    public struct Row: Sendable {
        public let field: String
        /// A value that uses the field, as JSON text; `nil` for markers inside blocks.
        public let sample: String?
        public let openAI: ChatContract.Rule
        public let bedrock: ChatContract.Rule
    }

    private static func row(_ field: String, _ sample: String?, openAI: ChatContract.Rule,
                            bedrock: ChatContract.Rule) -> Row {
        Row(field: field, sample: sample, openAI: openAI, bedrock: bedrock)
    }

    public static let rows: [Row] = [
        row("model", #""route""#, openAI: .translated("model (the endpoint's model)"),
            bedrock: .translated("the URL's modelId (the endpoint's model)")),
        row("messages", #"[{"role":"user","content":"hi"}]"#,
            openAI: .translated("messages (tool_use → tool_calls, tool_result → tool messages, images → image_url)"),
            bedrock: .translated("messages (toolUse/toolResult, images, thinking → reasoningContent with signatures)")),
        row("max_tokens", "77", openAI: .translated("max_tokens"), bedrock: .translated("inferenceConfig.maxTokens")),
        row("system", #""be brief""#, openAI: .translated("a system message"),
            bedrock: .translated("system blocks (cache_control → cachePoint)")),
        row("stop_sequences", #"["END"]"#, openAI: .translated("stop"), bedrock: .translated("inferenceConfig.stopSequences")),
        row("stream", "true", openAI: .translated("stream + stream_options.include_usage"),
            bedrock: .translated("ConverseStream")),
        row("temperature", "0.25", openAI: .translated("temperature"), bedrock: .translated("inferenceConfig.temperature")),
        row("top_p", "0.5", openAI: .translated("top_p"), bedrock: .translated("inferenceConfig.topP")),
        row("top_k", "5", openAI: .refused("OpenAI models have no top-k sampling"),
            bedrock: .translated("additionalModelRequestFields.top_k")),
        row("tools", #"[{"name":"f","input_schema":{"type":"object"}}]"#,
            openAI: .translated("function tools (server tools refused)"),
            bedrock: .translated("toolConfig.tools (server tools refused; cache_control → cachePoint)")),
        row("tool_choice", #"{"type":"any"}"#, openAI: .translated("tool_choice and parallel_tool_calls"),
            bedrock: .translated("toolConfig.toolChoice")),
        row("metadata", #"{"user_id":"u-1"}"#, openAI: .translated("user"), bedrock: .translated("requestMetadata.user")),
        row("thinking", #"{"type":"enabled","budget_tokens":2048}"#,
            openAI: .translated("reasoning_effort (budget < 4096: low, < 16384: medium, else high)"),
            bedrock: .translated("additionalModelRequestFields.thinking")),
        row("service_tier", #""standard_only""#, openAI: .translated("service_tier (auto → auto, standard_only → default)"),
            bedrock: .translated("Bedrock's standard tier, which both values ask for")),
        row("output_format", #"{"type":"json_schema","schema":{"type":"object"}}"#,
            openAI: .translated("response_format json_schema"),
            bedrock: .translated("a forced tool whose input is the answer's JSON")),
        row("output_config", #"{"format":{"type":"json_schema","schema":{"type":"object"}}}"#,
            openAI: .translated("format → response_format, effort → reasoning_effort"),
            bedrock: .translated("format → a forced tool (effort refused)")),
        row("cache_control", nil, openAI: .translated("no marker needed: OpenAI caches prompt prefixes itself"),
            bedrock: .translated("a cachePoint block after the marked block (ttl kept)")),
        row("container", #""c-1""#, openAI: .refused("Anthropic's code-execution containers"),
            bedrock: .refused("Anthropic's code-execution containers")),
        row("mcp_servers", #"[{"type":"url","url":"https://mcp.example","name":"m"}]"#,
            openAI: .refused("Anthropic's MCP connector"), bedrock: .refused("Anthropic's MCP connector")),
        row("context_management", #"{"edits":[]}"#, openAI: .refused("Anthropic's context editing"),
            bedrock: .refused("Anthropic's context editing")),
    ]
}

extension ChatContract.Rule {
    /// The rule as a table cell.
    public var cell: String {
        switch self {
        case .translated(let text): return text
        case .answer(let text): return "answer: " + text
        case .refused(let reason): return "**refused**: " + reason
        }
    }
}

extension ChatContract {
    /// The contract as the README's Markdown tables (chat completions, then Messages).
    public static var markdown: String {
        var out = "| chat completions field | anthropic | bedrock |\n|---|---|---|\n"
        for row in rows { out += "| `\(row.field)` | \(row.anthropic.cell) | \(row.bedrock.cell) |\n" }
        out += "\n| Messages field | openai, azure_openai, databricks, openai_compatible | bedrock |\n|---|---|---|\n"
        for row in MessagesContract.rows { out += "| `\(row.field)` | \(row.openAI.cell) | \(row.bedrock.cell) |\n" }
        out += "\n| Responses field | anthropic, bedrock | databricks |\n|---|---|---|\n"
        for row in ResponsesContract.rows { out += "| `\(row.field)` | \(row.claude.cell) | \(row.databricks.cell) |\n" }
        return out
    }
}
