/// One entry of a worker's audit journal (`AuditJournal`): the keys and arguments of a
/// one-record `AuditScripts.appendBatch` call, made for speed — it is written for every
/// call, on the request's own thread — and checked on replay, so a torn last entry (the
/// process died mid-write) or a damaged one is skipped rather than replayed.
///
/// Format: a header line `SJ1 <16 hex: FNV-1a 64 of the payload> <payload bytes>\n`, then the
/// payload: each of the key count, the keys and the arguments as `<byte count>\n<bytes>\n`.
/// (The spool, written only while Redis is away, keeps its JSON lines: `SpoolLine`.)
public enum JournalEntry {
    /// One entry, made in one pass into one buffer sized first (it is made on the
    /// request's thread for every call): the header's checksum is filled in last.
    public static func encode(keys: [String], arguments: [String]) -> [UInt8] {
        let keyCount = decimalLength(keys.count)
        var payloadLength = decimalLength(keyCount) + keyCount + 2
        for text in keys { payloadLength += fieldLength(text.utf8.count) }
        for text in arguments { payloadLength += fieldLength(text.utf8.count) }
        var out: [UInt8] = []
        out.reserveCapacity(22 + decimalLength(payloadLength) + payloadLength)
        out += "SJ1 ".utf8
        let checksumAt = out.count
        out += repeatElement(UInt8(ascii: "0"), count: 16)
        out.append(32)
        appendDecimal(payloadLength, to: &out)
        out.append(10)
        let payloadAt = out.count
        appendDecimal(keyCount, to: &out)
        out.append(10)
        appendDecimal(keys.count, to: &out)
        out.append(10)
        for text in keys { appendField(text, to: &out) }
        for text in arguments { appendField(text, to: &out) }
        var sum = checksum(out[payloadAt...])
        for index in stride(from: checksumAt + 15, through: checksumAt, by: -1) {
            out[index] = hexDigits[Int(sum & 0xf)]
            sum >>= 4
        }
        return out
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// `<byte count>\n<bytes>\n` of a field of `count` bytes.
    private static func fieldLength(_ count: Int) -> Int {
        decimalLength(count) + count + 2
    }

    private static func appendField(_ text: String, to out: inout [UInt8]) {
        appendDecimal(text.utf8.count, to: &out)
        out.append(10)
        out.append(contentsOf: text.utf8)
        out.append(10)
    }

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
        let start = out.count
        var rest = value
        repeat {
            out.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        out[start...].reverse()
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
