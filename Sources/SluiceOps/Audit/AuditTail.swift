import Foundation
import SluiceCore
import SluiceRedis

/// Following the audit stream as calls complete (what `sluice audit tail` does).
///
/// Reads with blocking `XREAD BLOCK … STREAMS key <id>` from the last entry it has seen
/// (https://redis.io/docs/latest/commands/xread/), so no entry is skipped between two
/// reads; a start in the past first returns the backlog, a page at a time. Entries that
/// do not pass the `Filter` are read and dropped here: Redis cannot filter a stream.
public final class AuditTail {
    /// Where to start reading. Every start but `now` is inclusive.
    public enum Start: Sendable, Equatable {
        /// Only entries appended from now on (`$`).
        case now
        /// From this stream id (`1795…-3`, or `1795…` for `-0`).
        case id(String)
        /// From this time, in ms since the epoch (the stream id `<ms>-0`).
        case time(ms: Int64)
        /// From this many ms before Redis's clock (`-10m`).
        case ago(ms: Int64)

        /// `now`, a stream id, an ISO 8601 time (`2026-11-26T12:00:00Z`, fractions and
        /// offsets allowed), or a relative time (`-30s`, `-10m`, `-2h`, `-1d`).
        public init?(parsing text: String) {
            if text == "now" || text == "$" {
                self = .now
            } else if text.hasPrefix("-") {
                guard let duration = DurationText.parse(String(text.dropFirst())) else { return nil }
                self = .ago(ms: duration.wholeMilliseconds)
            } else if AuditTail.streamId(text) != nil {
                self = .id(text)
            } else if let date = AuditTail.isoDate(text) {
                self = .time(ms: Int64((date.timeIntervalSince1970 * 1000).rounded()))
            } else {
                return nil
            }
        }
    }

    /// One entry read from the stream.
    public struct Entry {
        public var id: String
        /// The entry's `kind` field: `call`, or `alert`.
        public var kind: String
        /// The record's JSON text, as stored.
        public var json: String
        /// The record parsed, or nil when it is not a JSON object.
        public var record: [String: Any]?

        public init(id: String, kind: String, json: String, record: [String: Any]?) {
            self.id = id
            self.kind = kind
            self.json = json
            self.record = record
        }
    }

    private let redis: RedisConnection
    private let stream: String
    private let filter: AuditFilter
    private let blockMs: Int64
    /// The id of the last entry read; the next read returns entries after it.
    public private(set) var position: String

    /// Opens a connection whose timeout outlasts each `XREAD BLOCK` of `block`, and
    /// resolves `start` to a stream id (`now`: the newest entry's; `ago`: by Redis's clock).
    public init(redis config: RedisConfig, stream: String, from start: Start, filter: AuditFilter,
                block: Duration = .seconds(5)) throws(RedisError) {
        var blocking = config
        blocking.timeout = config.timeout + block + .seconds(1)
        let redis = RedisConnection(config: blocking)
        switch start {
        case .now:
            let last = try redis.checked(["XREVRANGE", stream, "+", "-", "COUNT", "1"], idempotent: true)
            position = try AuditChain.entries(last).first?.id ?? "0-0"
        case .id(let id):
            position = Self.predecessor(of: Self.streamId(id) ?? id)
        case .time(let ms):
            position = Self.predecessor(of: "\(max(0, ms))-0")
        case .ago(let ms):
            let now = try Self.redisNow(redis)
            position = Self.predecessor(of: "\(max(0, now - ms))-0")
        }
        self.redis = redis
        self.stream = stream
        self.filter = filter
        blockMs = max(1, block.wholeMilliseconds)
    }

    /// Waits up to the block time for entries after `position` and returns those that
    /// pass the filter (possibly none), oldest first.
    public func next() throws(RedisError) -> [Entry] {
        let reply = try redis.checked(["XREAD", "COUNT", "1000", "BLOCK", String(blockMs), "STREAMS", stream, position],
                                      idempotent: true)
        guard case .array(let streams) = reply else { return [] }  // nil: nothing within the block time
        var out: [Entry] = []
        for item in streams {
            guard case .array(let pair) = item, pair.count == 2, case .array(let items) = pair[1] else {
                throw RedisError(.protocolMismatch, "unexpected reply to XREAD")
            }
            for item in items {
                guard case .array(let entry) = item, entry.count == 2, let id = entry[0].text else {
                    throw RedisError(.protocolMismatch, "unexpected stream entry in an XREAD reply")
                }
                position = id
                let fields = entry[1].fieldMap
                let json = fields["record"] ?? ""
                let record = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any]
                let read = Entry(id: id, kind: fields["kind"] ?? "", json: json, record: record)
                if filter.matches(read) { out.append(read) }
            }
        }
        return out
    }

    /// Calls `body` with every entry that passes the filter, until `count` have (forever
    /// when nil).
    public func follow(count: Int? = nil, _ body: (Entry) -> Void) throws(RedisError) {
        var remaining = count ?? Int.max
        while remaining > 0 {
            for entry in try next().prefix(remaining) {
                body(entry)
                remaining -= 1
            }
        }
    }

    /// `ms-seq` for a stream id (`ms` alone means `ms-0`), or nil.
    static func streamId(_ text: String) -> String? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) }),
              let ms = UInt64(parts[0]) else { return nil }
        guard parts.count == 2 else { return "\(ms)-0" }
        return UInt64(parts[1]).map { "\(ms)-\($0)" }
    }

    /// The largest stream id before `id`, so a read "after" it includes `id` itself.
    static func predecessor(of id: String) -> String {
        let parts = id.split(separator: "-")
        guard parts.count == 2, let ms = UInt64(parts[0]), let seq = UInt64(parts[1]) else { return id }
        if seq > 0 { return "\(ms)-\(seq - 1)" }
        return ms > 0 ? "\(ms - 1)-\(UInt64.max)" : "0-0"
    }

    private static func isoDate(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    private static func redisNow(_ redis: RedisConnection) throws(RedisError) -> Int64 {
        guard case .array(let time) = try redis.checked(["TIME"], idempotent: true), time.count == 2,
              let seconds = time[0].integer, let micros = time[1].integer else {
            throw RedisError(.protocolMismatch, "unexpected reply to TIME")
        }
        return Int64(seconds) * 1000 + Int64(micros / 1000)
    }
}

/// Which audit records `sluice audit tail` shows. Every condition given must hold.
public struct AuditFilter: Sendable, Equatable {
    /// Status patterns: `200`, `429`, `4xx`, `5xx`, or several separated by commas.
    public struct Status: Sendable, Equatable {
        /// Exact codes, and classes by their first digit.
        private var codes: Set<Int> = []
        private var classes: Set<Int> = []

        public init?(parsing text: String) {
            for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) {
                if part.count == 3, part.hasSuffix("xx"), let digit = Int(part.prefix(1)), (1...5).contains(digit) {
                    classes.insert(digit)
                } else if let code = Int(part), (100...599).contains(code) {
                    codes.insert(code)
                } else {
                    return nil
                }
            }
            if codes.isEmpty && classes.isEmpty { return nil }
        }

        public func matches(_ status: Int) -> Bool {
            codes.contains(status) || classes.contains(status / 100)
        }
    }

    /// Entry kinds to show (`call`, `alert`, `admin`); empty: every kind.
    public var kinds: Set<String> = []
    public var route: String?
    /// Tags the request must carry, each with this value.
    public var tags: [String: String]
    /// Matches the record's `principal` or its `key_id`.
    public var principal: String?
    public var status: Status?

    public init(route: String? = nil, tags: [String: String] = [:], principal: String? = nil, status: Status? = nil) {
        self.route = route
        self.tags = tags
        self.principal = principal
        self.status = status
    }

    /// True when nothing is filtered.
    public var isEmpty: Bool { kinds.isEmpty && route == nil && tags.isEmpty && principal == nil && status == nil }

    /// Whether `entry` passes. A record that is not JSON passes only an empty filter. The
    /// call filters (route, tags, principal, status) apply to call records only.
    public func matches(_ entry: AuditTail.Entry) -> Bool {
        if isEmpty { return true }
        if !kinds.isEmpty && !kinds.contains(entry.kind.isEmpty ? "call" : entry.kind) { return false }
        if route == nil && tags.isEmpty && principal == nil && status == nil { return true }
        guard let record = entry.record else { return false }
        if let route, record["route"] as? String != route { return false }
        if !tags.isEmpty {
            let present = record["tags"] as? [String: Any] ?? [:]
            for (name, value) in tags where present[name] as? String != value { return false }
        }
        if let principal, record["principal"] as? String != principal, record["key_id"] as? String != principal {
            return false
        }
        if let status {
            guard let code = AuditLine.integer(record["status"]), status.matches(code) else { return false }
        }
        return true
    }
}

/// One readable line per audit record, in aligned columns: time, status, route, the API
/// the client called (`chat`, `messages`, `count_tokens`, `responses`, `embeddings`,
/// `completions`, or the path), endpoint, latency, tokens (prompt/completion), principal
/// or key id, tags, and the error class when there is one. Every line lines up with the
/// header: the route and endpoint columns are as wide as the longest names in the config,
/// and a longer value (a route renamed since, a long principal) is cut with `…`; tags and
/// the error class come last, whole.
public struct AuditLine: Sendable {
    /// Colour the status (2xx green, 4xx yellow, 5xx red) with ANSI escapes.
    public var colour: Bool
    private var widths = [24, 6, 12, 12, 16, 8, 13, 20]
    /// The widest a route or endpoint column grows for the config's names.
    private static let maxNameWidth = 48

    /// `routes` and `endpoints`: the names the config has, so their columns fit them all.
    public init(colour: Bool, routes: [String] = [], endpoints: [String] = []) {
        self.colour = colour
        widths[2] = min(Self.maxNameWidth, max(widths[2], routes.map(\.count).max() ?? 0))
        widths[4] = min(Self.maxNameWidth, max(widths[4], endpoints.map(\.count).max() ?? 0))
    }

    /// The column titles, aligned with the first lines.
    public var header: String {
        join(["TIME", "STATUS", "ROUTE", "API", "ENDPOINT", "LATENCY", "TOKENS", "WHO", "TAGS"], rightAligned: [5, 6])
    }

    /// `entry` as one line.
    public mutating func format(_ entry: AuditTail.Entry) -> String {
        guard let record = entry.record else { return "\(entry.id)  (record is not JSON) \(entry.json)" }
        let time = record["time"] as? String ?? entry.id
        guard entry.kind == "call" || entry.kind.isEmpty else {
            return time.padded(widths[0]) + "  " + entry.kind.uppercased() + "  " + entry.json
        }
        func text(_ name: String) -> String? { record[name] as? String }
        let status = Self.integer(record["status"])
        let tokens = [Self.integer(record["prompt_tokens"]), Self.integer(record["completion_tokens"])]
        let tags = (record["tags"] as? [String: Any] ?? [:]).sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value as? String ?? "\($0.value)")" }.joined(separator: ",")
        var cells: [String] = [
            time, status.map(String.init) ?? "-", text("route") ?? "-", Self.api(text("path")), text("endpoint") ?? "-",
            Self.integer(record["latency_ms"]).map { "\($0)ms" } ?? "-",
            tokens.allSatisfy { $0 == nil } ? "-" : tokens.map { $0.map(String.init) ?? "-" }.joined(separator: "/"),
            text("principal") ?? text("key_id") ?? "-", tags.isEmpty ? "-" : tags,
        ]
        for column in widths.indices where cells[column].count > widths[column] {
            cells[column] = String(cells[column].prefix(widths[column] - 1)) + "…"
        }
        if let error = text("error_class") { cells.append(error) }
        var line = join(cells, rightAligned: [5, 6])
        if colour, let status, let code = [2: "32", 4: "33", 5: "31"][status / 100] {
            // The status is the second column; colour it after the padding is worked out.
            let start = line.index(line.startIndex, offsetBy: widths[0] + 2)
            let end = line.index(start, offsetBy: String(status).count)
            line.replaceSubrange(start..<end, with: "\u{1B}[\(code)m\(status)\u{1B}[0m")
        }
        return line
    }

    private func join(_ cells: [String], rightAligned: Set<Int>) -> String {
        cells.enumerated().map { column, cell in
            guard column < widths.count else { return cell }
            let pad = String(repeating: " ", count: max(0, widths[column] - cell.count))
            return rightAligned.contains(column) ? pad + cell : cell + pad
        }.joined(separator: "  ").trimmingTrailingSpaces()
    }

    /// The client API a record's path names.
    static func api(_ path: String?) -> String {
        switch path {
        case "/v1/chat/completions": return "chat"
        case "/v1/messages": return "messages"
        case "/v1/messages/count_tokens": return "count_tokens"
        case "/v1/completions": return "completions"
        case "/v1/embeddings": return "embeddings"
        case let path? where path.hasPrefix("/v1/responses"): return "responses"
        case let path?: return path
        case nil: return "-"
        }
    }

    /// An integer from a `JSONSerialization` value (a number, never a string).
    static func integer(_ value: Any?) -> Int? {
        switch value {
        case let number as Int: return number
        case let number as Double: return Int(number)
        case let number as NSNumber: return number.intValue
        default: return nil
        }
    }
}

extension String {
    fileprivate func padded(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    fileprivate func trimmingTrailingSpaces() -> String {
        var out = self
        while out.last == " " { out.removeLast() }
        return out
    }
}
