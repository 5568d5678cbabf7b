import Logging
import SluiceCore
@testable import SluiceGateway
import SluiceRedis
import XCTest

/// `Governor` on an in-memory `GovernancePort`, without Redis or sockets: what it makes of
/// admitted and refused decisions (headers, `x-should-retry`), and of storage that cannot
/// be asked (fail open within the local allowance, or fail closed).
final class GovernorTests: XCTestCase {
    private func governor(_ mode: String, localRequests: Int = 2) throws -> (Governor, InMemoryGovernance, WorkerContext) {
        let yaml = """
            redis: { url: "redis://127.0.0.1:1/0" }
            providers:
              mock: { kind: openai_compatible, base_url: "http://127.0.0.1:1/v1", api_key: "k" }
            routes:
              chat: { type: chat, endpoints: [ { provider: mock, model: m } ] }
            limits:
              - { per: route, requests: 2, window: 1m }
            admission: { on_redis_error: \(mode), local_requests: \(localRequests), local_window: 1m }
            """
        let loaded = try ConfigLoader.parse(yaml: yaml, fileName: "sluice.yaml", secrets: SystemSecretSource())
        let port = InMemoryGovernance()
        let context = WorkerContext(config: loaded.config, loadedAt: 0, logger: Logger(label: "test"), governance: port)
        return (Governor(context: context, clock: SystemClock()), port, context)
    }

    private func plan(_ governor: Governor, _ context: WorkerContext) throws -> AdmissionPlan {
        let request = try APIRequest(operation: .chatCompletions, body: Array(#"{"model":"chat","messages":[]}"#.utf8))
        let route = try XCTUnwrap(context.config.routes["chat"])
        return try XCTUnwrap(governor.plan(for: request, route: route, caller: .principal(name: "test", policy: AccessPolicy()), tags: [:]))
    }

    func testAdmittedCallsCarryTheRateLimitHeadersAndARefusalSaysWhenToRetry() throws {
        let (governor, _, context) = try governor("fail_closed")
        for remaining in ["1", "0"] {
            guard case .admitted(let headers, let atMs) = governor.admit(try plan(governor, context), with: nil).0 else {
                return XCTFail("admitted")
            }
            XCTAssertEqual(atMs, 1_000, "the storage's clock names the buckets")
            XCTAssertEqual(headers.first { $0.name == "x-ratelimit-remaining-requests" }?.value, remaining)
        }
        guard case .refused(let error, let headers) = governor.admit(try plan(governor, context), with: nil).0 else {
            return XCTFail("the third call of a limit of 2 is refused")
        }
        XCTAssertEqual(error.httpStatus, 429)
        XCTAssertEqual(error.retryAfter, 30)
        XCTAssertNil(headers.first { $0.name == "x-should-retry" }, "waiting helps: retryable")
    }

    func testFailOpenAdmitsWithinTheLocalAllowanceThenRefuses() throws {
        let (governor, port, context) = try governor("fail_open", localRequests: 2)
        port.down = true
        var outcomes: [String] = []
        for _ in 0..<3 {
            switch governor.admit(try plan(governor, context), with: nil).0 {
            case .admitted(_, let atMs): outcomes.append(atMs == nil ? "local" : "redis")
            case .refused(let error, _): outcomes.append("\(error.httpStatus)")
            }
        }
        XCTAssertEqual(outcomes, ["local", "local", "503"], "nothing reserved (no Redis time) within the allowance")
    }

    func testFailClosedRefusesEveryCallWhileStorageIsDown() throws {
        let (governor, port, context) = try governor("fail_closed")
        port.down = true
        guard case .refused(let error, _) = governor.admit(try plan(governor, context), with: nil).0 else {
            return XCTFail("refused")
        }
        XCTAssertEqual(error.httpStatus, 503)
        XCTAssertEqual(error.retryAfter, 1)
        port.down = false
        guard case .admitted = governor.admit(try plan(governor, context), with: nil).0 else {
            return XCTFail("admitted once storage answers again")
        }
    }
}
