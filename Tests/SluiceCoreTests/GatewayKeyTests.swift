import SluiceCore
import XCTest

/// Gateway keys: how they are made, recognised and stored (never as text).
final class GatewayKeyTests: XCTestCase {
    func testGeneratedKeyShape() {
        var generator = SplitMix64(seed: 42)
        let (key, id) = GatewayKeyFormat.generate(using: &generator)
        XCTAssertTrue(key.hasPrefix("sk-sluice-"), key)
        XCTAssertEqual(key.count, "sk-sluice-".count + 40)
        XCTAssertTrue(key.dropFirst(10).allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }, key)
        XCTAssertTrue(id.hasPrefix("key_"), id)
        XCTAssertEqual(id.count, 4 + 12)
        XCTAssertTrue(id.dropFirst(4).allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }, id)
        XCTAssertTrue(GatewayKeyFormat.looksValid(key))
        XCTAssertFalse(key.contains(id.dropFirst(4)), "the id is not part of the key")
    }

    func testGenerationIsDeterministicForASeedAndDiffersAcrossSeeds() {
        var first = SplitMix64(seed: 7)
        var again = SplitMix64(seed: 7)
        var other = SplitMix64(seed: 8)
        let a = GatewayKeyFormat.generate(using: &first)
        let b = GatewayKeyFormat.generate(using: &again)
        let c = GatewayKeyFormat.generate(using: &other)
        XCTAssertEqual(a.key, b.key)
        XCTAssertEqual(a.id, b.id)
        XCTAssertNotEqual(a.key, c.key)
        let next = GatewayKeyFormat.generate(using: &first)
        XCTAssertNotEqual(a.key, next.key, "consecutive keys from one generator differ")
    }

    func testGeneratedCharactersCoverTheWholeAlphabet() {
        var generator = SplitMix64(seed: 1)
        var seen = Set<Character>()
        for _ in 0..<200 {
            seen.formUnion(GatewayKeyFormat.generate(using: &generator).key.dropFirst(10))
        }
        XCTAssertEqual(seen.count, 62, "base62: digits, upper and lower case")
    }

    func testLooksValid() {
        let body = String(repeating: "aZ09", count: 10)
        XCTAssertTrue(GatewayKeyFormat.looksValid("sk-sluice-" + body))
        XCTAssertFalse(GatewayKeyFormat.looksValid("sk-sluice-" + body.dropLast()), "39 characters")
        XCTAssertFalse(GatewayKeyFormat.looksValid("sk-sluice-" + body + "a"), "41 characters")
        XCTAssertFalse(GatewayKeyFormat.looksValid("sk-other-" + body + "a"), "wrong prefix")
        XCTAssertFalse(GatewayKeyFormat.looksValid("SK-SLUICE-" + body), "prefix is case-sensitive")
        XCTAssertFalse(GatewayKeyFormat.looksValid("sk-sluice-" + body.dropLast() + "-"), "not base62")
        XCTAssertFalse(GatewayKeyFormat.looksValid("sk-sluice-" + body.dropLast() + "é"), "non-ASCII")
        XCTAssertFalse(GatewayKeyFormat.looksValid(" sk-sluice-" + body), "leading space")
        XCTAssertFalse(GatewayKeyFormat.looksValid(""))
        XCTAssertFalse(GatewayKeyFormat.looksValid("sk-sluice-"))
    }

    func testHashIsSHA256Hex() {
        // FIPS 180-2 test vectors.
        XCTAssertEqual(GatewayKeyFormat.hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(GatewayKeyFormat.hash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(GatewayKeyFormat.hash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        let hash = GatewayKeyFormat.hash("sk-sluice-" + String(repeating: "x", count: 40))
        XCTAssertEqual(hash.count, 64)
        XCTAssertTrue(hash.allSatisfy { "0123456789abcdef".contains($0) }, "lower-case hex")
    }

    func testDisplayPrefix() {
        let key = "sk-sluice-AbC1" + String(repeating: "z", count: 36)
        XCTAssertEqual(GatewayKeyFormat.displayPrefix(of: key), "sk-sluice-AbC1…")
    }

    func testRecordFieldsRoundTrip() throws {
        var generator = SplitMix64(seed: 99)
        let (key, id) = GatewayKeyFormat.generate(using: &generator)
        let records = [
            GatewayKeyRecord(id: id, name: "support bot, EU", hash: GatewayKeyFormat.hash(key),
                             displayPrefix: GatewayKeyFormat.displayPrefix(of: key), routes: ["chat", "embed", "a.b/c:d-e"],
                             createdAt: 1_700_000_000, revokedAt: 1_700_000_500),
            GatewayKeyRecord(id: id, name: "", hash: GatewayKeyFormat.hash(key), displayPrefix: "p", routes: nil,
                             createdAt: 0),
            GatewayKeyRecord(id: id, name: "no routes", hash: GatewayKeyFormat.hash(key), displayPrefix: "p", routes: [],
                             createdAt: 5),
        ]
        for record in records {
            let fields = Dictionary(uniqueKeysWithValues: record.fields)
            XCTAssertEqual(fields.count, record.fields.count, "no field is written twice")
            XCTAssertEqual(GatewayKeyRecord(fields: fields), record)
        }
    }

    func testRecordFieldsInFixedOrder() {
        let record = GatewayKeyRecord(id: "key_1", name: "n", hash: "h", displayPrefix: "p", routes: ["b", "a"],
                                      createdAt: 10, revokedAt: 20)
        XCTAssertEqual(record.fields.map(\.0), ["id", "name", "hash", "prefix", "routes", "created_at", "tags", "client_tags",
                                                "limits", "revoked_at"])
        XCTAssertEqual(record.fields.map(\.1), ["key_1", "n", "h", "p", "a,b", "10", "", "*", "", "20"])
        let active = GatewayKeyRecord(id: "key_1", name: "n", hash: "h", displayPrefix: "p", routes: nil, createdAt: 10)
        XCTAssertEqual(active.fields.map(\.0), ["id", "name", "hash", "prefix", "routes", "created_at", "tags", "client_tags",
                                                "limits"])
        XCTAssertEqual(active.fields.first { $0.0 == "routes" }?.1, "*")
    }

    func testRecordRequiresIdHashAndCreatedAt() {
        let complete = ["id": "key_1", "hash": "h", "created_at": "5"]
        XCTAssertNotNil(GatewayKeyRecord(fields: complete))
        for missing in ["id", "hash", "created_at"] {
            var fields = complete
            fields[missing] = nil
            XCTAssertNil(GatewayKeyRecord(fields: fields), missing)
        }
        XCTAssertNil(GatewayKeyRecord(fields: ["id": "key_1", "hash": "h", "created_at": "yesterday"]))
        let defaults = GatewayKeyRecord(fields: complete)
        XCTAssertNil(defaults?.routes, "no routes field means every route")
        XCTAssertEqual(defaults?.name, "")
        XCTAssertNil(defaults?.revokedAt)
    }

    func testRecordNeverContainsTheKey() {
        var generator = SplitMix64(seed: 2024)
        for _ in 0..<20 {
            let (key, id) = GatewayKeyFormat.generate(using: &generator)
            let record = GatewayKeyRecord(id: id, name: "n", hash: GatewayKeyFormat.hash(key),
                                          displayPrefix: GatewayKeyFormat.displayPrefix(of: key), routes: nil,
                                          createdAt: 1)
            let secretPart = String(key.dropFirst("sk-sluice-".count))
            for (name, value) in record.fields {
                XCTAssertFalse(value.contains(key), "field \(name) holds the key")
                XCTAssertFalse(value.contains(secretPart.suffix(36)), "field \(name) holds most of the secret")
            }
            XCTAssertFalse("\(record)".contains(secretPart.suffix(36)))
            XCTAssertEqual(Caller.key(record).label, id, "the log label is the id")
            XCTAssertLessThanOrEqual(record.displayPrefix.count, "sk-sluice-".count + 5)
        }
    }

    func testPolicyFollowsRoutes() {
        let limited = GatewayKeyRecord(id: "k", name: "", hash: "h", displayPrefix: "", routes: ["a"], createdAt: 0)
        XCTAssertTrue(limited.policy.allows(route: "a"))
        XCTAssertFalse(limited.policy.allows(route: "b"))
        let open = GatewayKeyRecord(id: "k", name: "", hash: "h", displayPrefix: "", routes: nil, createdAt: 0)
        XCTAssertTrue(open.policy.allows(route: "anything"))
        let closed = GatewayKeyRecord(id: "k", name: "", hash: "h", displayPrefix: "", routes: [], createdAt: 0)
        XCTAssertFalse(closed.policy.allows(route: "a"))
    }
}

/// A small seeded generator (SplitMix64, Steele et al. 2014), so generated keys are reproducible.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
