/// W3C Trace Context (`traceparent: 00-<trace-id>-<parent-id>-<flags>`): what a client
/// sends, and what the gateway sends on to the provider for each attempt.
public struct TraceContext: Sendable, Equatable {
    /// 16 bytes, never all zero.
    public var traceId: [UInt8]
    /// The span this context names as parent (8 bytes, never all zero).
    public var spanId: [UInt8]
    /// Trace flags; bit 0 is "sampled".
    public var flags: UInt8
    /// The client's `tracestate`, passed on unchanged.
    public var state: String?

    public init(traceId: [UInt8], spanId: [UInt8], flags: UInt8, state: String? = nil) {
        self.traceId = traceId
        self.spanId = spanId
        self.flags = flags
        self.state = state
    }

    public var sampled: Bool { flags & 1 == 1 }

    /// Parses a `traceparent` header; `nil` when it is not a valid version-00 value (or a
    /// later version whose first four fields are not valid), as the W3C spec says to
    /// treat it: a new trace is started instead.
    public init?(traceparent: String, tracestate: String? = nil) {
        let parts = traceparent.trimmingASCIIWhitespace().split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, let version = Self.hex(parts[0], count: 1), version[0] != 0xff,
              version[0] != 0 || parts.count == 4,
              let trace = Self.hex(parts[1], count: 16), trace.contains(where: { $0 != 0 }),
              let span = Self.hex(parts[2], count: 8), span.contains(where: { $0 != 0 }),
              let flags = Self.hex(parts[3], count: 1) else { return nil }
        self.init(traceId: trace, spanId: span, flags: flags[0],
                  state: tracestate.map { String($0.trimmingASCIIWhitespace().prefix(512)) }.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// The header value naming `span` as the parent.
    public func traceparent(parent span: [UInt8]) -> String {
        "00-" + Self.hexText(traceId) + "-" + Self.hexText(span) + "-" + Self.hexText([flags])
    }

    public var traceIdText: String { Self.hexText(traceId) }

    /// Lowercase hex only (the spec refuses uppercase).
    static func hex(_ text: Substring, count: Int) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count == count * 2 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        for index in stride(from: 0, to: utf8.count, by: 2) {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    public static func hexText(_ bytes: [UInt8]) -> String { Hex.lower(bytes) }

    /// A random non-zero id of 8 or 16 bytes.
    public static func randomId<G: RandomNumberGenerator>(bytes count: Int, using generator: inout G) -> [UInt8] {
        while true {
            var id: [UInt8] = []
            id.reserveCapacity(count)
            while id.count < count {
                var word = generator.next()
                for _ in 0..<8 where id.count < count {
                    id.append(UInt8(truncatingIfNeeded: word))
                    word >>= 8
                }
            }
            if id.contains(where: { $0 != 0 }) { return id }
        }
    }
}
