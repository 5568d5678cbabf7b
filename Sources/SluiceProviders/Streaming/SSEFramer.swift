/// Splits a server-sent-event byte stream into complete events as bytes arrive.
///
/// An event ends at a blank line (`\n\n`, `\r\n\r\n` or `\r\r`). Bytes of an unfinished
/// event wait in the framer until the rest arrives; nothing else is buffered.
public struct SSEFramer {
    private var pending: [UInt8] = []

    public init() {}

    /// Feeds `bytes` and calls `onEvent` with each event completed by them (terminator
    /// included). Stops early and returns `false` if `onEvent` returns `false`.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, onEvent: (ArraySlice<UInt8>) -> Bool) -> Bool {
        pending.append(contentsOf: bytes)
        var start = 0
        var index = 0
        let count = pending.count
        var keepGoing = true
        while index < count {
            let byte = pending[index]
            var end: Int?
            if byte == 0x0A, index + 1 < count, pending[index + 1] == 0x0A {
                end = index + 2
            } else if byte == 0x0D, index + 3 < count, pending[index + 1] == 0x0A, pending[index + 2] == 0x0D,
                      pending[index + 3] == 0x0A {
                end = index + 4
            } else if byte == 0x0D, index + 1 < count, pending[index + 1] == 0x0D {
                end = index + 2
            }
            if let end {
                if !onEvent(pending[start..<end]) { keepGoing = false }
                start = end
                index = end
                if !keepGoing { break }
            } else {
                index += 1
            }
        }
        pending.removeFirst(start)
        return keepGoing
    }

    /// Bytes of an event that never finished (the stream ended mid-event).
    public var unfinished: [UInt8] { pending }

    /// The data lines of an event joined (the `data:` field), for inspecting it.
    public static func data(of event: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        var result: ArraySlice<UInt8>?
        var lineStart = event.startIndex
        var index = event.startIndex
        while index <= event.endIndex {
            if index == event.endIndex || event[index] == 0x0A || event[index] == 0x0D {
                let line = event[lineStart..<index]
                if line.starts(with: Array("data:".utf8)) {
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
