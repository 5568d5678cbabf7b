import Foundation
import SluiceCore

/// OpenAI's `encoding_format` for embeddings: `float` (a JSON array) or `base64` (the
/// little-endian IEEE-754 float32 bytes of the vector, base64-encoded, as OpenAI returns them).
enum EmbeddingEncoding {
    /// Whether the client's embeddings request asked for `encoding_format: "base64"`.
    static func wantsBase64(_ request: APIRequest) -> Bool {
        guard request.operation == .embeddings,
              let members = try? JSONScanner.topLevelMembers(of: request.body),
              let format = members.first(where: { $0.key == "encoding_format" }), format.kind == .string else { return false }
        return JSONScanner.decodeString(at: format.range, in: request.body) == "base64"
    }

    /// A vector as OpenAI's base64: float32 little-endian bytes.
    static func base64(_ vector: [Double]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(vector.count * 4)
        for value in vector {
            let bits = Float(value).bitPattern
            bytes += [UInt8(truncatingIfNeeded: bits), UInt8(truncatingIfNeeded: bits >> 8),
                      UInt8(truncatingIfNeeded: bits >> 16), UInt8(truncatingIfNeeded: bits >> 24)]
        }
        return Base64.encode(bytes)
    }

    /// An OpenAI-shaped embeddings list whose vectors are float arrays, with each vector
    /// turned into base64; `nil` when there is nothing to convert (the provider already
    /// honoured `base64`) or the body is not such a list.
    static func convertingToBase64(_ body: [UInt8]) -> [UInt8]? {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
              var data = object["data"] as? [[String: Any]] else { return nil }
        var converted = false
        for index in data.indices {
            guard let vector = data[index]["embedding"] as? [NSNumber] else { continue }
            data[index]["embedding"] = base64(vector.map(\.doubleValue))
            converted = true
        }
        guard converted else { return nil }
        object["data"] = data
        return try? JSONOutput.bytes(object)
    }
}
