/// Splits an AWS event stream (`application/vnd.amazon.eventstream`) into whole messages
/// as bytes arrive, with the same shape as `SSEFramer`.
///
/// Each message states its length in its prelude; the framer waits for that many bytes,
/// checks the prelude and message CRC32s, and hands the message's bytes on. Decode them
/// with `EventStreamMessage.decode`.
///
/// A corrupt frame (a CRC mismatch or an impossible length) cannot be skipped, since its
/// length cannot be trusted: the framer hands its bytes on all the same (decoding them
/// fails, so the stream translator turns them into an error event), records `failure`,
/// returns `false`, and ignores any later bytes.
public struct EventStreamFramer {
    private var pending: [UInt8] = []
    /// Why the stream was given up, once a corrupt frame arrived.
    public private(set) var failure: EventStreamError?

    public init() {}

    /// Feeds `bytes` and calls `onEvent` with each message they complete. Returns `false`
    /// if `onEvent` returned `false` or a frame was corrupt.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, onEvent: (ArraySlice<UInt8>) -> Bool) -> Bool {
        guard failure == nil else { return false }
        pending.append(contentsOf: bytes)
        var start = 0
        defer { pending.removeFirst(start) }
        while pending.count - start >= 12 {
            let prelude = pending[start..<start + 12]
            let total = Int(EventStreamMessage.readUInt32(prelude, at: start))
            let headersLength = Int(EventStreamMessage.readUInt32(prelude, at: start + 4))
            let preludeValid = CRC32.checksum(pending[start..<start + 8]) == EventStreamMessage.readUInt32(prelude, at: start + 8)
            guard preludeValid, total >= EventStreamMessage.minimumLength, total <= EventStreamMessage.maximumLength,
                  headersLength <= total - EventStreamMessage.minimumLength else {
                failure = EventStreamError(preludeValid ? .badLength : .preludeChecksum,
                                           "corrupt prelude (total length \(total), headers length \(headersLength))")
                _ = onEvent(pending[start...])
                start = pending.count
                return false
            }
            guard pending.count - start >= total else { break }
            let message = pending[start..<start + total]
            start += total
            if CRC32.checksum(message.dropLast(4)) != EventStreamMessage.readUInt32(message, at: message.endIndex - 4) {
                failure = EventStreamError(.messageChecksum, "the message CRC32 does not match")
                _ = onEvent(message)
                start = pending.count
                return false
            }
            if !onEvent(message) { return false }
        }
        return true
    }

    /// Bytes of a message that never finished (the stream ended mid-message).
    public var unfinished: [UInt8] { pending }
}
