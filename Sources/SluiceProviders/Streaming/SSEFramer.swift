/// Splits a server-sent-event byte stream into complete events as bytes arrive.
///
/// An event ends at a blank line (`\n\n`, `\r\n\r\n` or `\r\r`). Bytes of an unfinished
/// event wait in the framer until the rest arrives; nothing else is buffered.
public struct SSEFramer {
    private var pending: [UInt8] = []
    /// How far into `pending` the previous feed already looked (no terminator before it).
    private var scanned = 0
    /// The previous event ended on a CR that was the last byte; an LF now belongs to it.
    private var skipLeadingLineFeed = false

    public init() {}

    /// Feeds `bytes` and calls `onEvent` with each event completed by them (terminator
    /// included). Stops early and returns `false` if `onEvent` returns `false`.
    ///
    /// Lines end in CRLF, LF or CR (any mix, as the SSE spec allows); an event ends at
    /// the first empty line. A CR at the very end of the bytes waits for the next feed,
    /// since an LF may follow it.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, onEvent: (ArraySlice<UInt8>) -> Bool) -> Bool {
        pending.append(contentsOf: bytes)
        if skipLeadingLineFeed, let first = pending.first {
            if first == Self.lf { pending.removeFirst() }
            skipLeadingLineFeed = false
        }
        let count = pending.count
        var start = 0
        var index = scanned
        var keepGoing = true
        scan: while index < count {
            guard let lineEnd = terminatorEnd(at: index, count: count) else {
                if pending[index] == Self.cr { break scan }  // CR at the end: wait for more
                index += 1
                continue
            }
            guard lineEnd < count else { break scan }
            if pending[lineEnd] == Self.lf || pending[lineEnd] == Self.cr {
                // The empty line ends the event. When its CR is the last byte so far, the
                // line before decides: after a CRLF line wait for the LF; after a bare CR
                // (a CR-only stream) end the event now and drop an LF that may follow.
                var end = lineEnd + 1
                if pending[lineEnd] == Self.cr {
                    if lineEnd + 1 < count {
                        if pending[lineEnd + 1] == Self.lf { end += 1 }
                    } else if lineEnd - index == 2 {
                        break scan
                    } else {
                        skipLeadingLineFeed = true
                    }
                }
                if !onEvent(pending[start..<end]) { keepGoing = false }
                start = end
                index = end
                if !keepGoing { break scan }
            } else {
                index = lineEnd
            }
        }
        pending.removeFirst(start)
        scanned = max(0, index - start)
        return keepGoing
    }

    private static let lf: UInt8 = 0x0A
    private static let cr: UInt8 = 0x0D

    /// Where the line terminator at `index` ends, or `nil` if there is none there (or a
    /// final CR whose possible LF has not arrived).
    private func terminatorEnd(at index: Int, count: Int) -> Int? {
        switch pending[index] {
        case Self.lf: return index + 1
        case Self.cr:
            guard index + 1 < count else { return nil }
            return pending[index + 1] == Self.lf ? index + 2 : index + 1
        default: return nil
        }
    }

    /// Bytes of an event that never finished (the stream ended mid-event).
    public var unfinished: [UInt8] { pending }

    /// `data:`, made once (an array made per line was most of a stream's allocations).
    private static let dataField: [UInt8] = Array("data:".utf8)

    /// The data lines of an event joined (the `data:` field), for inspecting it.
    public static func data(of event: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        var result: ArraySlice<UInt8>?
        var lineStart = event.startIndex
        var index = event.startIndex
        while index <= event.endIndex {
            if index == event.endIndex || event[index] == 0x0A || event[index] == 0x0D {
                let line = event[lineStart..<index]
                if line.starts(with: Self.dataField) {
                    var value = line.dropFirst(5)
                    if value.first == 0x20 { value = value.dropFirst() }
                    // Multi-line data is rare in provider streams; the first line is enough
                    // for the markers checked here.
                    if result == nil { result = value }
                }
                lineStart = index + 1
            }
            index += 1
        }
        return result
    }
}
