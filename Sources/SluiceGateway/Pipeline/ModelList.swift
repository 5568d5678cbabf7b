import SluiceCore

/// `GET /v1/models` and `GET /v1/models/{id}`: the routes a caller may use, as OpenAI model objects.
enum ModelList {
    static func list(for caller: Caller, context: WorkerContext) -> String {
        let names = context.config.routeOrder.filter { caller.policy.allows(route: $0) }
        return "{\"object\":\"list\",\"data\":[" + names.map { object($0, context: context) }.joined(separator: ",") + "]}"
    }

    static func object(_ name: String, context: WorkerContext) -> String {
        "{\"id\":\(JSONText.quoted(name)),\"object\":\"model\",\"created\":\(context.loadedAt),\"owned_by\":\"sluice\"}"
    }
}
