import ArgumentParser
import SluiceCore
import SluiceGateway

/// `sluice check`: validate a configuration file.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Validate a configuration file; exit non-zero with the reasons.")

    @Option(help: "The configuration file.") var config: String = "sluice.yaml"

    func run() throws {
        do {
            let loaded = try ConfigFile.load(path: config)
            for warning in loaded.warnings { printError("warning: \(warning)") }
            let routes = loaded.config.routeOrder.joined(separator: ", ")
            print("\(config): ok (\(loaded.config.providers.count) providers, routes: \(routes))")
        } catch let error as ConfigError {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}
