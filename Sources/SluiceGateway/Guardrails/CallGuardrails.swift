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

    /// What a stream event released: the events the client may have now (in order), or the
    /// error that ends the stream (the events held back never leave).
    enum StreamVerdict {
        case release([[UInt8]])
        case block(GatewayError)
    }

    let engine: GuardrailEngine
    let route: String
    private let metrics: MetricsBuffer
    private let http: any UpstreamPort
    /// Guardrails the caller's policy turns off (`guardrails_off`).
    private let skipping: Set<String>
    /// The request as the client sent it, when guardrails masked it (the cache keys on it,
    /// so two requests masked alike never share an answer).
    private(set) var unmaskedBody: [UInt8]?
    /// Masked values to put back into the answer (guardrails with `restore: true`).
    private(set) var placeholders: [[UInt8]: [UInt8]] = [:]
    private var decisions: [(direction: String, guardrail: String, action: String, counts: [String: Int])] = []
    /// The end of the stream's text so far, so a value split across events is still found.
    private var window: [UInt8] = []
    private static let windowBytes = 256
    /// Events checked but not yet sent: each with the stream's text count at its end and
    /// whether it carried text.
    private var held: [(event: [UInt8], textEnd: Int, hasText: Bool)] = []
    private var textCount = 0
    /// Some guardrail that reads answers applies to this caller.
    private let checksAnswers: Bool
    /// A webhook reads this call's answers: a stream is held until its end.
    private var holdsWholeStreams: Bool
    /// While a stream is held whole: the bytes held, and when the client last got bytes (a
    /// comment keeps its connection and nginx's read timeout alive every few seconds).
    private var heldBytes = 0
    private var lastSent: ContinuousClock.Instant
    private let clock: any GatewayClock
    private static let keepAlive: [UInt8] = Array(": held for review\n\n".utf8)
    /// The most a stream is held whole for a webhook; past it the call fails closed (or
    /// streams on, when every such webhook fails open).
    static let wholeStreamLimit = 16 << 20
    /// A guardrail found something in this stream's text: the captured answer is not kept
    /// (a value split across events is in no single captured string).
    private(set) var streamHadFindings = false
    /// The webhook's own client for a stream's end, which comes while the thread's client is
    /// still busy with the provider's transfer.
    private lazy var streamHTTP = HTTPClient()
    /// The whole answer text, when a webhook reads answers.
    private var streamText: [UInt8] = []
    /// The stream's end was judged (a webhook asks once).
    private var streamEnded = false

    init(engine: GuardrailEngine, route: String, metrics: MetricsBuffer, http: any UpstreamPort, clock: any GatewayClock,
         skipping: Set<String>) {
        self.engine = engine
        self.clock = clock
        self.lastSent = clock.now
        self.route = route
        self.metrics = metrics
        self.http = http
        self.skipping = skipping
        let answerSide = engine.guardrails.filter { $0.config.checksResponses && !skipping.contains($0.config.name) }
        checksAnswers = !answerSide.isEmpty
        holdsWholeStreams = answerSide.contains { $0.config.webhook != nil }
        // Turned off for this caller: on the record, so an audit shows whose calls skip what.
        for name in engine.guardrails.map(\.config.name) where skipping.contains(name) {
            decisions.append(("request", name, "off", [:]))
        }
    }

    /// The masked request body (nil: send it as it came), or the error that blocks it.
    func checkRequest(_ body: [UInt8]) throws(GatewayError) -> [UInt8]? {
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
        if checksAnswers {
            let outcome = engine.check(body, requests: false, skipping: skipping, http: http)
            note(outcome.decisions, direction: "response")
            if let blocked = outcome.blocked { return .block(Self.answerError(blocked.guardrail, blocked.kinds)) }
            if let masked = outcome.masked { answer = masked }
        }
        return .pass(GuardrailEngine.restore(answer, placeholders))
    }

    /// One stream event, checked with the text before it (the window). Its text is held
    /// back until `streamHoldBytes` more text has followed (or the stream ends: `final`),
    /// so a value split across events never partly reaches the client before the check
    /// that blocks it. Placeholders are restored within an event.
    func checkEvent(_ event: [UInt8], final: Bool) -> StreamVerdict {
        guard checksAnswers else {
            return .release([placeholders.isEmpty ? event : GuardrailEngine.restore(event, placeholders)])
        }
        var text: [UInt8] = []
        event.withUnsafeBytes { raw in
            // Pieces of one event are apart; deltas of successive events join up.
            for (index, piece) in GuardrailText.pieces(in: raw).enumerated() {
                if index > 0 { text.append(UInt8(ascii: " ")) }
                piece.withText(in: raw) { text += $0 }
            }
        }
        if !text.isEmpty {
            let scanned = window + text
            // Only what reaches into this event's text is new.
            let fresh = engine.scanText(scanned, skipping: skipping).compactMap { item -> (GuardrailEngine.Compiled, [GuardrailFinding])? in
                let new = item.findings.filter { $0.range.upperBound > window.count }
                return new.isEmpty ? nil : (item.compiled, new)
            }
            for (compiled, findings) in fresh {
                streamHadFindings = true
                var counts: [String: Int] = [:]
                for finding in findings { counts[finding.kind, default: 0] += 1 }
                // An event's JSON is not rewritten: in a stream, mask acts as log.
                let action = compiled.config.action == .block ? "block" : "log"
                note([(compiled.config.name, action, counts)], direction: "response")
                if action == "block" {
                    held = []
                    return .block(Self.answerError(compiled.config.name, counts.keys.sorted()))
                }
            }
            window = Array(scanned.suffix(Self.windowBytes))
            textCount += text.count
            if holdsWholeStreams { streamText += text }
        }
        held.append((GuardrailEngine.restore(event, placeholders), textCount, !text.isEmpty))
        if final { return releaseHeld() }
        if holdsWholeStreams {
            heldBytes += event.count
            if heldBytes <= Self.wholeStreamLimit {
                let now = clock.now
                guard now - lastSent >= .seconds(5) else { return .release([]) }
                lastSent = now
                return .release([Self.keepAlive])
            }
            let webhooks = engine.guardrails.filter { $0.config.checksResponses && $0.config.webhook != nil
                && !skipping.contains($0.config.name) }
            if let closed = webhooks.first(where: { $0.config.webhook?.failOpen == false }) {
                note([(closed.config.name, "block", ["too_long": 1])], direction: "response")
                held = []
                return .block(Self.answerError(closed.config.name, ["too_long"]))
            }
            holdsWholeStreams = false  // every such webhook fails open: stream on, unreviewed
            for webhook in webhooks { note([(webhook.config.name, "log", ["too_long": 1])], direction: "response") }
        }
        var ready = 0
        while ready < held.count, !held[ready].hasText || textCount - held[ready].textEnd >= engine.streamHoldBytes { ready += 1 }
        defer { held.removeFirst(ready) }
        return .release(held[..<ready].map(\.event))
    }

    /// The stream ends (its terminal event, an error or a cut): what is held goes out,
    /// once a webhook that reads answers has passed the whole text.
    func releaseHeld() -> StreamVerdict {
        defer { held = [] }
        guard !streamEnded else { return .release(held.map(\.event)) }
        streamEnded = true
        if holdsWholeStreams, !streamText.isEmpty {
            let quoted = Array(JSONText.quoted(String(decoding: streamText, as: UTF8.self)).utf8)
            for compiled in engine.guardrails where compiled.config.checksResponses && !skipping.contains(compiled.config.name) {
                guard let webhook = compiled.config.webhook else { continue }
                let blocks = quoted.withUnsafeBytes { raw in
                    GuardrailEngine.webhookBlocks(webhook, guardrail: compiled.config.name, text: raw,
                                                  ranges: [1..<(raw.count - 1)], direction: "response", http: streamHTTP)
                }
                guard blocks else { continue }
                let action = compiled.config.action == .log ? "log" : "block"
                note([(compiled.config.name, action, ["webhook": 1])], direction: "response")
                if action == "block" { return .block(Self.answerError(compiled.config.name, ["webhook"])) }
            }
        }
        return .release(held.map(\.event))
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
        let guardrails = CallGuardrails(engine: engine, route: route.name, metrics: context.metrics, http: http, clock: clock,
                                        skipping: call.caller?.policy.guardrailsOff ?? [])
        call.guardrails = guardrails
        guard let masked = try guardrails.checkRequest(request.body) else { return }
        let headers = request.clientHeaders
        request = try APIRequest(operation: request.operation, body: masked)
        request.clientHeaders = headers
    }
}
