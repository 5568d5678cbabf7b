import SluiceCore
import SluiceRedis

/// Checking the audit stream's hash chain (what `sluice audit verify` does).
///
/// Every entry stores `prev` (the hash of the entry appended before it) and `hash` =
/// SHA-1 hex of `prev + "\n" + record` (`AuditScripts.append`). Walking a range in stream
/// order, an entry whose `hash` does not match its own `prev` and `record` was altered;
/// an entry whose `prev` is not the stored `hash` of the entry before it has lost its
/// predecessor (deleted, or altered and re-hashed). The first entry of a range is trusted
/// for its `prev`: the stream is trimmed with `MAXLEN ~`, so the entry before it is gone
/// by design.
///
/// The chain alone cannot show that the newest entries were deleted: nothing after them
/// points back at them.
public struct AuditChain: Sendable {
    /// One stream entry, with the fields the chain is made of.
    public struct Entry: Sendable, Equatable {
        /// The stream id (`1795…-0`).
        public var id: String
        public var prev: String
        public var hash: String
        /// The record's JSON text, exactly as stored.
        public var record: String

        public init(id: String, prev: String, hash: String, record: String) {
            self.id = id
            self.prev = prev
            self.hash = hash
            self.record = record
        }
    }

    /// Where the chain does not hold.
    public struct Break: Sendable, Equatable, CustomStringConvertible {
        public enum Kind: Sendable, Equatable {
            /// The entry's hash does not match its `prev` and `record`.
            case altered
            /// The entry's `prev` is not the hash of the entry before it in the stream:
            /// something between them is missing.
            case missingBefore
        }

        public var kind: Kind
        /// The entry where the break shows.
        public var entryId: String
        /// For `missingBefore`: the entry the chain should have continued from.
        public var previousId: String?

        public init(kind: Kind, entryId: String, previousId: String? = nil) {
            self.kind = kind
            self.entryId = entryId
            self.previousId = previousId
        }

        public var description: String {
            switch kind {
            case .altered:
                return "\(entryId): altered (its hash does not match its record)"
            case .missingBefore:
                return "\(entryId): chain broken after \(previousId ?? "?") "
                    + "(an entry between them was deleted, or altered and re-hashed)"
            }
        }
    }

    /// What a check found.
    public struct Report: Sendable, Equatable {
        /// Entries checked.
        public var checked: Int
        public var firstId: String?
        public var lastId: String?
        public var breaks: [Break]

        public var intact: Bool { breaks.isEmpty }
    }

    public private(set) var checked = 0
    public private(set) var breaks: [Break] = []
    private var first: String?
    private var previous: Entry?

    /// An empty check; feed entries in stream order with `check(_:)`.
    public init() {}

    /// The report so far.
    public var report: Report {
        Report(checked: checked, firstId: first, lastId: previous?.id, breaks: breaks)
    }

    /// Checks the next entry in stream order against itself and the entry before it.
    public mutating func check(_ entry: Entry) {
        if let previous, entry.prev != previous.hash {
            breaks.append(Break(kind: .missingBefore, entryId: entry.id, previousId: previous.id))
        }
        if entry.hash != Self.hash(prev: entry.prev, record: entry.record) {
            breaks.append(Break(kind: .altered, entryId: entry.id))
        }
        if first == nil { first = entry.id }
        previous = entry
        checked += 1
    }

    /// Checks `entries`, given in stream order.
    public static func verify(_ entries: [Entry]) -> Report {
        var chain = AuditChain()
        for entry in entries { chain.check(entry) }
        return chain.report
    }

    /// The hash an entry must carry (`AuditBatch.chainHash`: what the append scripts and
    /// the worker's settler compute).
    public static func hash(prev: String, record: String) -> String {
        AuditBatch.chainHash(prev: prev, record: record)
    }

    /// Reads the stream from `from` to `to` (inclusive stream ids, or `-` / `+`) with
    /// `XRANGE` in pages of `pageSize` and checks every entry.
    /// See https://redis.io/docs/latest/commands/xrange/.
    public static func verify(redis: RedisConnection, stream: String, from: String = "-", to: String = "+",
                              pageSize: Int = 1000) throws(RedisError) -> Report {
        var chain = AuditChain()
        var start = from
        while true {
            let reply = try redis.checked(["XRANGE", stream, start, to, "COUNT", String(pageSize)], idempotent: true)
            let page = try entries(reply)
            for entry in page { chain.check(entry) }
            guard page.count == pageSize, let last = page.last, let next = successor(of: last.id) else { break }
            start = next
        }
        return chain.report
    }

    /// The entries of an `XRANGE` / `XREAD` stream reply (`[[id, [field, value, …]], …]`).
    /// A missing field reads as empty, so such an entry shows as altered.
    static func entries(_ reply: RedisValue) throws(RedisError) -> [Entry] {
        guard case .array(let items) = reply else {
            throw RedisError(.protocolMismatch, "unexpected reply to XRANGE")
        }
        var out: [Entry] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard case .array(let pair) = item, pair.count == 2, let id = pair[0].text else {
                throw RedisError(.protocolMismatch, "unexpected stream entry in an XRANGE reply")
            }
            let fields = pair[1].fieldMap
            out.append(Entry(id: id, prev: fields["prev"] ?? "", hash: fields["hash"] ?? "",
                             record: fields["record"] ?? ""))
        }
        return out
    }

    /// The smallest stream id after `id` (`5-3` → `5-4`), for the next page's inclusive start.
    static func successor(of id: String) -> String? {
        let parts = id.split(separator: "-")
        guard parts.count == 2, let ms = UInt64(parts[0]), let seq = UInt64(parts[1]) else { return nil }
        if seq < UInt64.max { return "\(ms)-\(seq + 1)" }
        return ms < UInt64.max ? "\(ms + 1)-0" : nil
    }
}
