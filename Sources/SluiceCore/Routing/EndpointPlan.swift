/// The order in which a request tries a route's endpoints.
///
/// 1. Endpoints named by the first tag rule that matches the request's tags.
/// 2. One primary (non-`fallback_only`) endpoint picked by weight.
/// 3. The remaining primaries in declared order, then the `fallback_only` ones in order.
///
/// Pure: the caller supplies the random draw, so tests can pin it.
public enum EndpointPlan {
    /// The attempt order for `route` given the request's `tags` and a draw in `0..<1`.
    public static func order(for route: RouteConfig, tags: [String: String], draw: Double) -> [EndpointConfig] {
        var order: [EndpointConfig] = []
        func add(_ endpoint: EndpointConfig) {
            if !order.contains(where: { $0.name == endpoint.name }) { order.append(endpoint) }
        }
        if let rule = route.rules.first(where: { rule in rule.when.allSatisfy { tags[$0.key] == $0.value } }),
           let chosen = route.endpoints.first(where: { $0.name == rule.use }) {
            add(chosen)
        }
        let primaries = route.endpoints.filter { !$0.fallbackOnly }
        if let picked = weightedPick(primaries, draw: draw) { add(picked) }
        primaries.forEach(add)
        route.endpoints.filter(\.fallbackOnly).forEach(add)
        return order
    }

    /// The endpoint whose cumulative weight band contains `draw`; the first if all weights are zero.
    static func weightedPick(_ endpoints: [EndpointConfig], draw: Double) -> EndpointConfig? {
        let total = endpoints.reduce(0) { $0 + max(0, $1.weight) }
        guard total > 0 else { return endpoints.first }
        var threshold = min(max(draw, 0), 0.999_999_999) * Double(total)
        for endpoint in endpoints where endpoint.weight > 0 {
            threshold -= Double(endpoint.weight)
            if threshold < 0 { return endpoint }
        }
        return endpoints.last { $0.weight > 0 }
    }
}
