import SluiceCore
import SluiceHTTP

/// One call's guardrails: the request checked before anything is admitted or sent, the
/// answer checked before the client gets it (a JSON answer whole; a stream event by event
/// over a sliding window of its recent text), placeholders restored, and every decision
/// kept for the audit record and `/metrics` — names, actions and counts, never the text.
final class CallGuardrails {
    enum Verdict {
        case pass([UInt8])
        case block(GatewayError)
    }

    let engine: GuardrailEngine
    let route: String
    private let metrics: MetricsBuffer
    /// Guardrails the caller's policy turns off (`guardrails_off`).
    private let skipping: Set<String>
    /// The request as the client sent it, when guardrails masked it (the cache keys on it,
    /// so two requests masked alike never share an answer).
    private(set) var unmaskedBody: [UInt8]?
    /// Masked values to put back into the answer (guardrails with `restore: true`).
    private(set) var placeholders: [(placeholder: [UInt8], original: [UInt8])] = []
    private var decisions: [(direction: String, guardrail: String, action: String, counts: [String: Int])] = []
    /// The end of the stream's text so far, so a value split across events is still found.
    private var window: [UInt8] = []
    private static let windowBytes = 256

    init(engine: GuardrailEngine, route: String, metrics: MetricsBuffer, skipping: Set<String>) {
        self.engine = engine
        self.route = route
        self.metrics = metrics
        self.skipping = skipping
        // Turned off for this caller: on the record, so an audit shows whose calls skip what.
        for name in engine.guardrails.map(\.config.name) where skipping.contains(name) {
            decisions.append(("request", name, "off", [:]))
        }
    }

    /// The masked request body (nil: send it as it came), or the error that blocks it.
    func checkRequest(_ body: [UInt8], http: HTTPClient) throws(GatewayError) -> [UInt8]? {
        guard engine.checksRequests else { return nil }
        let outcome = engine.check(body, requests: true, skipping: skipping, http: http)
        note(outcome.decisions, direction: "request")
        if let blocked = outcome.blocked {
            throw GatewayError(.contentBlocked, "The request was blocked by the guardrail '\(blocked.guardrail)' ("
                                   + blocked.kinds.joined(separator: ", ") + ").")
        }
        placeholders = outcome.placeholders  // only those of guardrails that restore
        if outcome.masked != nil { unmaskedBody = body }
        return outcome.masked
    }

    /// A whole JSON answer: blocked, masked, or with the request's placeholders restored.
    func checkAnswer(_ body: [UInt8]) -> Verdict {
        var answer = body
        if engine.checksResponses {
            let outcome = engine.check(body, requests: false, skipping: skipping)
            note(outcome.decisions, direction: "response")
            if let blocked = outcome.blocked { return .block(Self.answerError(blocked.guardrail, blocked.kinds)) }
            if let masked = outcome.masked { answer = masked }
        }
        return .pass(GuardrailEngine.restore(answer, placeholders))
    }

    /// One stream event: checked with the text before it (the window), placeholders
    /// restored within it. A block ends the stream (the caller sends the error event).
    func checkEvent(_ event: [UInt8]) -> Verdict {
        guard engine.checksResponses || !placeholders.isEmpty else { return .pass(event) }
        var text: [UInt8] = []
        event.withUnsafeBytes { raw in
            // Escapes are boundaries within an event; deltas of successive events join up.
            for (index, range) in GuardrailText.segments(of: GuardrailText.ranges(in: raw), in: raw).enumerated() {
                if index > 0 { text.append(UInt8(ascii: " ")) }
                text += raw[range]
            }
        }
        if engine.checksResponses, !text.isEmpty {
            let scanned = window + text
            // Only what reaches into this event's text is new.
            let fresh = engine.scanText(scanned, skipping: skipping).compactMap { item -> (GuardrailEngine.Compiled, [GuardrailFinding])? in
                let new = item.findings.filter { $0.range.upperBound > window.count }
                return new.isEmpty ? nil : (item.compiled, new)
            }
            for (compiled, findings) in fresh {
                var counts: [String: Int] = [:]
                for finding in findings { counts[finding.kind, default: 0] += 1 }
                // Text already sent cannot be masked: in a stream, mask acts as log.
                let action = compiled.config.action == .block ? "block" : "log"
                note([(compiled.config.name, action, counts)], direction: "response")
                if action == "block" { return .block(Self.answerError(compiled.config.name, counts.keys.sorted())) }
            }
            window = Array(scanned.suffix(Self.windowBytes))
        }
        return .pass(GuardrailEngine.restore(event, placeholders))
    }

    private static func answerError(_ guardrail: String, _ kinds: [String]) -> GatewayError {
        GatewayError(.answerBlocked, "The answer was blocked by the guardrail '\(guardrail)' (" + kinds.joined(separator: ", ") + ").")
    }

    private func note(_ made: [(guardrail: String, action: String, counts: [String: Int])], direction: String) {
        for decision in made {
            decisions.append((direction, decision.guardrail, decision.action, decision.counts))
            metrics.add([("sluice_guardrail_total{route=\"\(MetricsPage.label(route))\","
                          + "guardrail=\"\(MetricsPage.label(decision.guardrail))\","
                          + "direction=\"\(direction)\",action=\"\(decision.action)\"}", "1")])
        }
    }

    /// `[{"name":…,"direction":…,"action":…,"found":{"email":2}}]`, or nil when nothing was found.
    var auditJSON: String? {
        guard !decisions.isEmpty else { return nil }
        let items = decisions.map { decision in
            let found = decision.counts.sorted { $0.key < $1.key }.map { "\(JSONText.quoted($0.key)):\($0.value)" }
            return "{\"name\":\(JSONText.quoted(decision.guardrail)),\"direction\":\"\(decision.direction)\","
                + "\"action\":\"\(decision.action)\",\"found\":{\(found.joined(separator: ","))}}"
        }
        return "[" + items.joined(separator: ",") + "]"
    }
}

extension RequestPipeline {
    /// Runs the route's request-side guardrails: throws when one blocks, replaces the
    /// request with its masked form when one masks.
    func checkGuardrails(_ request: inout APIRequest, route: RouteConfig, call: CallRecord) throws(GatewayError) {
        guard let engine = context.guardrails[route.name] else { return }
        let guardrails = CallGuardrails(engine: engine, route: route.name, metrics: context.metrics,
                                        skipping: call.caller?.policy.guardrailsOff ?? [])
        call.guardrails = guardrails
        guard let masked = try guardrails.checkRequest(request.body, http: http) else { return }
        let headers = request.clientHeaders
        request = try APIRequest(operation: request.operation, body: masked)
        request.clientHeaders = headers
    }
}
