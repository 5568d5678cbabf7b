import ArgumentParser
import SluiceCore

/// `sluice`: the AI gateway's executable (its workers run it too; the mock provider is `sluice-mock`).
@main
struct SluiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "An AI gateway for nginx estates: a FastCGI responder pool in front of model providers.",
        version: SluiceVersion.text,
        subcommands: [ServeCommand.self, CheckCommand.self, KeysCommand.self, EndpointsCommand.self, ScriptsCommand.self, AuditCommand.self, UsageCommand.self, ReportCommand.self, WorkerCommand.self]
    )
}
