/// One server-sent event read into its fields, and written back, for the translators
/// that re-shape streams (the HTML "event stream interpretation" rules, minus `id`/`retry`).
struct ServerSentEvent {
    /// The `event:` field, if any.
    var name: String?
    /// The `data:` lines joined with `\n`; `nil` for an event without data (a comment).
    var data: [UInt8]?

    init(name: String?, data: [UInt8]?) {
        self.name = name
        self.data = data
    }

    /// Reads one complete event (as `SSEFramer` hands it over): lines end in LF, CRLF or CR;
    /// one space after the colon is dropped; lines starting with `:` are comments.
    init(parsing event: ArraySlice<UInt8>) {
        var lineStart = event.startIndex
        var index = event.startIndex
        while index <= event.endIndex {
            if index == event.endIndex || event[index] == 0x0A || event[index] == 0x0D {
                Self.read(line: event[lineStart..<index], into: &self)
                if index < event.endIndex, event[index] == 0x0D, index + 1 < event.endIndex, event[index + 1] == 0x0A {
                    index += 1
                }
                lineStart = index + 1
            }
            index += 1
        }
    }

    private static func read(line: ArraySlice<UInt8>, into event: inout ServerSentEvent) {
        guard let first = line.first, first != UInt8(ascii: ":") else { return }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
        let field = line[line.startIndex..<colon]
        var value = colon < line.endIndex ? line[(colon + 1)...] : line[line.endIndex...]
        if value.first == 0x20 { value = value.dropFirst() }
        if field.elementsEqual("data".utf8) {
            if event.data == nil {
                event.data = Array(value)
            } else {
                event.data!.append(0x0A)
                event.data!.append(contentsOf: value)
            }
        } else if field.elementsEqual("event".utf8) {
            event.name = String(decoding: value, as: UTF8.self)
        }
    }

    /// `data: <json>\n\n` (an unnamed event, as OpenAI streams are written).
    static func unnamed(_ json: String) -> String { "data: \(json)\n\n" }

    /// `event: <name>\ndata: <json>\n\n` (a named event, as Anthropic streams are written).
    static func named(_ name: String, _ json: String) -> String { "event: \(name)\ndata: \(json)\n\n" }
}
