/// How `sluice serve` was started: the config file and command-line overrides.
public struct PoolOptions: Sendable {
    public var configPath: String
    public var listen: String?
    public var workers: Int?
    public var threads: Int?
    public var pidFile: String?

    public init(configPath: String, listen: String? = nil, workers: Int? = nil, threads: Int? = nil, pidFile: String? = nil) {
        self.configPath = configPath
        self.listen = listen
        self.workers = workers
        self.threads = threads
        self.pidFile = pidFile
    }
}
