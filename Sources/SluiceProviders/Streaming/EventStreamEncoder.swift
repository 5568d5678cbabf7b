/// Writes AWS event stream messages: the inverse of `EventStreamMessage.decode`, for test
/// fixtures and for servers that imitate Bedrock (the mock provider).
public enum EventStreamEncoder {
    /// One whole message: prelude, headers, payload and both CRC32s.
    public static func encode(headers: [(name: String, value: EventStreamHeaderValue)], payload: [UInt8]) -> [UInt8] {
        var headerBytes: [UInt8] = []
        for header in headers {
            let name = Array(header.name.utf8)
            headerBytes.append(UInt8(truncatingIfNeeded: name.count))
            headerBytes += name
            switch header.value {
            case .bool(let value): headerBytes.append(value ? 0 : 1)
            case .byte(let value): headerBytes += [2, UInt8(bitPattern: value)]
            case .short(let value): headerBytes += [3] + bigEndian(UInt64(UInt16(bitPattern: value)), count: 2)
            case .integer(let value): headerBytes += [4] + bigEndian(UInt64(UInt32(bitPattern: value)), count: 4)
            case .long(let value): headerBytes += [5] + bigEndian(UInt64(bitPattern: value), count: 8)
            case .bytes(let value): headerBytes += [6] + bigEndian(UInt64(value.count), count: 2) + value
            case .string(let value):
                let text = Array(value.utf8)
                headerBytes += [7] + bigEndian(UInt64(text.count), count: 2) + text
            case .timestamp(let value): headerBytes += [8] + bigEndian(UInt64(bitPattern: value), count: 8)
            case .uuid(let value): headerBytes += [9] + value
            }
        }
        let total = 12 + headerBytes.count + payload.count + 4
        var out = bigEndian(UInt64(total), count: 4) + bigEndian(UInt64(headerBytes.count), count: 4)
        out += bigEndian(UInt64(CRC32.checksum(out)), count: 4)
        out += headerBytes
        out += payload
        out += bigEndian(UInt64(CRC32.checksum(out)), count: 4)
        return out
    }

    /// An event as Bedrock sends them: `:event-type`, `:content-type: application/json`,
    /// `:message-type: event`, and a JSON payload.
    public static func event(_ type: String, json: String) -> [UInt8] {
        encode(headers: [(":event-type", .string(type)), (":content-type", .string("application/json")),
                         (":message-type", .string("event"))],
               payload: Array(json.utf8))
    }

    /// A modelled exception inside a stream: `:exception-type` (e.g. `throttlingException`),
    /// `:message-type: exception`, and a JSON payload such as `{"message":"…"}`.
    public static func exception(_ type: String, json: String) -> [UInt8] {
        encode(headers: [(":exception-type", .string(type)), (":content-type", .string("application/json")),
                         (":message-type", .string("exception"))],
               payload: Array(json.utf8))
    }

    private static func bigEndian(_ value: UInt64, count: Int) -> [UInt8] {
        (0..<count).reversed().map { UInt8(truncatingIfNeeded: value >> (UInt64($0) * 8)) }
    }
}
