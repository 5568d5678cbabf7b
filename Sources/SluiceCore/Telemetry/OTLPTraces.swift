/// One finished span, as the exporter encodes it.
public struct SpanData: Sendable {
    public enum Kind: UInt64, Sendable { case server = 2, client = 3 }
    public enum Value: Sendable, Equatable {
        case string(String), int(Int64), double(Double), bool(Bool), strings([String])
    }

    public var traceId: [UInt8]
    public var spanId: [UInt8]
    public var parentSpanId: [UInt8]?
    public var traceState: String?
    public var flags: UInt8
    public var name: String
    public var kind: Kind
    public var startUnixNanos: UInt64
    public var endUnixNanos: UInt64
    public var attributes: [(key: String, value: Value)]
    /// The status message of a failed span.
    public var error: String?
    public var failed: Bool

    public init(traceId: [UInt8], spanId: [UInt8], parentSpanId: [UInt8]?, traceState: String? = nil, flags: UInt8,
                name: String, kind: Kind, startUnixNanos: UInt64, endUnixNanos: UInt64,
                attributes: [(key: String, value: Value)], failed: Bool = false, error: String? = nil) {
        self.traceId = traceId
        self.spanId = spanId
        self.parentSpanId = parentSpanId
        self.traceState = traceState
        self.flags = flags
        self.name = name
        self.kind = kind
        self.startUnixNanos = startUnixNanos
        self.endUnixNanos = endUnixNanos
        self.attributes = attributes
        self.failed = failed
        self.error = error
    }
}

/// OTLP's `ExportTraceServiceRequest` (opentelemetry-proto, trace/v1 and collector/trace/v1)
/// in protobuf's binary wire format, written by hand for the handful of messages a span
/// needs: swift-protobuf's generated code would need protoc and its plugin in the build,
/// and swift-otel brings an async runtime the thread-per-request pool does not use.
public enum OTLPTraces {
    /// `resource`: attributes of the process (`service.name` …).
    public static func exportRequest(_ spans: [SpanData], resource: [(key: String, value: SpanData.Value)],
                                     scopeName: String, scopeVersion: String) -> [UInt8] {
        var resourceMessage = ProtoWriter()
        for attribute in resource { resourceMessage.message(1, keyValue(attribute.key, attribute.value)) }
        var scope = ProtoWriter()
        scope.string(1, scopeName)
        scope.string(2, scopeVersion)
        var scopeSpans = ProtoWriter()
        scopeSpans.message(1, scope.bytes)
        for span in spans { scopeSpans.message(2, encode(span)) }
        var resourceSpans = ProtoWriter()
        resourceSpans.message(1, resourceMessage.bytes)
        resourceSpans.message(2, scopeSpans.bytes)
        var request = ProtoWriter()
        request.message(1, resourceSpans.bytes)
        return request.bytes
    }

    static func encode(_ span: SpanData) -> [UInt8] {
        var out = ProtoWriter()
        out.bytes(1, span.traceId)
        out.bytes(2, span.spanId)
        if let state = span.traceState { out.string(3, state) }
        if let parent = span.parentSpanId { out.bytes(4, parent) }
        out.string(5, span.name)
        out.varint(6, span.kind.rawValue)
        out.fixed64(7, span.startUnixNanos)
        out.fixed64(8, span.endUnixNanos)
        for attribute in span.attributes { out.message(9, keyValue(attribute.key, attribute.value)) }
        var status = ProtoWriter()
        if let error = span.error { status.string(2, error) }
        status.varint(3, span.failed ? 2 : 0)  // STATUS_CODE_ERROR : STATUS_CODE_UNSET
        out.message(15, status.bytes)
        // SpanFlags: the W3C trace flags in the low byte, and "the parent is remote" known.
        let remoteKnown: UInt32 = 0x100, remote: UInt32 = 0x200
        out.fixed32(16, UInt32(span.flags) | remoteKnown | (span.kind == .server && span.parentSpanId != nil ? remote : 0))
        return out.bytes
    }

    static func keyValue(_ key: String, _ value: SpanData.Value) -> [UInt8] {
        var out = ProtoWriter()
        out.string(1, key)
        out.message(2, anyValue(value))
        return out.bytes
    }

    static func anyValue(_ value: SpanData.Value) -> [UInt8] {
        var out = ProtoWriter()
        switch value {
        case .string(let text): out.string(1, text)
        case .bool(let flag): out.varint(2, flag ? 1 : 0)
        case .int(let number): out.varint(3, UInt64(bitPattern: number))
        case .double(let number): out.fixed64(4, number.bitPattern)
        case .strings(let texts):
            var array = ProtoWriter()
            for text in texts { array.message(1, anyValue(.string(text))) }
            out.message(5, array.bytes)
        }
        return out.bytes
    }
}

/// Protobuf's wire format: varints, fixed-width numbers and length-delimited fields.
struct ProtoWriter {
    private(set) var bytes: [UInt8] = []

    private mutating func raw(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    private mutating func tag(_ field: UInt64, _ wireType: UInt64) { raw(field << 3 | wireType) }

    mutating func varint(_ field: UInt64, _ value: UInt64) {
        tag(field, 0)
        raw(value)
    }

    mutating func fixed64(_ field: UInt64, _ value: UInt64) {
        tag(field, 1)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    mutating func fixed32(_ field: UInt64, _ value: UInt32) {
        tag(field, 5)
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    mutating func bytes(_ field: UInt64, _ value: [UInt8]) {
        tag(field, 2)
        raw(UInt64(value.count))
        bytes += value
    }

    mutating func string(_ field: UInt64, _ value: String) { bytes(field, Array(value.utf8)) }
    mutating func message(_ field: UInt64, _ value: [UInt8]) { bytes(field, value) }
}
