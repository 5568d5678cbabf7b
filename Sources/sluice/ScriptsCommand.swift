import ArgumentParser
import SluiceCore

/// `sluice scripts`: the Lua scripts Sluice runs in Redis and their SHA-1s, to name what
/// `SLOWLOG GET`, `MONITOR` or `INFO commandstats` (all `evalsha`) show.
struct ScriptsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scripts",
        abstract: "List the Lua scripts Sluice runs in Redis, with the SHA-1 that EVALSHA and SLOWLOG show.")

    @Flag(help: "One JSON object per script, one per line.") var json = false

    func run() {
        for (name, script) in RedisScript.catalog {
            print(json ? "{\"name\":\(JSONText.quoted(name)),\"sha1\":\"\(script.sha1)\"}" : "\(script.sha1)  \(name)")
        }
    }
}
