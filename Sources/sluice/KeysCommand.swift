import ArgumentParser
import Foundation
import SluiceCore
import SluiceGateway
import SluiceRedis

/// `sluice keys …`: manage gateway keys (stored hashed in Redis).
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Create, list, rotate and revoke gateway keys.",
        subcommands: [Create.self, List.self, Revoke.self, Rotate.self])

    struct Connection: ParsableArguments {
        @OptionGroup var source: RedisSource

        func directory() throws -> KeyDirectory {
            let redis = try source.redisConfig()
            return KeyDirectory(redis: RedisConnection(config: redis), names: RedisKeys(prefix: redis.keyPrefix))
        }

        /// Records what was done as an `admin` audit record; a failure is reported and makes
        /// the command exit non-zero (the change itself was made).
        func audit(_ action: AdminAudit.Action) throws {
            let loaded = try source.loadConfig()
            let redis = try source.redisConfig(loaded)
            let maxLength = loaded?.config.audit.maxLength ?? AuditConfig().maxLength
            let connection = RedisConnection(config: redis)
            defer { connection.close() }
            let batch = AdminAudit.prepared(action, keys: RedisKeys(prefix: redis.keyPrefix))
            do {
                try AdminAudit.record(batch, redis: connection, keys: RedisKeys(prefix: redis.keyPrefix), maxLength: maxLength)
            } catch {
                // Once more (the same writer and number: appended at most once).
                do {
                    try AdminAudit.record(batch, redis: connection, keys: RedisKeys(prefix: redis.keyPrefix), maxLength: maxLength)
                } catch {
                    printError("\(action.name) was done, but its admin audit record could not be written: \(error)")
                    throw ExitCode(1)
                }
            }
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key; it is shown once, only its hash is stored.")
        @OptionGroup var connection: Connection
        @Option(help: "A name for the key (who or what uses it).") var name: String
        @Option(help: "Comma-separated routes the key may use (default: all).") var routes: String?
        @Option(name: .customLong("tag"), help: "A tag forced on every call (NAME=VALUE; repeatable). Clients cannot override it.")
        var tags: [String] = []
        @Option(name: .customLong("client-tags"),
                help: "Tags the client may add in X-Sluice-Tags: '*' (any, the default), 'none', or comma-separated names.")
        var clientTags: String = "*"
        @Option(name: .customLong("limit"), help: "A limit of this key: requests=N/WINDOW or tokens=N/WINDOW (repeatable), e.g. requests=100/1m.")
        var limits: [String] = []
        @Option(help: "Expire the key after this long (e.g. 30d, 12h).") var expires: String?
        @Option(name: .customLong("guardrails-off"), help: "Comma-separated route guardrails that do not apply to this key's calls.")
        var guardrailsOff: String?
        @Flag(help: "Print only the key.") var quiet = false
        @Flag(help: "Print one JSON object: the key (shown only now) and its record.") var json = false

        func run() throws {
            var policy = try KeysCommand.policy(routes: routes, tags: tags, clientTags: clientTags, limits: limits)
            policy.guardrailsOff = Set((guardrailsOff ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty })
            var expiresAtMs: Int64?
            if let expires {
                guard let duration = DurationText.parse(expires), duration > .zero else {
                    throw ValidationError("--expires takes a duration such as 30d or 12h")
                }
                expiresAtMs = Int64(Date().timeIntervalSince1970 * 1000) + duration.wholeMilliseconds
            }
            let (key, record) = try connection.directory().create(name: name, policy: policy, expiresAtMs: expiresAtMs)
            if json {
                try KeysCommand.printJSON(KeysCommand.object(record).merging(["key": key]) { $1 })
            } else if quiet {
                print(key)
            } else {
                KeysCommand.describe(record)
                print("key:         \(key)")
                print("The key is shown only now; Sluice stores its SHA-256 hash.")
            }
            // After the key is shown: a failed record must not lose it.
            try connection.audit(AdminAudit.Action("keys.create", details: [
                ("key_id", JSONText.quoted(record.id)), ("name", JSONText.quoted(record.name)),
                ("routes", record.routes.map { AdminAudit.list($0.sorted()) } ?? JSONText.quoted("*")),
                ("tags", AdminAudit.list(record.tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })),
                ("limits", AdminAudit.list(record.limits.map(LimitText.format))),
                ("guardrails_off", AdminAudit.list(record.guardrailsOff.sorted())),
                ("expires", record.expiresAtMs.map { JSONText.quoted(AuditRecord.iso8601(Int64($0))) } ?? "null"),
            ]))
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace a key with a new one of the same policy; the old one works for the grace period, then is refused.")
        @OptionGroup var connection: Connection
        @Argument(help: "The key's id (key_…).") var id: String
        @Option(help: "How long the old key keeps working (e.g. 0s, 10m, 1d).") var grace: String = "1h"
        @Flag(help: "Print only the new key.") var quiet = false
        @Flag(help: "Print one JSON object: the new key (shown only now), its record and the old key's end.") var json = false

        func run() throws {
            guard let grace = DurationText.parse(self.grace) else {
                throw ValidationError("--grace takes a duration such as 0s, 10m or 1d")
            }
            guard let rotated = try connection.directory().rotate(id: id, grace: grace) else {
                printError("no active key with id \(id)")
                throw ExitCode(1)
            }
            let until = Date(timeIntervalSince1970: Double(rotated.old.expiresAtMs ?? 0) / 1000).ISO8601Format()
            if json {
                try KeysCommand.printJSON(KeysCommand.object(rotated.record)
                    .merging(["key": rotated.key, "replaces": id, "old_key_until": until]) { $1 })
            } else if quiet {
                print(rotated.key)
            } else {
                KeysCommand.describe(rotated.record)
                print("key:         \(rotated.key)")
                print("The old key \(id) works until \(until), then every responder refuses it.")
            }
            // After the new key is shown: the old one is already on its way out.
            try connection.audit(AdminAudit.Action("keys.rotate", details: [
                ("key_id", JSONText.quoted(id)), ("new_key_id", JSONText.quoted(rotated.record.id)),
                ("name", JSONText.quoted(rotated.record.name)),
                ("old_key_until", JSONText.quoted(AuditRecord.iso8601(Int64(rotated.old.expiresAtMs ?? 0)))),
            ]))
        }
    }

    /// A policy from the command line's options.
    static func policy(routes: String?, tags: [String], clientTags: String, limits: [String]) throws -> AccessPolicy {
        var policy = AccessPolicy()
        policy.routes = routes.map { Set($0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }) }
        for tag in tags {
            let parts = tag.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, !parts[0].contains(","), !parts[1].contains(",") else {
                throw ValidationError("--tag takes NAME=VALUE (no commas), got '\(tag)'")
            }
            policy.tags[parts[0]] = parts[1]
        }
        policy.clientTags = clientTags == "none" ? .none : ClientTagPolicy(text: clientTags)
        for text in limits {
            guard let limit = LimitText.parse(text) else {
                throw ValidationError("--limit takes requests=N/WINDOW or tokens=N/WINDOW, got '\(text)'")
            }
            policy.limits.append(limit)
        }
        return policy
    }

    /// A key's record for `--json` (never the key's hash).
    static func object(_ record: GatewayKeyRecord) -> [String: Any] {
        var object: [String: Any] = [
            "id": record.id, "name": record.name, "prefix": record.displayPrefix,
            "routes": record.routes.map { $0.sorted() as Any } ?? "*", "tags": record.tags,
            "client_tags": record.clientTags == .none ? "none" : record.clientTags.text,
            "limits": record.limits.map(LimitText.format),
        ]
        if let expires = record.expiresAtMs {
            object["expires"] = Date(timeIntervalSince1970: Double(expires) / 1000).ISO8601Format()
        }
        return object
    }

    static func printJSON(_ object: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    static func describe(_ record: GatewayKeyRecord) {
        print("id:          \(record.id)")
        print("name:        \(record.name)")
        print("routes:      \(record.routes.map { $0.sorted().joined(separator: ",") } ?? "*")")
        print("tags:        \(record.tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))")
        print("client tags: \(record.clientTags == .none ? "none" : record.clientTags.text)")
        print("limits:      \(record.limits.map(LimitText.format).joined(separator: "; "))")
        print("expires:     \(record.expiresAtMs.map { Date(timeIntervalSince1970: Double($0) / 1000).ISO8601Format() } ?? "never")")
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never the keys themselves).")
        @OptionGroup var connection: Connection
        @Flag(help: "Print one JSON object per key.") var json = false

        func run() throws {
            let records = try connection.directory().list()
            let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
            let rows: [[String]] = records.map { record in
                let created = Date(timeIntervalSince1970: TimeInterval(record.createdAt)).ISO8601Format()
                var status = record.revokedAt.map { "revoked \(Date(timeIntervalSince1970: TimeInterval($0)).ISO8601Format())" } ?? "active"
                if record.revokedAt == nil, let expires = record.expiresAtMs {
                    let when = Date(timeIntervalSince1970: Double(expires) / 1000).ISO8601Format()
                    let verb = expires <= nowMs ? "expired" : "expires"
                    status = record.rotatedTo.map { "rotated to \($0), \(verb) \(when)" } ?? "\(verb) \(when)"
                }
                let routes = record.routes.map { $0.sorted().joined(separator: ",") } ?? "*"
                return [record.id, record.name, record.displayPrefix, routes, created, status]
            }
            if json {
                let names = ["id", "name", "prefix", "routes", "created", "status"]
                for row in rows {
                    let object = Dictionary(uniqueKeysWithValues: zip(names, row))
                    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                }
                return
            }
            // Columns as wide as their longest value, so every row lines up with the header.
            let header = ["ID", "NAME", "PREFIX", "ROUTES", "CREATED", "STATUS"]
            let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            for row in [header] + rows {
                print(row.enumerated().map { $1.padded($0 == row.count - 1 ? 0 : widths[$0]) }.joined(separator: "  "))
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by id; every responder refuses it within seconds.")
        @OptionGroup var connection: Connection
        @Argument(help: "The key's id (key_…).") var id: String
        @Flag(help: "Print one JSON object.") var json = false

        func run() throws {
            guard try connection.directory().revoke(id: id) else {
                printError("no key with id \(id)")
                throw ExitCode(1)
            }
            if json { try KeysCommand.printJSON(["id": id, "revoked": true]) } else { print("revoked \(id)") }
            try connection.audit(AdminAudit.Action("keys.revoke", details: [("key_id", JSONText.quoted(id))]))
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
