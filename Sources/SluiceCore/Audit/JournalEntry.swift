/// One entry of a worker's audit journal (`AuditJournal`): the keys and arguments of a
/// one-record `AuditScripts.appendBatch` call, made for speed — it is written for every
/// call, on the request's own thread — and checked on replay, so a torn last entry (the
/// process died mid-write) or a damaged one is skipped rather than replayed.
///
/// Format: a header line `SJ1 <16 hex: FNV-1a 64 of the payload> <payload bytes>\n`, then the
/// payload: each of the key count, the keys and the arguments as `<byte count>\n<bytes>\n`.
/// (The spool, written only while Redis is away, keeps its JSON lines: `SpoolLine`.)
public enum JournalEntry {
    public static func encode(keys: [String], arguments: [String]) -> [UInt8] {
        var payload: [UInt8] = []
        payload.reserveCapacity(keys.count * 48 + arguments.reduce(16) { $0 + $1.utf8.count + 8 })
        func add(_ text: String) {
            payload.append(contentsOf: String(text.utf8.count).utf8)
            payload.append(10)
            payload.append(contentsOf: text.utf8)
            payload.append(10)
        }
        add(String(keys.count))
        for key in keys { add(key) }
        for argument in arguments { add(argument) }
        var out = Array("SJ1 ".utf8)
        out.reserveCapacity(payload.count + 40)
        out += Hex.lower(withUnsafeBytes(of: checksum(payload[...]).bigEndian) { Array($0) }).utf8
        out.append(32)
        out += String(payload.count).utf8
        out.append(10)
        out += payload
        return out
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
    public static func checksumForTests(_ bytes: [UInt8]) -> UInt64 { checksum(bytes[...]) }

    /// FNV-1a, 64 bits.
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt64 {
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
