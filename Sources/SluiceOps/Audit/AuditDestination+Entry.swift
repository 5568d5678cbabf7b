import SluiceCore

// The unit destinations store: a stream entry whose record was checked, with the one-line
// JSON document that files and PostgreSQL both take.
extension AuditDrainer {
    /// One stream entry on its way to a destination.
    public struct Entry: Sendable {
        /// The stream id (`1795…-0`).
        public let streamId: String
        /// The record's JSON text as stored in the stream (a JSON object).
        public let record: String
        public let prev: String
        public let hash: String
        /// The record's `ts_ms`, or the stream id's time when the record has none.
        public let timeMs: Int64
        /// How often the group has delivered the entry, this delivery included.
        public let deliveries: Int
        /// What a destination stores for it, one line of JSON:
        /// `{"stream_id":"…","hash":"…","prev":"…","record":{…}}`.
        public let document: String
        /// Every field of the stream entry, in order (for a dead letter).
        let fields: [(String, String)]
    }
}

extension AuditDrainer.Entry {
    /// Checks the entry's record (it must be one JSON object) and builds its document.
    static func make(id: String, fields: [(String, String)], deliveries: Int) -> Result<Self, AuditDrainer.Malformed> {
        func field(_ name: String) -> String? { fields.first { $0.0 == name }?.1 }
        guard let text = field("record") else { return .failure(.init(reason: "malformed record: no record field")) }
        var record = Array(text.utf8)
        let members: [JSONScanner.Member]
        do {
            members = try JSONScanner.topLevelMembers(of: record)
        } catch {
            return .failure(.init(reason: "malformed record: not a JSON object (\(error))"))
        }
        // Outside strings JSON allows raw line breaks only as whitespace; as spaces they keep
        // the record's meaning and the document on one line.
        if record.contains(where: { $0 == 0x0A || $0 == 0x0D }) {
            record = record.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 }
        }
        let stamp = members.first { $0.key == "ts_ms" && $0.kind == .number }
            .flatMap { Int64(String(decoding: record[$0.range], as: UTF8.self)) }
        let prev = field("prev") ?? ""
        let hash = field("hash") ?? ""
        let document = "{\"stream_id\":\(JSONText.quoted(id)),\"hash\":\(JSONText.quoted(hash)),"
            + "\"prev\":\(JSONText.quoted(prev)),\"record\":\(String(decoding: record, as: UTF8.self))}"
        return .success(Self(streamId: id, record: text, prev: prev, hash: hash,
                             timeMs: stamp ?? StreamId(id)?.milliseconds ?? 0, deliveries: deliveries,
                             document: document, fields: fields))
    }
}
