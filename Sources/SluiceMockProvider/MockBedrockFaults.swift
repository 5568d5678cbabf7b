/// The fault keys only the Bedrock paths use, parsed with the others by ``MockFaults``
/// (model suffix `anthropic.claude-3-haiku-20240307-v1:0@tools=2`, `x-mock-*` headers, or a
/// runtime fault):
///
/// - `tools=N` (1–8): a tool-use answer calls the tool N times in parallel, one `toolUse`
///   block each (locations Paris, London, Tokyo, …).
/// - `exception=Type`: answer with that Bedrock error type (`ModelNotReadyException`,
///   `ModelErrorException`, `InvalidSignatureException`, …) and its modelled status;
///   `status=N` overrides the status.
/// - `stream_exception=member`: a ConverseStream ends with that exception message
///   (`throttlingException`, `modelStreamErrorException`, `internalServerException`,
///   `serviceUnavailableException`, `validationException`) after `stream_error` content
///   events (default 1).
/// - `stream_error=N`: a ConverseStream ends with an exception after N content events
///   (0: right after `messageStart`); the type is `stream_exception`'s, else
///   `modelStreamErrorException`.
/// - `bad_crc=N`: the message CRC of the Nth event stream message (from 1) is wrong.
struct MockBedrockFaults: Sendable, Equatable {
    var tools: Int?
    var exception: String?
    var streamException: String?
    var streamError: Int?
    var badCRC: Int?

    static let keys = ["tools", "exception", "stream_exception", "stream_error", "bad_crc"]

    /// The exception members of botocore's `ConverseStreamOutput`.
    static let streamExceptions = ["internalServerException", "modelStreamErrorException", "validationException",
                                   "throttlingException", "serviceUnavailableException"]

    /// Where and which exception ends a stream, if one does.
    var streamFailure: (afterContentEvents: Int, type: String)? {
        guard streamException != nil || streamError != nil else { return nil }
        return (streamError ?? 1, streamException ?? "modelStreamErrorException")
    }

    /// Sets `key` (`_` spelling) from `value`; `false` when the key is not one of these.
    mutating func set(_ key: String, _ value: String, param: String) throws(MockAPIError) -> Bool {
        switch key {
        case "tools":
            guard let count = Int(value), (1...8).contains(count) else { throw Self.bad(key, value, param) }
            tools = count
        case "exception":
            guard MockBedrockError.statuses[value] != nil || MockBedrockError.authenticationStatuses[value] != nil else {
                throw Self.bad(key, value, param)
            }
            exception = value
        case "stream_exception":
            guard Self.streamExceptions.contains(value) else { throw Self.bad(key, value, param) }
            streamException = value
        case "stream_error":
            guard let count = Int(value), count >= 0 else { throw Self.bad(key, value, param) }
            streamError = count
        case "bad_crc":
            guard let index = Int(value), index >= 1 else { throw Self.bad(key, value, param) }
            badCRC = index
        default:
            return false
        }
        return true
    }

    private static func bad(_ key: String, _ value: String, _ param: String) -> MockAPIError {
        .invalidValue(param, "mock fault \(key)=\(value) is out of range or malformed.")
    }
}
