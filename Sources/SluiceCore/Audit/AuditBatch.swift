/// One writer's next records as one `AuditScripts.appendBatch` call: each record numbered
/// in turn, and their usage totals (by route, key, model and each tag, per UTC day) summed
/// over the batch, so a batch of calls that share a route and a key adds to each total once.
public struct AuditBatch: Sendable {
    public let writer: String
    /// The sequence number of the batch's first record.
    public let firstSequence: Int
    private var entries: [(requestId: String, kind: String, json: String)] = []
    /// (usage hash, field) → amount, in first-seen order.
    private var increments: [(key: String, field: String, amount: Int)] = []
    private var incrementIndex: [String: [String: Int]] = [:]

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
        let increments: [(key: String, field: String, amount: Int)]
    }

    /// `record` as record number `sequence` of `writer`: what `add(_:)` appends.
    public static func prepare(_ record: AuditRecord, writer: String, sequence: Int, keys: RedisKeys) -> Prepared {
        var record = record
        record.writer = writer
        record.seq = sequence
        var increments: [(key: String, field: String, amount: Int)] = []
        let day = String(AuditRecord.iso8601(record.timeMs).prefix(10))
        let prompt = record.promptTokens ?? 0
        let completion = record.completionTokens ?? 0
        let costMicros = Int(((record.cost ?? 0) * 1_000_000).rounded())
        for (dimension, group) in usageGroups(of: record) {
            let key = keys.usage(day: day, dimension: dimension)
            increments.append((key, group + "|requests", 1))
            if prompt > 0 { increments.append((key, group + "|prompt_tokens", prompt)) }
            if completion > 0 { increments.append((key, group + "|completion_tokens", completion)) }
            if let read = record.cacheReadTokens, read > 0 { increments.append((key, group + "|cache_read_tokens", read)) }
            let writes = (record.cacheWriteTokens ?? 0) + (record.cacheWrite1hTokens ?? 0)
            if writes > 0 { increments.append((key, group + "|cache_write_tokens", writes)) }
            if let reasoning = record.reasoningTokens, reasoning > 0 { increments.append((key, group + "|reasoning_tokens", reasoning)) }
            if costMicros > 0 { increments.append((key, group + "|cost_micros", costMicros)) }
        }
        return Prepared(sequence: sequence, requestId: record.requestId, kind: "call", json: record.json, record: record,
                        increments: increments)
    }

    /// An alert record (its JSON already made) as record number `sequence`.
    public static func prepareAlert(json: String, requestId: String, sequence: Int) -> Prepared {
        prepareEntry(kind: "alert", json: json, requestId: requestId, sequence: sequence)
    }

    /// A record that is not a call's (`alert`, `admin`; its JSON already made), counted in
    /// no usage total.
    public static func prepareEntry(kind: String, json: String, requestId: String, sequence: Int) -> Prepared {
        Prepared(sequence: sequence, requestId: requestId, kind: kind, json: json, record: nil, increments: [])
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
        for increment in prepared.increments { add(increment.key, increment.field, increment.amount) }
    }

    /// Adds a record of kind `alert` (its JSON already made).
    public mutating func addAlert(json: String, requestId: String) {
        add(Self.prepareAlert(json: json, requestId: requestId, sequence: nextSequence))
    }

    /// The script call.
    public func call(keys: RedisKeys, maxLength: Int, usageTTLSeconds: Int) -> AdmissionPlan.ScriptCall {
        var usageKeys: [String] = []
        var fields: [String: [(field: String, amount: Int)]] = [:]
        for increment in increments {
            if fields[increment.key] == nil { usageKeys.append(increment.key) }
            fields[increment.key, default: []].append((increment.field, increment.amount))
        }
        var arguments = [AuditScripts.batchMarker, String(maxLength), writer, String(firstSequence), String(entries.count),
                         String(usageTTLSeconds)]
        arguments.reserveCapacity(arguments.count + entries.count * 3 + usageKeys.count + increments.count * 2)
        for entry in entries { arguments += [entry.requestId, entry.kind, entry.json] }
        for key in usageKeys {
            let pairs = fields[key] ?? []
            arguments.append(String(pairs.count))
            for pair in pairs { arguments += [pair.field, String(pair.amount)] }
        }
        return (AuditScripts.appendBatch, [keys.auditStream, keys.auditHead, keys.auditWriters] + usageKeys, arguments)
    }

    /// The usage groups a record counts in: its route, its key (or principal), the pair of
    /// both (`key-route`, for the prompt-cache hit ratio per key and route), its model and
    /// each of its tags.
    public static func usageGroups(of record: AuditRecord) -> [(dimension: String, group: String)] {
        let key = record.keyId ?? record.principal.map { "principal:" + $0 } ?? "-"
        var groups: [(dimension: String, group: String)] = [
            ("route", record.route ?? "-"),
            ("key", key),
            ("key-route", key + " " + (record.route ?? "-")),
            ("model", record.provider.map { p in record.providerModel.map { "\(p)/\($0)" } ?? p } ?? "-"),
        ]
        groups += record.tags.sorted { $0.key < $1.key }.map { ("tag:" + $0.key, $0.value) }
        return groups
    }

    private mutating func add(_ key: String, _ field: String, _ amount: Int) {
        if let at = incrementIndex[key]?[field] {
            increments[at].amount += amount
        } else {
            incrementIndex[key, default: [:]][field] = increments.count
            increments.append((key, field, amount))
        }
    }
}
