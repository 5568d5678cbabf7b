import SluiceCore
import SluiceRedis

/// The answers the gateway gives itself, without a provider: the model list and the
/// health check.
extension RequestPipeline {
    func models(path: String, caller: Caller, writer: ClientWriter) throws(GatewayError) {
        if path == "/v1/models" {
            return writer.sendJSON(status: 200, ModelList.list(for: caller, context: context))
        }
        let name = String(path.dropFirst("/v1/models/".count))
        guard context.config.routes[name] != nil, caller.policy.allows(route: name) else {
            throw GatewayError(.routeNotFound, "The model '\(GatewayError.quote(name))' does not exist or you do not have access to it.")
        }
        writer.sendJSON(status: 200, ModelList.object(name, context: context))
    }

    func health(_ writer: ClientWriter) {
        do {
            _ = try redis.checked(["PING"], idempotent: true)
            writer.sendJSON(status: 200, "{\"status\":\"ok\",\"redis\":\"ok\"}")
        } catch {
            writer.sendJSON(status: 503, "{\"status\":\"degraded\",\"redis\":\"unreachable\"}")
        }
    }
}
