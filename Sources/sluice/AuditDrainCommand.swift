import ArgumentParser
import Glibc
import Logging
import SluiceCore
import SluiceGateway
import SluiceOps

/// `sluice audit drain`: moves audit records from the Redis stream to durable storage, at
/// least once (see `AuditDrainer`).
struct AuditDrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Move audit records from the Redis stream to files or PostgreSQL, at least once.",
        discussion: """
            Reads the audit stream as one consumer of a consumer group, makes each batch durable \
            (fsynced files, or a committed PostgreSQL transaction) and only then acknowledges it. \
            Entries a stopped drainer left pending are taken over after --claim-idle. Records that \
            are not JSON, or that keep failing for --max-deliveries deliveries, go to the dead-letter \
            stream. SIGINT/SIGTERM finish the batch in hand and exit 0.
            """)

    @OptionGroup var source: RedisSource
    @Option(help: "file:/path/dir (NDJSON per UTC day) or postgresql://user@host:port/db[?host=/socketdir].")
    var to: String = "file:./audit"
    @Option(help: "The consumer group; drainers of one stream share it.") var group: String = "drain"
    @Option(help: "This drainer's name in the group (default: hostname-pid).") var consumer: String?
    @Option(help: "Entries per batch (read, written and acknowledged together).") var batch: Int = 100
    @Option(help: "How long one read waits for new entries (e.g. 2s, 500ms).") var block: String = "2s"
    @Option(help: "Take over entries pending for longer than this (a stopped drainer's).") var claimIdle: String = "60s"
    @Option(help: "Deliveries before a failing entry goes to the dead-letter stream.") var maxDeliveries: Int = 5
    @Flag(help: "Drain what the stream holds now, then exit (for cron and tests).") var once = false
    @Flag(help: "With --once: print what was drained as one JSON object on standard output.") var json = false

    func validate() throws {
        if json && !once { throw ValidationError("--json needs --once (a running drainer reports in its log)") }
        _ = try options()
        _ = try AuditDestinations.make(to)
    }

    func run() throws {
        // Before anything starts a thread: the signals must be blocked in every thread.
        let stopRequested = AuditDrainer.stopOnTerminationSignals()
        LogSetup.bootstrap()
        let redis = try source.redisConfig()
        let drainer = AuditDrainer(redis: redis, keys: RedisKeys(prefix: redis.keyPrefix),
                                   destination: try AuditDestinations.make(to), options: try options(),
                                   logger: Logger(label: "audit-drain"))
        let summary = try drainer.run(once: once, stopRequested: stopRequested)
        if json { print(Self.json(summary)) }
    }

    /// `{"read":3,"claimed":0,"stored":3,…}`.
    static func json(_ summary: AuditDrainer.Summary) -> String {
        let fields = [("read", summary.read), ("claimed", summary.claimed), ("stored", summary.stored),
                      ("already_stored", summary.alreadyStored), ("dead_lettered", summary.deadLettered),
                      ("deferred", summary.deferred), ("trimmed", summary.trimmed)]
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    private func options() throws -> AuditDrainer.Options {
        guard (1...10_000).contains(batch) else { throw ValidationError("--batch must be between 1 and 10000") }
        guard maxDeliveries >= 1 else { throw ValidationError("--max-deliveries must be at least 1") }
        return AuditDrainer.Options(group: group, consumer: consumer ?? Self.defaultConsumer(), batch: batch,
                                    block: try Self.duration(block, "--block"),
                                    claimIdle: try Self.duration(claimIdle, "--claim-idle"),
                                    maxDeliveries: maxDeliveries)
    }

    private static func duration(_ text: String, _ option: String) throws -> Duration {
        guard let duration = DurationText.parse(text), duration > .zero else {
            throw ValidationError("\(option) must be a positive duration such as 500ms, 2s or 1m (got \(text))")
        }
        return duration
    }

    /// `hostname-pid`: unique among running drainers, and says where a pending entry is.
    private static func defaultConsumer() -> String {
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count) == 0
            ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "drainer"
        return "\(host)-\(getpid())"
    }
}
