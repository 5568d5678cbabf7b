/// One entry of a worker's audit journal (`AuditJournal`): the keys and arguments of a
/// one-record `AuditScripts.appendBatch` call, made for speed — it is written for every
/// call, on the request's own thread — and checked on replay, so a torn last entry (the
/// process died mid-write) or a damaged one is skipped rather than replayed.
///
/// Format: a header line `SJ1 <16 hex: FNV-1a 64 of the payload> <payload bytes>\n`, then the
/// payload: each of the key count, the keys and the arguments as `<byte count>\n<bytes>\n`.
/// (The spool, written only while Redis is away, keeps its JSON lines: `SpoolLine`.)
public enum JournalEntry {
    /// One entry.
    public static func encode(keys: [String], arguments: [String]) -> [UInt8] {
        var entry = Writer(keyCount: keys.count, capacity: keys.reduce(arguments.reduce(0) { $0 + $1.utf8.count + 8 }) {
            $0 + $1.utf8.count + 8
        })
        for text in keys { entry.field(text) }
        for text in arguments { entry.field(text) }
        return entry.finished()
    }

    /// An entry written field by field (the keys first, then the arguments), for the one made
    /// on the request's thread for every call (`AuditBatch.journalEntry`): numbers are written
    /// as digits without a string, and the header with its checksum is put in front last.
    public struct Writer {
        private var payload: [UInt8] = []

        /// An entry of `keyCount` keys, about `capacity` bytes long.
        public init(keyCount: Int, capacity: Int) {
            payload.reserveCapacity(capacity + 48)
            field(keyCount)
        }

        public mutating func field(_ text: String) {
            var text = text
            text.withUTF8 { utf8 in
                appendDecimal(utf8.count, to: &payload)
                payload.append(10)
                payload.append(contentsOf: utf8)
                payload.append(10)
            }
        }

        /// `value` in decimal, as a field.
        public mutating func field(_ value: Int) {
            guard value >= 0 else { return field(String(value)) }
            appendDecimal(decimalLength(value), to: &payload)
            payload.append(10)
            appendDecimal(value, to: &payload)
            payload.append(10)
        }

        /// The entry: its header line, then the payload.
        public func finished() -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(payload.count + 48)
            out += "SJ1 ".utf8
            var sum = payload.withUnsafeBufferPointer { checksum($0) }
            let checksumAt = out.count
            out += repeatElement(UInt8(ascii: "0"), count: 16)
            for index in stride(from: checksumAt + 15, through: checksumAt, by: -1) {
                out[index] = hexDigits[Int(sum & 0xf)]
                sum >>= 4
            }
            out.append(32)
            appendDecimal(payload.count, to: &out)
            out.append(10)
            out += payload
            return out
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func decimalLength(_ value: Int) -> Int {
        var length = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            length += 1
        }
        return length
    }

    /// `value` (≥ 0) in decimal, without making a string.
    private static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        JSONBytes.appendDecimal(UInt64(value), to: &out)
    }

    /// The calls in `bytes`, in order; torn or damaged entries are skipped and counted.
    public static func decodeAll(_ bytes: [UInt8]) -> (calls: [(keys: [String], arguments: [String])], skipped: Int) {
        var calls: [(keys: [String], arguments: [String])] = []
        var skipped = 0
        var at = 0
        let magic = Array("SJ1 ".utf8)
        while at < bytes.count {
            // Find the next header.
            guard let start = find(magic, in: bytes, from: at) else { break }
            guard let newline = bytes[start...].firstIndex(of: 10) else { skipped += 1; break }
            let header = bytes[(start + magic.count)..<newline].split(separator: 32)
            guard header.count == 2, header[0].count == 16,
                  let length = Int(String(decoding: header[1], as: UTF8.self)), length >= 0,
                  length <= bytes.count - newline - 1 else {
                skipped += 1
                at = start + magic.count
                continue
            }
            let payload = bytes[(newline + 1)..<(newline + 1 + length)]
            let expected = Hex.lower(withUnsafeBytes(of: checksum(payload).bigEndian) { Array($0) })
            guard Array(header[0]) == Array(expected.utf8), let strings = fields(payload),
                  let keyCount = strings.first.flatMap({ Int($0) }), keyCount >= 0, strings.count >= keyCount + 1 else {
                skipped += 1
                at = start + magic.count
                continue
            }
            calls.append((Array(strings[1..<(1 + keyCount)]), Array(strings[(1 + keyCount)...])))
            at = newline + 1 + length
        }
        return (calls, skipped)
    }

    /// The checksum of `bytes`, for tests that forge entries.
    public static func checksumForTests(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBufferPointer { checksum($0) } }

    /// FNV-1a, 64 bits.
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.withUnsafeBufferPointer { checksum($0) }
    }

    static func checksum(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    private static func fields(_ payload: ArraySlice<UInt8>) -> [String]? {
        var strings: [String] = []
        var at = payload.startIndex
        while at < payload.endIndex {
            guard let newline = payload[at...].firstIndex(of: 10),
                  let count = Int(String(decoding: payload[at..<newline], as: UTF8.self)), count >= 0,
                  count < payload.endIndex - newline - 1, payload[newline + 1 + count] == 10 else { return nil }
            strings.append(String(decoding: payload[(newline + 1)..<(newline + 1 + count)], as: UTF8.self))
            at = newline + 2 + count
        }
        return strings
    }

    private static func find(_ needle: [UInt8], in bytes: [UInt8], from: Int) -> Int? {
        var index = from
        while index + needle.count <= bytes.count {
            if bytes[index] == needle[0] && Array(bytes[index..<(index + needle.count)]) == needle { return index }
            index += 1
        }
        return nil
    }
}
