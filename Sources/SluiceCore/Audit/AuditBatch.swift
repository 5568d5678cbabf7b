import Crypto

/// One writer's next records as one `AuditScripts.appendBatch` call: each record numbered
/// in turn, and their usage totals (by route, key, model and each tag, per UTC day) summed
/// over the batch, so a batch of calls that share a route and a key adds to each total once.
public struct AuditBatch: Sendable {
    public let writer: String
    /// The sequence number of the batch's first record.
    public let firstSequence: Int
    private var entries: [(requestId: String, kind: String, json: String)] = []
    /// Per usage hash (one per UTC day), in first-seen order, its fields and amounts in
    /// first-seen order.
    private var usage: [Usage] = []
    /// Per entry of `usage`: field → its index in the entry's fields.
    private var fieldIndex: [[String: Int]] = []
    /// The chain section of the script call (`AuditScripts.appendBatch`): the head the writer
    /// believes the stream has and the records' hashes from it (none: it only asks for the
    /// head in the reply).
    private var chain: (head: String, hashes: [String])?

    /// One usage hash's increments.
    typealias Usage = (key: String, fields: [(field: String, amount: Int)])

    public init(writer: String, firstSequence: Int) {
        self.writer = writer
        self.firstSequence = firstSequence
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }
    /// The sequence number the next record gets.
    public var nextSequence: Int { firstSequence + entries.count }

    /// A record numbered and made ready for a batch: its JSON and its usage increments.
    public struct Prepared: Sendable {
        public let sequence: Int
        public let requestId: String
        public let kind: String
        public let json: String
        /// The record as stored (writer and sequence filled in); nil for an alert.
        public let record: AuditRecord?
        /// Its usage increments, per usage hash (each hash once).
        let usage: [Usage]
    }

    /// `record` as record number `sequence` of `writer`: what `add(_:)` appends.
    public static func prepare(_ record: AuditRecord, writer: String, sequence: Int, keys: RedisKeys) -> Prepared {
        var record = record
        record.writer = writer
        record.seq = sequence
        let day = AuditRecord.day(record.timeMs)
        let prompt = record.promptTokens ?? 0
        let completion = record.completionTokens ?? 0
        let costMicros = Int(((record.cost ?? 0) * 1_000_000).rounded())
        let writes = (record.cacheWriteTokens ?? 0) + (record.cacheWrite1hTokens ?? 0)
        // Every dimension in the day's one hash; each (dimension, group) once, so no field
        // comes twice.
        var fields: [(field: String, amount: Int)] = []
        fields.reserveCapacity(48)
        for (dimension, group) in usageGroups(of: record) {
            let names = UsageFieldNames.of(dimension: dimension, group: group)
            fields.append((names.requests, 1))
            // The response cache's lookups and hits, per route only.
            if dimension == "route", let cache = record.cache, cache != "bypass" {
                fields.append((names.responseCacheLookups, 1))
                if cache == "hit" { fields.append((names.responseCacheHits, 1)) }
            }
            if prompt > 0 { fields.append((names.promptTokens, prompt)) }
            if completion > 0 { fields.append((names.completionTokens, completion)) }
            if let read = record.cacheReadTokens, read > 0 { fields.append((names.cacheReadTokens, read)) }
            if writes > 0 { fields.append((names.cacheWriteTokens, writes)) }
            if let reasoning = record.reasoningTokens, reasoning > 0 { fields.append((names.reasoningTokens, reasoning)) }
            if costMicros > 0 { fields.append((names.costMicros, costMicros)) }
        }
        // Per route and endpoint: upstream attempts (`requests`) and those that failed
        // (`errors`), so the spend report's error rates cover its days. A retry on the same
        // endpoint adds to its fields (a call has a few attempts: a linear search).
        let endpointFields = fields.count
        func count(_ field: String) {
            if let slot = fields[endpointFields...].firstIndex(where: { $0.field == field }) {
                fields[slot].amount += 1
            } else {
                fields.append((field, 1))
            }
        }
        for attempt in record.attempts {
            let names = UsageFieldNames.of(dimension: "endpoint", group: (record.route ?? "-") + " " + attempt.endpoint)
            count(names.requests)
            if attempt.failed { count(names.errors) }
        }
        return Prepared(sequence: sequence, requestId: record.requestId, kind: "call", json: record.json, record: record,
                        usage: [(keys.usage(day: day), fields)])
    }

    /// An alert record (its JSON already made) as record number `sequence`.
    public static func prepareAlert(json: String, requestId: String, sequence: Int) -> Prepared {
        prepareEntry(kind: "alert", json: json, requestId: requestId, sequence: sequence)
    }

    /// A record that is not a call's (`alert`, `admin`; its JSON already made), counted in
    /// no usage total.
    public static func prepareEntry(kind: String, json: String, requestId: String, sequence: Int) -> Prepared {
        Prepared(sequence: sequence, requestId: requestId, kind: kind, json: json, record: nil, usage: [])
    }

    /// Adds a call's record (numbered and signed with the writer here); returns it as stored.
    @discardableResult
    public mutating func add(_ record: AuditRecord, keys: RedisKeys) -> AuditRecord {
        let prepared = Self.prepare(record, writer: writer, sequence: nextSequence, keys: keys)
        add(prepared)
        return prepared.record!
    }

    /// Adds a prepared record; its number must be the batch's next.
    public mutating func add(_ prepared: Prepared) {
        precondition(prepared.sequence == nextSequence, "audit record \(prepared.sequence) out of order (expected \(nextSequence))")
        entries.append((prepared.requestId, prepared.kind, prepared.json))
        for hash in prepared.usage {
            // Nearly always the batch's one day.
            guard let at = usage.firstIndex(where: { $0.key == hash.key }) else {
                var index: [String: Int] = [:]
                index.reserveCapacity(hash.fields.count * 2)
                for (slot, pair) in hash.fields.enumerated() { index[pair.field] = slot }
                usage.append(hash)
                fieldIndex.append(index)
                continue
            }
            for (field, amount) in hash.fields {
                if let slot = fieldIndex[at][field] {
                    usage[at].fields[slot].amount += amount
                } else {
                    fieldIndex[at][field] = usage[at].fields.count
                    usage[at].fields.append((field, amount))
                }
            }
        }
    }

    /// Adds a record of kind `alert` (its JSON already made).
    public mutating func addAlert(json: String, requestId: String) {
        add(Self.prepareAlert(json: json, requestId: requestId, sequence: nextSequence))
    }

    /// Chains the batch's records after `head` (the stream's head as the writer last saw it)
    /// exactly as `AuditScripts.appendBatch` would: each hash is SHA-1 (lowercase hex) over the
    /// previous hash, a newline and the record. The script stores these when `head` is still
    /// the stream's, and hashes itself otherwise. Returns the batch's last hash.
    @discardableResult
    public mutating func chain(after head: String) -> String {
        var previous = head
        var hashes: [String] = []
        hashes.reserveCapacity(entries.count)
        for entry in entries {
            previous = Self.chainHash(prev: previous, record: entry.json)
            hashes.append(previous)
        }
        chain = (head, hashes)
        return previous
    }

    /// The hash an entry of the audit stream carries: lower-case hex SHA-1 of `prev + "\n" +
    /// record`, as `redis.sha1hex` computes it in `AuditScripts` (and `audit verify` checks it).
    public static func chainHash(prev: String, record: String) -> String {
        var hasher = Insecure.SHA1()
        var text = prev
        text.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        withUnsafeBytes(of: UInt8(10)) { hasher.update(bufferPointer: $0) }
        text = record
        text.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        return Hex.lower(hasher.finalize())
    }

    /// Asks for the stream's head in the script's reply, without a chain (the writer does
    /// not know the head yet).
    public mutating func askForHead() {
        chain = ("", [])
    }

    /// The script call.
    public func call(keys: RedisKeys, maxLength: Int, usageTTLSeconds: Int) -> AdmissionPlan.ScriptCall {
        Self.call(writer: writer, firstSequence: firstSequence, entries: entries, usage: usage, keys: keys,
                  maxLength: maxLength, usageTTLSeconds: usageTTLSeconds, chain: chain)
    }

    /// The script call of a batch of `prepared` alone (the journal's entry for it): the
    /// same as adding it to an empty batch, without the batch.
    public static func call(of prepared: Prepared, writer: String, keys: RedisKeys, maxLength: Int,
                            usageTTLSeconds: Int) -> AdmissionPlan.ScriptCall {
        call(writer: writer, firstSequence: prepared.sequence, entries: [(prepared.requestId, prepared.kind, prepared.json)],
             usage: prepared.usage, keys: keys, maxLength: maxLength, usageTTLSeconds: usageTTLSeconds)
    }

    /// The journal entry (`JournalEntry`) of `prepared` alone: the same bytes as
    /// `JournalEntry.encode` of `call(of:…)`, written without making its arguments.
    public static func journalEntry(of prepared: Prepared, writer: String, keys: RedisKeys, maxLength: Int,
                                    usageTTLSeconds: Int) -> [UInt8] {
        let usageFields = prepared.usage.reduce(0) { $0 + $1.fields.reduce(0) { $0 + $1.field.utf8.count + 16 } }
        var entry = JournalEntry.Writer(keyCount: 3 + prepared.usage.count,
                                        capacity: prepared.json.utf8.count + usageFields + 256)
        entry.field(keys.auditStream)
        entry.field(keys.auditHead)
        entry.field(keys.auditWriters)
        for hash in prepared.usage { entry.field(hash.key) }
        entry.field(AuditScripts.batchMarker)
        entry.field(maxLength)
        entry.field(writer)
        entry.field(prepared.sequence)
        entry.field(1)
        entry.field(usageTTLSeconds)
        entry.field(prepared.requestId)
        entry.field(prepared.kind)
        entry.field(prepared.json)
        for hash in prepared.usage {
            entry.field(hash.fields.count)
            for pair in hash.fields {
                entry.field(pair.field)
                entry.field(pair.amount)
            }
        }
        return entry.finished()
    }

    private static func call(writer: String, firstSequence: Int, entries: [(requestId: String, kind: String, json: String)],
                             usage: [Usage], keys: RedisKeys, maxLength: Int, usageTTLSeconds: Int,
                             chain: (head: String, hashes: [String])? = nil) -> AdmissionPlan.ScriptCall {
        var arguments = [AuditScripts.batchMarker, String(maxLength), writer, String(firstSequence), String(entries.count),
                         String(usageTTLSeconds)]
        arguments.reserveCapacity(arguments.count + entries.count * 3 + usage.reduce(0) { $0 + 1 + 2 * $1.fields.count })
        for entry in entries { arguments += [entry.requestId, entry.kind, entry.json] }
        var usageKeys = [keys.auditStream, keys.auditHead, keys.auditWriters]
        usageKeys.reserveCapacity(3 + usage.count)
        for hash in usage {
            usageKeys.append(hash.key)
            arguments.append(String(hash.fields.count))
            for pair in hash.fields { arguments += [pair.field, String(pair.amount)] }
        }
        if let chain {
            arguments.append(chain.head)
            arguments += chain.hashes
        }
        return (AuditScripts.appendBatch, usageKeys, arguments)
    }

    /// A field of a day's usage hash: `<dimension>=<group>|<total>` (`route=chat|requests`).
    /// A dimension has no `=` (`route`, `key`, `key-route`, `model`, `tag:<name>`: a tag
    /// name ends at the header's `=`), so the first `=` ends it; a group may hold any
    /// character, and the last `|` starts the total.
    public static func usageField(dimension: String, group: String, total: String) -> String {
        dimension + "=" + group + "|" + total
    }

    /// The usage groups a record counts in: its route, its key (or principal), the pair of
    /// both (`key-route`, for the prompt-cache hit ratio per key and route), its model and
    /// each of its tags. (`prepare` adds `endpoint`, `<route> <endpoint>`, per attempt.)
    public static func usageGroups(of record: AuditRecord) -> [(dimension: String, group: String)] {
        let key = record.keyId ?? record.principal.map { "principal:" + $0 } ?? "-"
        var groups: [(dimension: String, group: String)] = []
        groups.reserveCapacity(4 + record.tags.count)
        groups.append(("route", record.route ?? "-"))
        groups.append(("key", key))
        groups.append(("key-route", key + " " + (record.route ?? "-")))
        groups.append(("model", record.provider.map { p in record.providerModel.map { p + "/" + $0 } ?? p } ?? "-"))
        for (name, value) in record.tags.sorted(by: { $0.key < $1.key }) { groups.append(("tag:" + name, value)) }
        return groups
    }
}
