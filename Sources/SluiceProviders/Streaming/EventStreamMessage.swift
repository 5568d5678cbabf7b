/// One message of the AWS event stream encoding (`application/vnd.amazon.eventstream`),
/// as Bedrock's ConverseStream sends them
/// (https://docs.aws.amazon.com/AmazonS3/latest/API/RESTSelectObjectAppendix.html, and
/// botocore's `eventstream.py`):
///
/// ```
/// total length (u32) | headers length (u32) | prelude CRC32 (u32, of the 8 bytes before)
/// headers (headers length bytes) | payload | message CRC32 (u32, of everything before it)
/// ```
///
/// All integers are big-endian. Each header is a name (u8 length + UTF-8), a type byte and
/// a value of that type (`EventStreamHeaderValue`).
public struct EventStreamMessage: Equatable {
    /// Headers by name, in wire order.
    public var headers: [(name: String, value: EventStreamHeaderValue)]
    public var payload: ArraySlice<UInt8>

    public init(headers: [(name: String, value: EventStreamHeaderValue)], payload: ArraySlice<UInt8>) {
        self.headers = headers
        self.payload = payload
    }

    /// Prelude (12 bytes) plus the message CRC (4): the size of a message with nothing in it.
    public static let minimumLength = 16
    /// Bedrock frames are small; anything near this is a corrupt length.
    public static let maximumLength = 24 * 1024 * 1024 + 128 * 1024

    /// Every header's value as text: strings as they are, other types as `description`.
    public var stringHeaders: [String: String] {
        var out: [String: String] = [:]
        for header in headers { out[header.name] = header.value.description }
        return out
    }

    /// The text value of header `name`.
    public func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value.description
    }

    public static func == (lhs: EventStreamMessage, rhs: EventStreamMessage) -> Bool {
        lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
            && lhs.payload.elementsEqual(rhs.payload)
    }

    /// Decodes one whole message (both CRCs checked).
    public static func decode(_ bytes: ArraySlice<UInt8>) throws(EventStreamError) -> EventStreamMessage {
        guard bytes.count >= minimumLength else { throw EventStreamError(.truncated, "a message is at least 16 bytes") }
        let start = bytes.startIndex
        let total = Int(readUInt32(bytes, at: start))
        let headersLength = Int(readUInt32(bytes, at: start + 4))
        guard CRC32.checksum(bytes[start..<start + 8]) == readUInt32(bytes, at: start + 8) else {
            throw EventStreamError(.preludeChecksum, "the prelude CRC32 does not match")
        }
        guard total == bytes.count, headersLength <= total - minimumLength else {
            throw EventStreamError(.badLength, "total length \(total), headers length \(headersLength), frame \(bytes.count) bytes")
        }
        let crcIndex = start + total - 4
        guard CRC32.checksum(bytes[start..<crcIndex]) == readUInt32(bytes, at: crcIndex) else {
            throw EventStreamError(.messageChecksum, "the message CRC32 does not match")
        }
        let headersEnd = start + 12 + headersLength
        let headers = try decodeHeaders(bytes[(start + 12)..<headersEnd])
        return EventStreamMessage(headers: headers, payload: bytes[headersEnd..<crcIndex])
    }

    private static func decodeHeaders(_ bytes: ArraySlice<UInt8>) throws(EventStreamError) -> [(name: String, value: EventStreamHeaderValue)] {
        var headers: [(name: String, value: EventStreamHeaderValue)] = []
        var index = bytes.startIndex
        func take(_ count: Int) throws(EventStreamError) -> ArraySlice<UInt8> {
            guard count >= 0, bytes.endIndex - index >= count else {
                throw EventStreamError(.badHeader, "a header runs past the headers section")
            }
            defer { index += count }
            return bytes[index..<index + count]
        }
        func integer(_ count: Int) throws(EventStreamError) -> UInt64 {
            try take(count).reduce(0) { $0 << 8 | UInt64($1) }
        }
        while index < bytes.endIndex {
            let nameLength = Int(try take(1).first!)
            guard nameLength > 0 else { throw EventStreamError(.badHeader, "a header name is empty") }
            let name = String(decoding: try take(nameLength), as: UTF8.self)
            let type = try take(1).first!
            let value: EventStreamHeaderValue
            switch type {
            case 0: value = .bool(true)
            case 1: value = .bool(false)
            case 2: value = .byte(Int8(truncatingIfNeeded: try integer(1)))
            case 3: value = .short(Int16(truncatingIfNeeded: try integer(2)))
            case 4: value = .integer(Int32(truncatingIfNeeded: try integer(4)))
            case 5: value = .long(Int64(bitPattern: try integer(8)))
            case 6: value = .bytes(Array(try take(Int(try integer(2)))))
            case 7: value = .string(String(decoding: try take(Int(try integer(2))), as: UTF8.self))
            case 8: value = .timestamp(Int64(bitPattern: try integer(8)))
            case 9: value = .uuid(Array(try take(16)))
            default: throw EventStreamError(.badHeader, "unknown header value type \(type) for '\(name)'")
            }
            headers.append((name, value))
        }
        return headers
    }

    static func readUInt32(_ bytes: ArraySlice<UInt8>, at index: Int) -> UInt32 {
        UInt32(bytes[index]) << 24 | UInt32(bytes[index + 1]) << 16 | UInt32(bytes[index + 2]) << 8 | UInt32(bytes[index + 3])
    }
}

/// A header value of the event stream encoding, by wire type (0–9).
public enum EventStreamHeaderValue: Equatable, Sendable, CustomStringConvertible {
    case bool(Bool)
    case byte(Int8)
    case short(Int16)
    case integer(Int32)
    case long(Int64)
    case bytes([UInt8])
    case string(String)
    /// Milliseconds since 1970.
    case timestamp(Int64)
    case uuid([UInt8])

    public var description: String {
        switch self {
        case .bool(let value): return String(value)
        case .byte(let value): return String(value)
        case .short(let value): return String(value)
        case .integer(let value): return String(value)
        case .long(let value): return String(value)
        case .bytes(let value): return Base64.encode(value)
        case .string(let value): return value
        case .timestamp(let value): return String(value)
        case .uuid(let value):
            let hex = value.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
            var out = ""
            for (offset, character) in hex.enumerated() {
                if [8, 12, 16, 20].contains(offset) { out.append("-") }
                out.append(character)
            }
            return out
        }
    }
}

/// Why event stream bytes could not be read.
public struct EventStreamError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case truncated, badLength, preludeChecksum, messageChecksum, badHeader
    }

    public let kind: Kind
    public let detail: String

    init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { "event stream \(kind.rawValue): \(detail)" }
}
