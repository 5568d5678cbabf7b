import SluiceCore
@testable import SluiceGateway
import XCTest

/// The response cache's key: what makes two requests the same answer (members in any
/// order, `ignore_fields` left out), and what keeps them apart (route, guardrails, API
/// operation, the caller's namespace).
final class CallCacheTests: XCTestCase {
    private func key(route: String = "faq", guardrails: String = "-", operation: APIOperation = .chatCompletions,
                     namespace: String = "key:k1", _ body: String, ignoring: Set<String> = []) -> String? {
        CallCache.key(prefix: "sluice", route: route, guardrails: guardrails, operation: operation, namespace: namespace,
                      body: Array(body.utf8), ignoring: ignoring)
    }

    private let body = #"{"model":"faq","messages":[{"role":"user","content":"hi"}],"user":"u1"}"#

    func testMemberOrderAndIgnoredFieldsDoNotChangeTheKey() throws {
        let first = try XCTUnwrap(key(body, ignoring: ["user"]))
        XCTAssertTrue(first.hasPrefix("sluice:cache:"), first)
        XCTAssertEqual(first.count, "sluice:cache:".count + 64)
        XCTAssertEqual(key(#"{ "user":"u2", "messages":[{"role":"user","content":"hi"}], "model":"faq" }"#, ignoring: ["user"]),
                       first)
        // Without ignore_fields, `user` is part of the question.
        XCTAssertNotEqual(key(body), key(#"{"model":"faq","messages":[{"role":"user","content":"hi"}],"user":"u2"}"#))
        // Whitespace inside a member's value is the client's text: a different request.
        XCTAssertNotEqual(key(body), key(#"{"model":"faq","messages":[{"role":"user", "content":"hi"}],"user":"u1"}"#))
        XCTAssertNil(key("[1,2]"), "not a JSON object: no key, no caching")
    }

    func testRouteGuardrailsOperationAndNamespaceEachChangeTheKey() {
        let base = key(body)
        XCTAssertNotEqual(key(route: "other", body), base)
        XCTAssertNotEqual(key(guardrails: "0f3a", body), base, "answers stored under other guardrails are not served")
        XCTAssertNotEqual(key(operation: .messages, body), base)
        XCTAssertNotEqual(key(namespace: "key:k2", body), base)
        XCTAssertEqual(key(body), base)
    }

    func testTheNamespaceIsTheCallersKeyByDefault() {
        let k1 = GatewayKeyRecord(id: "k1", name: "", hash: "h", displayPrefix: "", routes: nil, createdAt: 0)
        var off = GatewayKeyRecord(id: "k3", name: "", hash: "h", displayPrefix: "", routes: nil, createdAt: 0)
        off.guardrailsOff = ["pii", "emails"]
        let bob = Caller.principal(name: "bob", policy: AccessPolicy())
        let byKey = ResponseCacheConfig()
        XCTAssertEqual(byKey.namespace, .key)
        XCTAssertEqual(CallCache.namespace(byKey, caller: .key(k1), tags: [:]), "key:k1")
        XCTAssertEqual(CallCache.namespace(byKey, caller: bob, tags: [:]), "principal:bob")
        XCTAssertNil(CallCache.namespace(byKey, caller: nil, tags: [:]))
        XCTAssertEqual(CallCache.namespace(byKey, caller: .key(off), tags: [:]), "key:k3|off:emails,pii")
        let shared = ResponseCacheConfig(namespace: .route)
        XCTAssertEqual(CallCache.namespace(shared, caller: .key(k1), tags: [:]), "*")
        XCTAssertEqual(CallCache.namespace(shared, caller: bob, tags: [:]), "*")
        XCTAssertEqual(CallCache.namespace(shared, caller: .key(off), tags: [:]), "*|off:emails,pii",
                       "callers that skip guardrails never share answers with callers held to them")
        let team = ResponseCacheConfig(namespace: .tag("team"))
        XCTAssertEqual(CallCache.namespace(team, caller: .key(k1), tags: ["team": "support"]), "tag:team=support")
        XCTAssertEqual(CallCache.namespace(team, caller: bob, tags: [:]), "tag:team=")
    }

    func testTheGuardrailsDigestFollowsTheirConfig() {
        var route = RouteConfig(name: "faq", type: .chat, endpoints: [])
        XCTAssertEqual(CallCache.guardrailsDigest(route), "-")
        var emails = GuardrailConfig(name: "pii")
        emails.detectors = [.email]
        route.guardrails = [emails]
        let first = CallCache.guardrailsDigest(route)
        XCTAssertEqual(first.count, 64)
        XCTAssertEqual(CallCache.guardrailsDigest(route), first, "the same config, the same digest")
        route.guardrails[0].action = .mask
        XCTAssertNotEqual(CallCache.guardrailsDigest(route), first)
        route.guardrails[0].action = .block
        route.guardrails[0].words = ["secret"]
        XCTAssertNotEqual(CallCache.guardrailsDigest(route), first)
    }

    func testAnAnswerLargerThanMaxBytesIsNotKept() {
        let cache = CallCache(key: "k", config: ResponseCacheConfig(maxBytes: 10), result: .miss, mayStore: true)
        Array("12345".utf8).withUnsafeBytes { cache.capture($0) }
        XCTAssertEqual(cache.body.count, 5)
        Array("678901".utf8).withUnsafeBytes { cache.capture($0) }
        XCTAssertTrue(cache.overflowed)
        XCTAssertEqual(cache.body, [])
        let noStore = CallCache(key: "k", config: ResponseCacheConfig(), result: .bypass, mayStore: false)
        Array("x".utf8).withUnsafeBytes { noStore.capture($0) }
        XCTAssertEqual(noStore.body, [], "no-store: nothing captured")
    }
}
