import ArgumentParser
import Foundation
import SluiceCore
import SluiceGateway

/// `sluice check`: validate a configuration file.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Validate a configuration file; exit non-zero with the reasons.")

    @Option(help: "The configuration file.") var config: String = "sluice.yaml"
    @Flag(help: "Print the result as one JSON object: ok, warnings, issues (file, line, column, field, message).")
    var json = false

    func run() throws {
        if json { return try runJSON() }
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

    private func runJSON() throws {
        var object: [String: Any]
        do {
            let loaded = try ConfigFile.load(path: config)
            object = ["ok": true, "warnings": loaded.warnings, "issues": [Any](),
                      "providers": loaded.config.providers.count, "routes": loaded.config.routeOrder]
        } catch let error as ConfigError {
            object = ["ok": false, "warnings": [Any](), "issues": error.issues.map { issue in
                ["file": issue.file, "line": issue.line, "column": issue.column, "field": issue.field,
                 "message": issue.message] as [String: Any]
            }]
        }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
        if object["ok"] as? Bool != true { throw ExitCode(1) }
    }
}
