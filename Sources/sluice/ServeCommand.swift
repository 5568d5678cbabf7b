import ArgumentParser
import Glibc
import SluiceGateway

/// `sluice serve`: the responder pool's master process.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the responder pool (master + workers) in the foreground.",
        discussion: "SIGHUP reloads the configuration (a bad one is refused, the running one keeps serving); SIGTERM drains and exits."
    )

    @Option(help: "The configuration file.") var config: String = "sluice.yaml"
    @Option(help: "Override server.listen: unix:/path/to.sock or host:port.") var listen: String?
    @Option(help: "Override server.workers.") var workers: Int?
    @Option(help: "Override server.threads (per worker).") var threads: Int?
    @Option(help: "Write the master's pid here.") var pidFile: String?

    func run() throws {
        let options = PoolOptions(configPath: config, listen: listen, workers: workers, threads: threads, pidFile: pidFile)
        LogSetup.bootstrap()
        let status = PoolMaster(options: options).run()
        if status != 0 { throw ExitCode(status) }
    }
}

/// `sluice worker`: started by the master only; not for direct use.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Internal: one worker process, started by `sluice serve`.", shouldDisplay: false)

    @Option var configName: String
    @Option var threads: Int
    @Option var drainTimeoutMs: Int = 30_000

    func run() throws {
        let status = WorkerProcess.run(configName: configName, threads: threads, drainTimeout: .milliseconds(drainTimeoutMs))
        Glibc.exit(status)
    }
}
