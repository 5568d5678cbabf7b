import Foundation
import SluiceCore

/// The last step of every Bedrock request body: an endpoint's `params` become top-level
/// fields, then the body is encoded.
enum BedrockBody {
    /// `body` with `params` merged in, as JSON bytes; `what` names the request in errors.
    static func encode(_ body: [String: Any], params: [(name: String, json: String)],
                       what: String) throws(GatewayError) -> [UInt8] {
        var body = body
        for param in params {
            guard let value = try? JSONSerialization.jsonObject(with: Data(param.json.utf8), options: [.fragmentsAllowed]) else {
                throw GatewayError(.internalError, "The endpoint parameter '\(param.name)' is not valid JSON.")
            }
            body[param.name] = value
        }
        do {
            return try JSONOutput.bytes(body)
        } catch {
            throw GatewayError.invalidRequest("The request cannot be expressed as a Bedrock \(what) request.")
        }
    }
}
