/// One Redis reply, copied out of hiredis's `redisReply` at once.
public enum RedisValue: Sendable, Equatable {
    case string([UInt8])
    case integer(Int)
    case array([RedisValue])
    case null
    case status(String)
    case error(String)

    /// The reply as text, for bulk strings and status replies.
    public var text: String? {
        switch self {
        case .string(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .status(let text): return text
        case .integer(let value): return String(value)
        default: return nil
        }
    }

    /// The reply as an integer, for integer replies and numeric strings.
    public var integer: Int? {
        switch self {
        case .integer(let value): return value
        case .string: return text.flatMap { Int($0) }
        default: return nil
        }
    }

    /// A flat `[field, value, field, value…]` array (HGETALL) as a dictionary.
    public var fieldMap: [String: String] {
        guard case .array(let items) = self else { return [:] }
        var out: [String: String] = [:]
        var index = 0
        while index + 1 < items.count {
            if let key = items[index].text, let value = items[index + 1].text { out[key] = value }
            index += 2
        }
        return out
    }
}
