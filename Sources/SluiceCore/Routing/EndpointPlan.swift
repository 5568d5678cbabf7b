/// The order in which a request tries a route's endpoints.
///
/// Endpoints in cooldown pool-wide (or being probed by another responder) are left out.
/// Of the rest:
/// 1. The endpoint named by the first tag rule that matches the request's tags; when no
///    rule matches, the route's `default` endpoint.
/// 2. One primary (non-`fallback_only`) endpoint picked by weight — among the warm ones
///    when the route prefers warm endpoints and any is warm.
/// 3. The remaining primaries in declared order (warm before cold), then the
///    `fallback_only` ones in order.
///
/// If every endpoint is cooling down, the plan is the one whose cooldown ends first: the
/// request still gets its best chance instead of failing outright.
///
/// Pure: the caller supplies the random draw and the health snapshot, so tests can pin them.
public enum EndpointPlan {
    /// The attempt order for `route` given the request's `tags`, a draw in `0..<1` and the
    /// shared health (`nil` when Redis could not be asked: every endpoint counts as healthy).
    public static func order(for route: RouteConfig, tags: [String: String], draw: Double,
                             health: HealthSnapshot? = nil) -> [EndpointConfig] {
        let usable = route.endpoints.filter { health?.health(of: $0).isUsable ?? true }
        guard !usable.isEmpty else {
            guard let health, let soonest = route.endpoints.min(by: { health.availableAt($0) < health.availableAt($1) })
            else { return [] }
            return [soonest]
        }
        var order: [EndpointConfig] = []
        func add(_ endpoint: EndpointConfig) {
            if !order.contains(where: { $0.name == endpoint.name }) { order.append(endpoint) }
        }
        let rule = route.rules.first { rule in rule.when.allSatisfy { tags[$0.key] == $0.value } }
        if let first = rule?.use ?? route.defaultEndpoint, let chosen = usable.first(where: { $0.name == first }) {
            add(chosen)
        }
        let primaries = usable.filter { !$0.fallbackOnly }
        var warm = primaries
        var cold: [EndpointConfig] = []
        if route.preferWarm, let health {
            warm = primaries.filter { !health.isCold($0) }
            cold = primaries.filter { health.isCold($0) }
        }
        let candidates = warm.isEmpty ? cold : warm
        // Latency balancing: the fastest, except for the draws below `explore`, which go by
        // weight (rescaled to the whole band); weights cap the fastest's share (below).
        if case .latency(let explore) = route.balance, let health, draw >= explore,
           let fastest = fastest(candidates, health: health) {
            let share = (draw - explore) / max(1 - explore, 1e-9)
            let cap = weightCap(fastest, among: candidates)
            if share < cap {
                add(fastest)
            } else if let picked = weightedPick(candidates, draw: (share - cap) / max(1 - cap, 1e-9)) {
                add(picked)
            }
        } else if route.balance == .leastBusy, let health, case let idlest = leastBusy(candidates, health: health),
                  let cap = idlest.map({ weightCap($0, among: candidates) }).max() {
            // The idlest (ties drawn by weight), with weights capping their share as above.
            if draw < cap, let picked = weightedPick(idlest, draw: draw / max(cap, 1e-9)) {
                add(picked)
            } else if let picked = weightedPick(candidates, draw: (draw - cap) / max(1 - cap, 1e-9)) {
                add(picked)
            }
        } else if case .latency(let explore) = route.balance, health != nil, explore > 0, draw < explore,
                  let picked = weightedPick(candidates, draw: draw / explore) {
            add(picked)
        } else if let picked = weightedPick(candidates, draw: draw) {
            add(picked)
        }
        warm.forEach(add)
        cold.forEach(add)
        usable.filter(\.fallbackOnly).forEach(add)
        return order
    }

    /// The most of the latency (or least-busy) picks an endpoint takes: its weight over the
    /// largest weight among `endpoints` (1 for the heaviest, so equal weights do not limit it).
    static func weightCap(_ endpoint: EndpointConfig, among endpoints: [EndpointConfig]) -> Double {
        let heaviest = endpoints.map(\.weight).max() ?? 1
        return heaviest > 0 ? min(1, Double(max(0, endpoint.weight)) / Double(heaviest)) : 1
    }

    /// Among endpoints with a positive weight: one not measured yet (so it gets measured),
    /// else the one with the lowest average latency.
    static func fastest(_ endpoints: [EndpointConfig], health: HealthSnapshot) -> EndpointConfig? {
        let eligible = endpoints.filter { $0.weight > 0 }
        if let unmeasured = eligible.first(where: { health.health(of: $0).averageLatencyMs == nil }) { return unmeasured }
        return eligible.min { (health.health(of: $0).averageLatencyMs ?? 0) < (health.health(of: $1).averageLatencyMs ?? 0) }
    }

    /// Among endpoints with a positive weight, those with the fewest calls in flight.
    static func leastBusy(_ endpoints: [EndpointConfig], health: HealthSnapshot) -> [EndpointConfig] {
        let eligible = endpoints.filter { $0.weight > 0 }
        guard let fewest = eligible.map({ health.health(of: $0).inFlight ?? 0 }).min() else { return [] }
        return eligible.filter { (health.health(of: $0).inFlight ?? 0) == fewest }
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

/// Context windows: which endpoints a request fits, and a provider's "too long" answer.
public enum ContextWindow {
    /// Top-level members the model reads whole as part of its prompt: tool definitions (their
    /// JSON schemas), the tool choice and output schemas (`response_format`, Anthropic's
    /// `output_format`, the Responses API's `text.format`).
    static let promptMembers: Set<String> = ["tools", "functions", "tool_choice", "response_format", "output_format", "text"]

    /// Tokens a request needs: its text (the content strings — messages, `system`, prompts,
    /// tool call arguments — as guardrails read them, not image data or other base64
    /// members) plus the JSON of `promptMembers`, at about four bytes a token, plus the
    /// output it asks room for (`max_tokens`).
    public static func needed(_ request: APIRequest) -> Int {
        let members = ((try? JSONScanner.topLevelMembers(of: request.body)) ?? []).filter { promptMembers.contains($0.key) }
        let whole = members.map(\.range)
        let text = request.body.withUnsafeBytes { GuardrailText.ranges(in: $0) }
            .filter { range in !whole.contains { $0.contains(range.lowerBound) } }
            .reduce(0) { $0 + $1.count }
        return TokenUsage.estimate(bytes: text + whole.reduce(0) { $0 + $1.count }) + (request.maxTokens ?? 0)
    }

    /// The endpoints of `plan` that fit `needed`, and the names of those that do not.
    public static func fitting(_ plan: [EndpointConfig], needed: Int) -> (fit: [EndpointConfig], skipped: [String]) {
        let fit = plan.filter { ($0.contextWindow ?? .max) >= needed }
        return (fit, plan.filter { ($0.contextWindow ?? .max) < needed }.map(\.name))
    }

    /// The 400 for a request no endpoint of the route fits.
    public static func error(needed: Int, route: RouteConfig) -> GatewayError {
        let largest = route.endpoints.compactMap(\.contextWindow).max() ?? 0
        return GatewayError(.contextLengthExceeded,
                            "The request needs about \(needed) tokens (its prompt, estimated, plus max_tokens), more than "
                                + "the largest context window of the model '\(route.name)' (\(largest) tokens). "
                                + "Shorten the messages or lower max_tokens.", param: "messages")
    }

    /// Whether a provider's error answer says the prompt does not fit its context window:
    /// OpenAI's and Azure's `context_length_exceeded`, Anthropic's `prompt is too long` and
    /// `exceed context limit`, Bedrock's `Input is too long`, vLLM's `maximum context length`.
    public static func isExceeded(status: Int, body: [UInt8]) -> Bool {
        guard status == 400 || status == 413 || status == 422, body.count < 64 << 10 else { return false }
        let text = String(decoding: body, as: UTF8.self).lowercased()
        return ["context_length_exceeded", "prompt is too long", "exceed context limit", "input is too long",
                "maximum context length", "too many input tokens"].contains { text.contains($0) }
    }
}
