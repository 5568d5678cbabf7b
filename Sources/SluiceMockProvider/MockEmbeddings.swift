import Foundation

/// `POST /v1/embeddings`: one deterministic unit vector per input.
///
/// `input` is a string, an array of strings, a token array or an array of token arrays.
/// Dimension `d` of an input's vector comes from FNV-1a (64-bit) over the input's UTF-8
/// bytes, its offset basis mixed with `d`, passed through MurmurHash3's finalizer and
/// mapped to [-1, 1); the vector is then scaled to length 1 and
/// rounded to `Float`. `dimensions` defaults to 8. `encoding_format` `"float"` (the
/// default) gives numbers, `"base64"` the little-endian `Float32` bytes in base64, as
/// the official SDKs decode them. `prompt_tokens` counts words (tokens for token arrays).
enum MockEmbeddings {
    static let defaultDimensions = 8

    static func reply(to body: [String: Any], call: MockCall) throws(MockAPIError) -> MockReply.Body {
        guard let raw = body["input"], !(raw is NSNull) else { throw .missing("input") }
        let inputs = try MockEmbeddings.inputs(raw)
        let dimensions = try body.optionalInt("dimensions", minimum: 1) ?? defaultDimensions
        guard dimensions <= 4096 else { throw .invalidValue("dimensions", "expected at most 4096, got \(dimensions).") }
        let base64: Bool
        switch body["encoding_format"] {
        case nil, is NSNull: base64 = false
        case let format as String where format == "float" || format == "base64": base64 = format == "base64"
        default: throw .invalidValue("encoding_format", "expected 'float' or 'base64'.")
        }

        let data: [[String: Any]] = inputs.enumerated().map { index, input in
            let vector = MockEmbeddings.vector(for: input.text, dimensions: dimensions)
            let embedding: Any = base64 ? encodeBase64(vector) : vector.map { Double($0) }
            return ["object": "embedding", "index": index, "embedding": embedding]
        }
        let tokens = inputs.reduce(0) { $0 + $1.tokens }
        return .json(MockJSON.encode([
            "object": "list", "data": data, "model": call.model,
            "usage": ["prompt_tokens": tokens, "total_tokens": tokens],
        ] as [String: Any]))
    }

    /// The unit vector for `text`.
    static func vector(for text: String, dimensions: Int) -> [Float] {
        let bytes = Array(text.utf8)
        let raw: [Double] = (0..<dimensions).map { dimension in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ (UInt64(dimension) &* 0x9e37_79b9_7f4a_7c15)
            for byte in bytes {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
            return Double(mix(hash) >> 11) / Double(UInt64(1) << 53) * 2 - 1
        }
        let norm = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard norm > 0 else { return [1] + Array(repeating: 0, count: dimensions - 1) }
        return raw.map { Float($0 / norm) }
    }

    /// MurmurHash3's 64-bit finalizer: FNV-1a alone barely moves its high bits when only
    /// the last byte of the input changes.
    private static func mix(_ value: UInt64) -> UInt64 {
        var hash = value
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        hash = hash &* 0xc4ce_b9fe_1a85_ec53
        hash ^= hash >> 33
        return hash
    }

    /// Little-endian `Float32` bytes, base64-encoded.
    static func encodeBase64(_ vector: [Float]) -> String {
        var bytes = Data(capacity: vector.count * 4)
        for value in vector {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes.base64EncodedString()
    }

    private static func inputs(_ raw: Any) throws(MockAPIError) -> [(text: String, tokens: Int)] {
        if let text = raw as? String { return [(text, MockAnswer.words(of: text).count)] }
        guard let list = raw as? [Any], !list.isEmpty else {
            throw .invalidType("input", expected: "a string or a non-empty array of strings or tokens")
        }
        if let tokens = list as? [Int] { return [(tokens.map(String.init).joined(separator: " "), tokens.count)] }
        var inputs: [(text: String, tokens: Int)] = []
        for item in list {
            if let text = item as? String {
                inputs.append((text, MockAnswer.words(of: text).count))
            } else if let tokens = item as? [Int] {
                inputs.append((tokens.map(String.init).joined(separator: " "), tokens.count))
            } else {
                throw .invalidType("input", expected: "a string or an array of strings or tokens")
            }
        }
        return inputs
    }
}
