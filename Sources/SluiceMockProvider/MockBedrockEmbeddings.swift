import Foundation

/// `POST /model/{modelId}/invoke` for the embeddings models whose bodies Bedrock documents;
/// any other model is a `ValidationException`. Vectors come from ``MockEmbeddings/vector(for:dimensions:)``
/// (deterministic unit vectors); a "token" is a word.
///
/// - Amazon Titan Text Embeddings G1 (`amazon.titan-embed-text-v1`, `amazon.titan-embed-g1-text-02`):
///   `{"inputText"}` → `{"embedding": [1536 floats], "inputTextTokenCount"}`.
/// - Titan Text Embeddings V2 (`amazon.titan-embed-text-v2:0`): also `dimensions` (256, 512,
///   1024 = default), `normalize` (default true; false scales the vector by 1 + its token
///   count) and `embeddingTypes` (`float`, `binary`); the answer adds `embeddingsByType`
///   (always, `{"float": […]}` by default; `binary` is 1 for positive dimensions, else 0).
/// - Cohere Embed v3 (`cohere.embed-english-v3`, `cohere.embed-multilingual-v3`): `texts`
///   (up to 96), `input_type` (required), `truncate`, `embedding_types` (`float`, `int8`,
///   `uint8`, `binary`, `ubinary`) → `{"id", "texts", "embeddings": [[1024 floats]], "response_type":
///   "embeddings_floats"}`, or with `embedding_types` `"embeddings": {"float": [[…]], …}` and
///   `"embeddings_by_type"`.
///
/// Bodies are checked like Bedrock's JSON schemas: missing or unknown keys, wrong types and
/// values are `Malformed input request: #/…, please reformat your input and try again.`
/// Model ids may be foundation-model ARNs (the part after the last `/` counts).
enum MockBedrockEmbeddings {
    enum Family {
        case titanV1, titanV2, cohereV3
    }

    static func family(of modelID: String) -> Family? {
        let id = modelID.split(separator: "/").last.map(String.init) ?? modelID
        if id.hasPrefix("amazon.titan-embed-text-v1") || id.hasPrefix("amazon.titan-embed-g1-text") { return .titanV1 }
        if id.hasPrefix("amazon.titan-embed-text-v2") { return .titanV2 }
        if id.hasPrefix("cohere.embed-english-v3") || id.hasPrefix("cohere.embed-multilingual-v3") { return .cohereV3 }
        return nil
    }

    /// The answer's body and the input token count (for `X-Amzn-Bedrock-Input-Token-Count`).
    static func reply(to body: [String: Any], family: Family, call: MockCall) throws(MockBedrockError) -> ([String: Any], Int) {
        switch family {
        case .titanV1, .titanV2: try titan(body, v2: family == .titanV2)
        case .cohereV3: try cohere(body, call: call)
        }
    }

    private static func titan(_ body: [String: Any], v2: Bool) throws(MockBedrockError) -> ([String: Any], Int) {
        try allowOnly(v2 ? ["inputText", "dimensions", "normalize", "embeddingTypes"] : ["inputText"], in: body)
        let text: String = try required("inputText", in: body, type: "String")
        guard !text.isEmpty else { throw .malformedInput("#/inputText: expected minLength: 1, actual: 0") }
        let dimensions: Int = try optional("dimensions", in: body, type: "Integer") ?? (v2 ? 1024 : 1536)
        guard !v2 || [256, 512, 1024].contains(dimensions) else {
            throw .malformedInput("#/dimensions: \(dimensions) is not a valid enum value")
        }
        let types: [String] = try optional("embeddingTypes", in: body, type: "JSONArray") ?? ["float"]
        for (index, type) in types.enumerated() where type != "float" && type != "binary" {
            throw .malformedInput("#/embeddingTypes/\(index): \(type) is not a valid enum value")
        }
        let tokens = MockAnswer.words(of: text).count
        var vector = MockEmbeddings.vector(for: text, dimensions: dimensions).map { Double($0) }
        let normalize: Bool = try optional("normalize", in: body, type: "Boolean") ?? true
        if !normalize {
            vector = vector.map { $0 * Double(1 + tokens) }
        }
        var object: [String: Any] = ["embedding": vector, "inputTextTokenCount": tokens]
        if v2 {
            var byType: [String: Any] = [:]
            if types.contains("float") { byType["float"] = vector }
            if types.contains("binary") { byType["binary"] = vector.map { $0 > 0 ? 1 : 0 } }
            object["embeddingsByType"] = byType
        }
        return (object, tokens)
    }

    private static func cohere(_ body: [String: Any], call: MockCall) throws(MockBedrockError) -> ([String: Any], Int) {
        try allowOnly(["texts", "images", "input_type", "truncate", "embedding_types"], in: body)
        let texts: [Any] = try required("texts", in: body, type: "JSONArray")
        guard texts.count <= 96 else { throw .malformedInput("#/texts: expected maximum item count: 96, found: \(texts.count)") }
        var strings: [String] = []
        for (index, text) in texts.enumerated() {
            guard let string = text as? String else { throw .malformedInput("#/texts/\(index): expected type: String") }
            strings.append(string)
        }
        let inputType: String = try required("input_type", in: body, type: "String")
        try oneOf("input_type", inputType, ["search_document", "search_query", "classification", "clustering", "image"])
        if let truncate: String = try optional("truncate", in: body, type: "String") {
            try oneOf("truncate", truncate, ["NONE", "START", "END"])
        }
        let types: [String]? = try optional("embedding_types", in: body, type: "JSONArray")
        for type in types ?? [] {
            try oneOf("embedding_types", type, ["float", "int8", "uint8", "binary", "ubinary"])
        }
        let vectors = strings.map { MockEmbeddings.vector(for: $0, dimensions: 1024) }
        var object: [String: Any] = ["id": "mock-embed-\(call.serial)", "texts": strings]
        if let types {
            var byType: [String: Any] = [:]
            for type in types { byType[type] = vectors.map { convert($0, to: type) } }
            object["embeddings"] = byType
            object["response_type"] = "embeddings_by_type"
        } else {
            object["embeddings"] = vectors.map { vector in vector.map { Double($0) } }
            object["response_type"] = "embeddings_floats"
        }
        return (object, strings.reduce(0) { $0 + MockAnswer.words(of: $1).count })
    }

    /// Cohere's encodings: `int8` and `uint8` scale [-1, 1] to their range; `ubinary` packs
    /// the signs (1 for positive) eight to a byte, most significant first; `binary` is that
    /// byte minus 128.
    private static func convert(_ vector: [Float], to type: String) -> [Any] {
        switch type {
        case "int8": return vector.map { Int(($0 * 127).rounded()) }
        case "uint8": return vector.map { min(255, Int((($0 + 1) * 127.5).rounded())) }
        case "binary", "ubinary":
            let bytes = stride(from: 0, to: vector.count, by: 8).map { start in
                vector[start..<min(start + 8, vector.count)].enumerated().reduce(0) { byte, bit in
                    bit.element > 0 ? byte | (0x80 >> bit.offset) : byte
                }
            }
            return type == "ubinary" ? bytes : bytes.map { $0 - 128 }
        default: return vector.map { Double($0) }
        }
    }

    private static func allowOnly(_ keys: Set<String>, in body: [String: Any]) throws(MockBedrockError) {
        if let extra = body.keys.sorted().first(where: { !keys.contains($0) }) {
            throw .malformedInput("#: extraneous key [\(extra)] is not permitted")
        }
    }

    private static func required<T>(_ key: String, in body: [String: Any], type: String) throws(MockBedrockError) -> T {
        guard let value: T = try optional(key, in: body, type: type) else {
            throw .malformedInput("#: required key [\(key)] not found")
        }
        return value
    }

    private static func optional<T>(_ key: String, in body: [String: Any], type: String) throws(MockBedrockError) -> T? {
        guard let raw = body[key], !(raw is NSNull) else { return nil }
        guard let value = raw as? T else { throw .malformedInput("#/\(key): expected type: \(type)") }
        return value
    }

    private static func oneOf(_ key: String, _ value: String, _ allowed: [String]) throws(MockBedrockError) {
        guard allowed.contains(value) else { throw .malformedInput("#/\(key): \(value) is not a valid enum value") }
    }
}
