import Foundation
import SluiceCore

/// Embeddings through InvokeModel (`POST /model/{modelId}/invoke`), for the two families
/// whose bodies Bedrock documents:
///
/// - Amazon Titan Text Embeddings (`amazon.titan-embed-text-v1`, `-v2:0`, …): one
///   `inputText` per call, answered with `embedding` and `inputTextTokenCount`. An OpenAI
///   `input` array of more than one string is refused with a 400 (one call per input
///   would multiply cost and latency behind the client's back); `dimensions` is passed
///   for v2.
/// - Cohere Embed (`cohere.embed-english-v3`, `-multilingual-v3`, `embed-v4`): `texts`
///   (up to 96), `input_type` (default `search_document`; override with the endpoint's
///   `params`), `embedding_types: ["float"]`; `dimensions` is `output_dimension` for v4.
///   Usage comes from `meta.billed_units.input_tokens` when present, otherwise it is
///   estimated from the text (about four bytes per token).
///
/// `encoding_format: "base64"` is honoured whatever the model returns: vectors are
/// converted to float32 little-endian bytes, as OpenAI sends them.
enum BedrockEmbeddings {
    enum Family {
        case titan(v2: Bool)
        case cohere(v4: Bool)

        /// The family of a model id or inference profile id; ARNs of application inference
        /// profiles do not name their model, so they are not recognised.
        init?(modelID: String) {
            let id = modelID.lowercased()
            if id.contains("amazon.titan-embed") {
                self = .titan(v2: !id.contains("titan-embed-text-v1") && !id.contains("titan-embed-image-v1"))
            } else if id.contains("cohere.embed") {
                self = .cohere(v4: id.contains("embed-v4"))
            } else {
                return nil
            }
        }
    }

    static func body(for request: APIRequest, modelID: String, params: [(name: String, json: String)]) throws(GatewayError) -> [UInt8] {
        guard let family = Family(modelID: modelID) else {
            throw GatewayError.invalidRequest(
                "Bedrock model '\(modelID)' is not a supported embeddings model (amazon.titan-embed-* or cohere.embed-*).")
        }
        guard let object = JSONOutput.object(request.body) else {
            throw GatewayError(.invalidJSON, "The request body is not a JSON object.")
        }
        let texts = try inputs(object["input"])
        let dimensions = (object["dimensions"] as? NSNumber)?.intValue
        var body: [String: Any]
        switch family {
        case .titan(let v2):
            guard texts.count == 1 else {
                throw GatewayError.invalidRequest(
                    "Amazon Titan embeddings take one input per call; send a single string (or a one-element array).",
                    param: "input")
            }
            body = ["inputText": texts[0]]
            if let dimensions {
                guard v2 else { throw GatewayError.invalidRequest("'dimensions' needs Titan Text Embeddings V2.", param: "dimensions") }
                body["dimensions"] = dimensions
            }
        case .cohere(let v4):
            body = ["texts": texts, "input_type": "search_document", "embedding_types": ["float"]]
            if let dimensions {
                guard v4 else { throw GatewayError.invalidRequest("'dimensions' needs Cohere Embed v4.", param: "dimensions") }
                body["output_dimension"] = dimensions
            }
        }
        return try BedrockBody.encode(body, params: params, what: "embeddings")
    }

    /// OpenAI's `input`: a string or an array of strings (token arrays are not text).
    private static func inputs(_ input: Any?) throws(GatewayError) -> [String] {
        switch input {
        case let text as String: return [text]
        case let texts as [String] where !texts.isEmpty: return texts
        default:
            throw GatewayError.invalidRequest("Amazon Bedrock embeds text: 'input' must be a string or an array of strings.",
                                              param: "input")
        }
    }

    /// The InvokeModel answer as an OpenAI embeddings list.
    static func clientBody(for request: APIRequest, body: [UInt8]) throws(GatewayError) -> [UInt8] {
        guard let answer = JSONOutput.object(body) else {
            throw GatewayError(.upstreamError, "Amazon Bedrock answered with a body that is not JSON.")
        }
        let vectors: [[Double]]
        var promptTokens: Int?
        if let embedding = answer["embedding"] as? [NSNumber] {
            vectors = [embedding.map(\.doubleValue)]
            promptTokens = (answer["inputTextTokenCount"] as? NSNumber)?.intValue
        } else if let embeddings = (answer["embeddings"] as? [[NSNumber]])
                    ?? ((answer["embeddings"] as? [String: Any])?["float"] as? [[NSNumber]]) {
            vectors = embeddings.map { $0.map(\.doubleValue) }
            promptTokens = (((answer["meta"] as? [String: Any])?["billed_units"] as? [String: Any])?["input_tokens"] as? NSNumber)?.intValue
        } else {
            throw GatewayError(.upstreamError, "Amazon Bedrock answered with a body that holds no float embeddings.")
        }
        if promptTokens == nil, let object = JSONOutput.object(request.body), let texts = try? inputs(object["input"]) {
            promptTokens = TokenUsage.estimate(bytes: texts.reduce(0) { $0 + $1.utf8.count })
        }
        let base64 = EmbeddingEncoding.wantsBase64(request)
        let data: [[String: Any]] = vectors.enumerated().map { index, vector in
            ["object": "embedding", "index": index,
             "embedding": base64 ? EmbeddingEncoding.base64(vector) as Any : vector as Any]
        }
        let tokens = promptTokens ?? 0
        let list: [String: Any] = ["object": "list", "data": data, "model": request.model,
                                   "usage": ["prompt_tokens": tokens, "total_tokens": tokens]]
        do {
            return try JSONOutput.bytes(list)
        } catch {
            throw GatewayError(.upstreamError, "Amazon Bedrock's answer could not be translated.")
        }
    }
}
