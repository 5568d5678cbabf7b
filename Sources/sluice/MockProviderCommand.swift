import ArgumentParser
import SluiceMockProvider

/// `sluice mock-provider`: a deterministic offline server speaking OpenAI's wire format.
struct MockProviderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mock-provider",
        abstract: "Serve OpenAI's wire format offline, deterministically, with fault injection.",
        discussion: """
            Faults per request: a model suffix (mock-gpt@status=503,delay=300ms,interval=200ms,drop=3,words=50,quota=1) \
            or x-mock-status / x-mock-delay / x-mock-interval / x-mock-drop / x-mock-words / x-mock-quota headers; \
            per model at runtime with POST /_mock/faults {"model": "m", "fault": "status=500"} ("" clears). \
            GET /_mock/stats counts requests by path and model; POST /_mock/reset zeroes them.
            """
    )

    @Option(help: "host:port to listen on.") var listen: String = "127.0.0.1:9911"
    @Option(help: "Require this key as `Authorization: Bearer …`.") var apiKey: String?

    func run() throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be host:port")
        }
        let server = try MockProviderServer(options: MockProviderOptions(host: String(listen[..<colon]), port: port, apiKey: apiKey))
        print("mock provider listening on \(listen)")
        server.run()
    }
}
