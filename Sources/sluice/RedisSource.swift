import ArgumentParser
import Foundation
import SluiceCore
import SluiceGateway

/// Where a command that only reads and writes Redis finds it: `--redis URL` (the config
/// is then not read at all), or the config file's `redis:` block. Either way no provider
/// secret is needed.
struct RedisSource: ParsableArguments {
    @Option(help: "The configuration file (for the Redis address).") var config: String = "sluice.yaml"
    @Option(help: ArgumentHelp("Redis to use instead of the config's: redis://[user:password@]host:port/db, "
                               + "unix:///path.sock, redis+sentinel://sentinel:26379[,sentinel:26379...]/master_name[/db], "
                               + "or ${env:NAME} to keep a password out of the process list.",
                               valueName: "url"))
    var redis: String?
    @Option(help: "The key prefix with --redis (the config's redis.key_prefix otherwise).") var redisPrefix = "sluice"

    /// The config, unless `--redis` replaces it.
    func loadConfig() throws -> LoadedConfig? {
        redis == nil ? try ConfigFile.load(path: config, providerSecrets: false) : nil
    }

    func redisConfig(_ loaded: LoadedConfig? = nil) throws -> RedisConfig {
        if let redis {
            let url = try RedisURL.fromCommandLine(redis, environment: ProcessInfo.processInfo.environment)
            return RedisConfig(url: url, keyPrefix: redisPrefix)
        }
        return try (loaded ?? ConfigFile.load(path: config, providerSecrets: false)).config.redis
    }
}
