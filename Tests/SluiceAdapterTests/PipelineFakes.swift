import Logging
import SluiceCore
@testable import SluiceGateway
import SluiceRedis

/// A client request fed to the pipeline without FastCGI, and the response bytes it was
/// sent, flush by flush. The client can go away at a given flush, as nginx reports it.
final class FakeClientConnection: ClientConnection {
    private let params: [String: String]
    private let body: [UInt8]
    /// What each successful flush sent, in order.
    private(set) var flushed: [[UInt8]] = []
    /// Written since the last flush.
    private var pending: [UInt8] = []
    /// How many flushes succeed before the client is gone (`nil`: it stays).
    var flushesBeforeGone: Int?
    private(set) var gone = false

    init(path: String, method: String = "POST", body: String = "", params: [String: String] = [:]) {
        self.params = ["REQUEST_METHOD": method, "DOCUMENT_URI": path, "REMOTE_ADDR": "127.0.0.1"]
            .merging(params) { $1 }
        self.body = Array(body.utf8)
    }

    func param(_ name: String) -> String? { params[name] }

    func readBody(limit: Int) -> [UInt8]? { body.count > limit ? nil : body }

    func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        pending.append(contentsOf: bytes)
        return !gone
    }

    func flush() -> Bool {
        if let limit = flushesBeforeGone, flushed.count >= limit { gone = true }
        guard !gone else { return false }
        flushed.append(pending)
        pending = []
        return true
    }

    /// How often the pipeline asked whether the client is still there.
    private(set) var peerChecks = 0

    func peerClosed() -> Bool {
        peerChecks += 1
        return gone
    }

    /// The response as the client got it: what was flushed, then what `FCGX_Finish` would
    /// send (nothing once the client is gone).
    var response: (status: Int, headers: [String: String], body: String) {
        let bytes = Array(flushed.joined()) + (gone ? [] : pending)
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return (0, [:], text) }
        var headers: [String: String] = [:]
        var status = 0
        for line in text[..<split.lowerBound].split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = line[line.index(after: colon)...].drop { $0 == " " }
            if line[..<colon] == "Status" {
                status = Int(value.prefix { $0.isNumber }) ?? 0
            } else {
                headers[line[..<colon].lowercased()] = String(value)
            }
        }
        return (status, headers, String(text[split.upperBound...]))
    }
}

/// Time that passes only when a test or a fake says so: the instant and the wall clock move
/// together, and a wait the pipeline asks for passes at once (and is remembered).
final class FakeClock: GatewayClock {
    private(set) var now = ContinuousClock.now
    /// 2027-01-15T08:00:00Z.
    private(set) var unixNanos: Int64 = 1_800_000_000 * 1_000_000_000
    /// Every wait the pipeline asked for, in order.
    private(set) var sleeps: [Duration] = []

    func advance(by duration: Duration) {
        now += duration
        let (seconds, attoseconds) = duration.components
        unixNanos += seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    func sleep(_ duration: Duration) {
        sleeps.append(duration)
        advance(by: duration)
    }
}

/// A provider in memory: answers each call by the provider's base URL, in the order the
/// test lined the answers up (the last one repeats), handing the body to the pipeline's
/// handler chunk by chunk as libcurl would, and stopping when the handler asks. Time passes
/// on `clock` as the answer says (`after`) and before each chunk (`chunkInterval`).
final class FakeUpstream: UpstreamPort {
    indirect enum Answer: Sendable {
        case response(status: Int, contentType: String, chunks: [String])
        case failure(UpstreamFailure)
        /// `Answer`, once `Duration` has passed.
        case after(Duration, Answer)
    }

    let clock: FakeClock
    /// How long each body chunk takes to arrive.
    var chunkInterval: Duration = .zero

    private var answers: [String: [Answer]] = [:]
    /// Every call made, in order.
    private(set) var requests: [UpstreamRequest] = []
    /// Body chunks handed to the pipeline, over all calls.
    private(set) var chunksDelivered = 0

    init(clock: FakeClock) {
        self.clock = clock
    }

    /// Lines up `answers` for calls to URLs under `baseURL`.
    func answer(_ baseURL: String, _ answers: Answer...) {
        self.answers[baseURL, default: []] += answers
    }

    func perform(_ request: UpstreamRequest, handler: UpstreamResponseHandler) -> UpstreamOutcome {
        requests.append(request)
        guard let base = answers.keys.first(where: { request.url.hasPrefix($0) }), let next = answers[base]?.first else {
            return .failed(.connect("no answer lined up for \(request.url)"), receivedHead: false)
        }
        if answers[base]!.count > 1 { answers[base]!.removeFirst() }
        return deliver(next, to: handler)
    }

    private func deliver(_ answer: Answer, to handler: UpstreamResponseHandler) -> UpstreamOutcome {
        switch answer {
        case .after(let delay, let answer):
            clock.advance(by: delay)
            return deliver(answer, to: handler)
        case .failure(let failure):
            return .failed(failure, receivedHead: false)
        case .response(let status, let contentType, let chunks):
            guard handler.didReceiveHead(status: status, headers: [("content-type", contentType)]) else {
                return .failed(.aborted, receivedHead: true)
            }
            for chunk in chunks {
                guard handler.shouldContinue() else { return .failed(.aborted, receivedHead: true) }
                clock.advance(by: chunkInterval)
                chunksDelivered += 1
                guard Array(chunk.utf8).withUnsafeBytes({ handler.didReceive($0) }) else {
                    return .failed(.aborted, receivedHead: true)
                }
            }
            return .completed(status: status)
        }
    }

    /// A JSON answer, in one chunk.
    static func json(_ body: String, status: Int = 200) -> Answer {
        .response(status: status, contentType: "application/json", chunks: [body])
    }

    /// An event stream, one event per chunk.
    static func events(_ events: [String]) -> Answer {
        .response(status: 200, contentType: "text/event-stream", chunks: events)
    }
}

/// Shared endpoint health in memory: the states a test sets, and every report it gets.
final class FakeHealth: EndpointHealthPort {
    /// By upstream key; a missing one is healthy.
    var states: [String: EndpointHealth] = [:]
    /// Every `report`, in order.
    private(set) var reports: [[AttemptRecord]] = []

    func snapshotCall(of endpoints: [EndpointConfig], probeLease: Duration, owner: String,
                      inFlight: Bool) -> AdmissionPlan.ScriptCall {
        (HealthScripts.snapshot, [], [])
    }

    func snapshot(from reply: RedisValue?, of endpoints: [EndpointConfig]) -> HealthSnapshot? {
        HealthSnapshot(now: Governor.nowMs(), byUpstream: states)
    }

    func snapshot(of endpoints: [EndpointConfig], probeLease: Duration, owner: String, inFlight: Bool) -> HealthSnapshot? {
        snapshot(from: nil, of: endpoints)
    }

    func report(_ attempts: [AttemptRecord], releasing unused: [String], owner: String) -> [(upstream: String, change: String)] {
        reports.append(attempts)
        return []
    }

    func markInFlight(_ upstream: String, token: String, expiresAtMs: Int64, lifetime: Duration) -> Bool { true }

    func release(_ marks: [(upstream: String, token: String)]) {}
}

/// Gateway keys in memory; `down` makes every lookup fail as an unreachable Redis does.
final class FakeKeys: GatewayKeyPort {
    private var records: [String: GatewayKeyRecord] = [:]
    var down = false
    private(set) var lookups = 0

    /// Stores a new key for every route, valid until `expiresAtMs` (nil: no expiry);
    /// returns its text and id.
    func add(name: String, expiresAtMs: Int64? = nil) -> (key: String, id: String) {
        var generator = SystemRandomNumberGenerator()
        let (key, id) = GatewayKeyFormat.generate(using: &generator)
        let hash = GatewayKeyFormat.hash(key)
        records[hash] = GatewayKeyRecord(id: id, name: name, hash: hash, displayPrefix: GatewayKeyFormat.displayPrefix(of: key),
                                         routes: nil, createdAt: 0, expiresAtMs: expiresAtMs)
        return (key, id)
    }

    /// Revokes `key`, as `sluice keys revoke` does in Redis.
    func revoke(_ key: String) {
        records[GatewayKeyFormat.hash(key)]?.revokedAt = 1
    }

    func lookup(hash: String) throws(RedisError) -> GatewayKeyRecord? {
        lookups += 1
        if down { throw RedisError(.connection, "connection refused (in-memory outage)") }
        return records[hash]
    }
}

/// The settler in memory: every finished call handed to it.
final class FakeAuditSink: AuditSinkPort {
    private(set) var calls: [FinishedCall] = []
    var records: [AuditRecord] { calls.compactMap(\.record) }

    func submit(_ call: FinishedCall) {
        calls.append(call)
    }
}

/// One `RequestPipeline` on fakes only, serving requests as an acceptor thread does.
struct FakePipeline {
    let pipeline: RequestPipeline
    let context: WorkerContext
    let clock = FakeClock()
    let upstream: FakeUpstream
    let health = FakeHealth()
    let keys = FakeKeys()
    let sink = FakeAuditSink()
    let governance = InMemoryGovernance()

    /// `yaml`: the config (its Redis URL is never dialled by the paths under test).
    init(yaml: String) throws {
        let loaded = try ConfigLoader.parse(yaml: yaml, fileName: "sluice.yaml", secrets: SystemSecretSource())
        context = WorkerContext(config: loaded.config, loadedAt: 0, logger: Logger(label: "test"), governance: governance)
        upstream = FakeUpstream(clock: clock)
        pipeline = RequestPipeline(context: context, settler: sink, upstream: upstream, health: health, keys: keys,
                                   clock: clock)
    }

    /// Serves `client`'s request and hands the call off, as `AcceptorThread` does.
    func serve(_ client: FakeClientConnection) {
        pipeline.handle(client)
        pipeline.settleBeforeFinish()
        pipeline.handOffBeforeFinish()
        pipeline.afterFinish()
    }
}
