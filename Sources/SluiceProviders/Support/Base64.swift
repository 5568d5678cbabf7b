import Foundation

/// Standard base64 (RFC 4648, with padding), as JSON APIs carry binary data.
enum Base64 {
    static func encode(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// The bytes of `text`, or `nil` when it is not valid base64.
    static func decode(_ text: String) -> [UInt8]? { Data(base64Encoded: text).map { Array($0) } }
}
