import ArgumentParser
import SluiceMockProvider

/// `sluice-mock`: a deterministic offline server speaking the wire formats of OpenAI,
/// Anthropic, Amazon Bedrock, Azure OpenAI and Databricks Model Serving. A binary of its
/// own, so the production `sluice` does not carry it.
@main
struct MockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-mock",
        abstract: "Serve OpenAI, Anthropic, Amazon Bedrock, Azure OpenAI and Databricks wire formats offline, with fault injection.",
        discussion: """
            Paths: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models, /v1/responses and \
            /v1/responses/{id}[/cancel|/input_items] (OpenAI; responses kept per key and OpenAI-Project); \
            /v1/messages, /v1/messages/count_tokens (Anthropic, with extended thinking and prompt caching); \
            /openai/deployments/{d}/chat/completions?api-version=… and /openai/v1/responses (Azure OpenAI); \
            /serving-endpoints/{name}/invocations (Databricks). \
            Faults per request: a model suffix (mock-gpt@status=503,delay=300ms,interval=200ms,drop=3,words=50,quota=1, \
            tools=2, stream_error=2 for Anthropic streams, content_filter=1 for Azure; on the deployment or endpoint \
            name for Azure and Databricks) or x-mock-* headers of the same names; \
            per model at runtime with POST /_mock/faults {"model": "m", "fault": "status=500"} ("" clears). \
            GET /_mock/stats counts requests by path and model; POST /_mock/reset zeroes them. \
            Amazon Bedrock Runtime: POST /model/{modelId}/converse, /converse-stream (event stream), /invoke \
            (Titan and Cohere embeddings) and /count-tokens; with --aws-access-key-id and --aws-secret-access-key every Bedrock call \
            must be SigV4-signed for service bedrock in --aws-region (or carry the --api-key as a bearer token).
            """
    )

    @Option(help: "host:port to listen on.") var listen: String = "127.0.0.1:9911"
    @Option(help: "Require this key (Bearer for OpenAI/Databricks, x-api-key for Anthropic, api-key for Azure).")
    var apiKey: String?
    @Option(help: "Bedrock paths: require SigV4 signatures with this access key id.") var awsAccessKeyId: String?
    @Option(help: "Bedrock paths: the secret of --aws-access-key-id.") var awsSecretAccessKey: String?
    @Option(help: "Bedrock paths: also require this x-amz-security-token.") var awsSessionToken: String?
    @Option(help: "Bedrock paths: the region signatures must be scoped to.") var awsRegion: String = "us-east-1"

    func run() throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be host:port")
        }
        guard (awsAccessKeyId == nil) == (awsSecretAccessKey == nil) else {
            throw ValidationError("--aws-access-key-id and --aws-secret-access-key go together")
        }
        var options = MockProviderOptions(host: String(listen[..<colon]), port: port, apiKey: apiKey)
        options.bedrock = MockBedrockOptions(accessKeyID: awsAccessKeyId, secretAccessKey: awsSecretAccessKey,
                                             sessionToken: awsSessionToken, region: awsRegion)
        let server = try MockProviderServer(options: options)
        print("mock provider listening on \(listen)")
        server.run()
    }
}
