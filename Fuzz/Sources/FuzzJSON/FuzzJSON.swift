import SluiceCore

/// libFuzzer entry point: the input is a request body.
///
/// 1. `JSONScanner.topLevelMembers(of:)`, and on success every nested object, array and
///    string through `members(of:in:)`, `elements(of:in:)` and `decodeString(at:in:)`,
///    checking that every range lies inside the bytes and that each decoded string
///    survives `JSONText.quoted` and a second scan unchanged.
/// 2. `APIRequest(operation:body:)` for every operation; a body it accepts must still be
///    a JSON object after `upstreamBody(model:params:)`.
///
/// A thrown error is an answer; a trap (or a failed `precondition` here) is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    scan(bytes)
    for operation in APIOperation.allCases {
        request(operation, bytes)
    }
    return 0
}

/// Walks a document the scanner accepted, as the providers' `JSONValue` does.
private func scan(_ bytes: [UInt8]) {
    // The gateway scans request bodies at the default depth and provider answers at 512.
    guard let members = try? JSONScanner.topLevelMembers(of: bytes, maxDepth: 512) else { return }
    _ = try? JSONScanner.topLevelMembers(of: bytes)
    walk(members, in: bytes, depth: 0)
}

private func walk(_ members: [JSONScanner.Member], in bytes: [UInt8], depth: Int) {
    for member in members {
        checkRoundTrip(member.key)
        value(member.kind, member.range, in: bytes, depth: depth + 1)
    }
}

private func value(_ kind: JSONScanner.Kind, _ range: Range<Int>, in bytes: [UInt8], depth: Int) {
    precondition(range.lowerBound >= 0 && range.upperBound <= bytes.count && !range.isEmpty, "range outside the bytes")
    switch kind {
    case .object:
        precondition(bytes[range.lowerBound] == UInt8(ascii: "{"), "object range does not start at '{'")
        walk(JSONScanner.members(of: range, in: bytes), in: bytes, depth: depth)
    case .array:
        precondition(bytes[range.lowerBound] == UInt8(ascii: "["), "array range does not start at '['")
        for element in JSONScanner.elements(of: range, in: bytes) {
            precondition(element.range.upperBound <= range.upperBound, "element outside its array")
            value(element.kind, element.range, in: bytes, depth: depth + 1)
        }
    case .string:
        precondition(bytes[range.lowerBound] == UInt8(ascii: "\"") && bytes[range.upperBound - 1] == UInt8(ascii: "\""),
                     "string range without its quotes")
        checkRoundTrip(JSONScanner.decodeString(at: range, in: bytes))
    case .number, .bool, .null:
        break
    }
}

/// A decoded string, written back as JSON and scanned again, is the same string.
private func checkRoundTrip(_ text: String) {
    let document = Array(("{\"k\":" + JSONText.quoted(text) + "}").utf8)
    guard let members = try? JSONScanner.topLevelMembers(of: document), members.count == 1 else {
        preconditionFailure("JSONText.quoted wrote a string the scanner refuses")
    }
    precondition(JSONScanner.decodeString(at: members[0].range, in: document) == text, "string changed in a round trip")
}

/// `APIRequest` for `operation`; an accepted body, re-spliced for upstream, stays a JSON object.
private func request(_ operation: APIOperation, _ bytes: [UInt8]) {
    guard let request = try? APIRequest(operation: operation, body: bytes) else { return }
    _ = request.memberNames
    _ = request.member("messages")
    // Parameters as routes set them: one likely present (replaced in place), one not (appended).
    let params: [(name: String, json: String)] = [("temperature", "0.5"), ("sluice_fuzz", #"{"a":[1,"b"]}"#)]
    let upstream = request.upstreamBody(model: "fuzz-upstream-\u{1F600}\"", params: params)
    guard let members = try? JSONScanner.topLevelMembers(of: upstream, maxDepth: 512) else {
        preconditionFailure("upstreamBody is not a JSON object: \(String(decoding: upstream, as: UTF8.self))")
    }
    let models = members.filter { $0.key == "model" }
    precondition(models.count == 1 && JSONScanner.decodeString(at: models[0].range, in: upstream) == "fuzz-upstream-\u{1F600}\"",
                 "upstreamBody lost or mangled 'model'")
}
