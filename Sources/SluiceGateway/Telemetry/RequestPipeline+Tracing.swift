import SluiceCore
import SluiceFastCGI

/// W3C trace context and OpenTelemetry spans for a call. A client's `traceparent` always
/// reaches the provider: unchanged when tracing is off, and naming the attempt's own span as
/// parent when it is on. With tracing on, each call becomes a server span (GenAI semantic
/// conventions) with a client span per upstream attempt, handed to the exporter thread.
extension RequestPipeline {
    /// Takes the client's `traceparent` (a new trace when it has none or an invalid one and
    /// tracing is on).
    func startTrace(_ call: CallRecord, fcgi: any ClientConnection) {
        let client = fcgi.param("HTTP_TRACEPARENT").flatMap {
            TraceContext(traceparent: $0, tracestate: fcgi.param("HTTP_TRACESTATE"))
        }
        guard context.traceExporter != nil else {
            call.trace = client.map { CallTrace(context: $0, clientParent: nil, serverSpanId: $0.spanId, exported: false) }
            return
        }
        var random = ThreadRandom()
        call.startedUnixNanos = UInt64(clock.unixNanos)
        let serverSpan = TraceContext.randomId(bytes: 8, using: &random)
        if let client {
            // Parent-based sampling: a client that did not sample is not exported either.
            call.trace = CallTrace(context: client, clientParent: client.spanId, serverSpanId: serverSpan,
                                   exported: client.sampled)
        } else {
            let root = TraceContext(traceId: TraceContext.randomId(bytes: 16, using: &random), spanId: serverSpan, flags: 1)
            call.trace = CallTrace(context: root, clientParent: nil, serverSpanId: serverSpan, exported: true)
        }
    }

    /// Adds `traceparent` (and `tracestate`) for one attempt; returns the attempt's span id
    /// when the call is traced.
    func propagateTrace(into upstream: inout UpstreamRequest, call: CallRecord) -> [UInt8]? {
        guard let trace = call.trace else { return nil }
        upstream.headers.removeAll { $0.name.lowercased() == "traceparent" || $0.name.lowercased() == "tracestate" }
        var span: [UInt8]?
        if context.traceExporter != nil {
            var random = ThreadRandom()
            span = TraceContext.randomId(bytes: 8, using: &random)
        }
        upstream.headers.append(("traceparent", trace.context.traceparent(parent: span ?? trace.context.spanId)))
        if let state = trace.context.state { upstream.headers.append(("tracestate", state)) }
        return span
    }

    /// Hands the finished call's spans to the exporter.
    func exportSpans(of call: CallRecord, record: AuditRecord) {
        guard let exporter = context.traceExporter, let trace = call.trace, trace.exported else { return }
        exporter.enqueue(CallSpans.make(call: call, record: record, trace: trace, config: context.config, end: clock.now))
    }
}

/// A call's trace: the context it propagates, the client's span (the server span's
/// parent, if the client sent one) and the call's own server span.
struct CallTrace {
    var context: TraceContext
    var clientParent: [UInt8]?
    var serverSpanId: [UInt8]
    /// Tracing is on and the trace is sampled.
    var exported: Bool
}

/// The spans of one call, following OpenTelemetry's GenAI semantic conventions.
enum CallSpans {
    /// `end`: when the server span ends (the pipeline's clock).
    static func make(call: CallRecord, record: AuditRecord, trace: CallTrace, config: GatewayConfig,
                     end: ContinuousClock.Instant) -> [SpanData] {
        let start = call.startedUnixNanos
        func unixNanos(_ instant: ContinuousClock.Instant) -> UInt64 {
            let offset = instant - call.started
            let (seconds, attoseconds) = offset.components
            return start &+ UInt64(max(0, seconds)) * 1_000_000_000 &+ UInt64(max(0, attoseconds / 1_000_000_000))
        }
        let operation = record.path.hasSuffix("/embeddings") ? "embeddings"
            : record.path.hasSuffix("/completions") && !record.path.hasSuffix("/chat/completions") ? "text_completion" : "chat"
        let providerKind = record.provider.flatMap { config.providers[$0]?.kind }
        let model = record.providerModel ?? record.route ?? "unknown"
        var attributes: [(key: String, value: SpanData.Value)] = [
            ("gen_ai.operation.name", .string(operation)),
            ("gen_ai.request.model", .string(model)),
            ("sluice.request_id", .string(record.requestId)),
            ("url.path", .string(record.path)),
            ("http.request.method", .string("POST")),
            ("http.response.status_code", .int(Int64(record.status))),
        ]
        if let kind = providerKind {
            attributes.append(("gen_ai.system", .string(system(kind))))
            attributes.append(("gen_ai.provider.name", .string(providerName(kind))))
        }
        if record.status < 400 || call.answer.model != nil {
            attributes.append(("gen_ai.response.model", .string(call.answer.model ?? model)))
        }
        if let input = record.promptTokens { attributes.append(("gen_ai.usage.input_tokens", .int(Int64(input)))) }
        if let output = record.completionTokens { attributes.append(("gen_ai.usage.output_tokens", .int(Int64(output)))) }
        if !call.answer.finishReasons.isEmpty {
            attributes.append(("gen_ai.response.finish_reasons", .strings(call.answer.finishReasons)))
        }
        if let route = record.route { attributes.append(("sluice.route", .string(route))) }
        if let endpoint = record.endpoint { attributes.append(("sluice.endpoint", .string(endpoint))) }
        attributes.append(("sluice.attempts", .int(Int64(record.attempts.count))))
        if record.stream { attributes.append(("sluice.stream", .bool(true))) }
        if let cost = record.cost { attributes.append(("sluice.cost_usd", .double(cost))) }
        if let error = record.errorClass { attributes.append(("error.type", .string(error))) }
        let failed = record.status >= 500
        var spans = [SpanData(traceId: trace.context.traceId, spanId: trace.serverSpanId, parentSpanId: trace.clientParent,
                              traceState: trace.context.state, flags: trace.context.flags,
                              name: "\(operation) \(record.route ?? model)", kind: .server,
                              startUnixNanos: start, endUnixNanos: unixNanos(end), attributes: attributes,
                              failed: failed, error: failed ? record.errorClass : nil)]
        for (attempt, timing) in zip(record.attempts, call.attemptSpans) {
            let endpoint = config.routes[record.route ?? ""]?.endpoints.first { $0.name == attempt.endpoint }
            let kind = config.providers[attempt.provider]?.kind
            var child: [(key: String, value: SpanData.Value)] = [
                ("gen_ai.operation.name", .string(operation)),
                ("gen_ai.request.model", .string(endpoint?.model ?? model)),
                ("sluice.endpoint", .string(attempt.endpoint)),
                ("sluice.provider", .string(attempt.provider)),
            ]
            if let kind {
                child.append(("gen_ai.system", .string(system(kind))))
                child.append(("gen_ai.provider.name", .string(providerName(kind))))
            }
            if attempt.status > 0 { child.append(("http.response.status_code", .int(Int64(attempt.status)))) }
            if attempt.probe { child.append(("sluice.probe", .bool(true))) }
            let attemptFailed = attempt.error != "ok"
            if attemptFailed { child.append(("error.type", .string(attempt.error))) }
            spans.append(SpanData(traceId: trace.context.traceId, spanId: timing.spanId, parentSpanId: trace.serverSpanId,
                                  traceState: trace.context.state, flags: trace.context.flags,
                                  name: "\(operation) \(endpoint?.model ?? model)", kind: .client,
                                  startUnixNanos: unixNanos(timing.start), endUnixNanos: unixNanos(timing.end),
                                  attributes: child, failed: attemptFailed, error: attemptFailed ? attempt.error : nil))
        }
        return spans
    }

    /// `gen_ai.system` (the attribute the dashboards key on).
    static func system(_ kind: ProviderKind) -> String {
        switch kind {
        case .openai, .openaiCompatible: "openai"
        case .azureOpenAI: "az.ai.openai"
        case .anthropic: "anthropic"
        case .bedrock: "aws.bedrock"
        case .databricks: "databricks"
        }
    }

    /// `gen_ai.provider.name`, the newer conventions' name for it.
    static func providerName(_ kind: ProviderKind) -> String {
        kind == .azureOpenAI ? "azure.ai.openai" : system(kind)
    }
}
