import ArgumentParser
import Foundation
import SluiceCore
import SluiceGateway
import SluiceRedis

/// `sluice keys …`: manage gateway keys (stored hashed in Redis).
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Create, list and revoke gateway keys.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Connection: ParsableArguments {
        @Option(help: "The configuration file (for the Redis address).") var config: String = "sluice.yaml"

        func directory() throws -> KeyDirectory {
            let loaded = try ConfigFile.load(path: config)
            let redis = loaded.config.redis
            return KeyDirectory(redis: RedisConnection(config: redis), names: RedisKeys(prefix: redis.keyPrefix))
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key; it is shown once, only its hash is stored.")
        @OptionGroup var connection: Connection
        @Option(help: "A name for the key (who or what uses it).") var name: String
        @Option(help: "Comma-separated routes the key may use (default: all).") var routes: String?
        @Flag(help: "Print only the key.") var quiet = false

        func run() throws {
            let allowed = routes.map { Set($0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }) }
            let (key, record) = try connection.directory().create(name: name, routes: allowed)
            if quiet {
                print(key)
            } else {
                print("id:     \(record.id)")
                print("name:   \(record.name)")
                print("routes: \(allowed.map { $0.sorted().joined(separator: ",") } ?? "*")")
                print("key:    \(key)")
                print("The key is shown only now; Sluice stores its SHA-256 hash.")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never the keys themselves).")
        @OptionGroup var connection: Connection

        func run() throws {
            let records = try connection.directory().list()
            print("ID                 NAME                 PREFIX            ROUTES               CREATED               STATUS")
            for record in records {
                let created = Date(timeIntervalSince1970: TimeInterval(record.createdAt)).ISO8601Format()
                let status = record.revokedAt.map { "revoked \(Date(timeIntervalSince1970: TimeInterval($0)).ISO8601Format())" } ?? "active"
                let routes = record.routes.map { $0.sorted().joined(separator: ",") } ?? "*"
                print([record.id.padded(18), record.name.padded(20), record.displayPrefix.padded(17), routes.padded(20),
                       created.padded(21), status].joined(separator: " "))
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by id; every responder refuses it within seconds.")
        @OptionGroup var connection: Connection
        @Argument(help: "The key's id (key_…).") var id: String

        func run() throws {
            guard try connection.directory().revoke(id: id) else {
                printError("no key with id \(id)")
                throw ExitCode(1)
            }
            print("revoked \(id)")
        }
    }
}

extension String {
    func padded(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

/// A line on standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
