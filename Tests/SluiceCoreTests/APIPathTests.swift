import SluiceCore
import XCTest

final class APIPathTests: XCTestCase {
    func testTheQueryIsDroppedAndAMountPrefixIgnored() {
        XCTAssertEqual(APIPath.of(uri: "/v1/chat/completions"), "/v1/chat/completions")
        XCTAssertEqual(APIPath.of(uri: "/v1/chat/completions?api-version=2024-06-01"), "/v1/chat/completions")
        XCTAssertEqual(APIPath.of(uri: "/gateway/v1/embeddings"), "/v1/embeddings")
        XCTAssertEqual(APIPath.of(uri: "/a/v1x/v1/models/gpt?x=/v1/"), "/v1/models/gpt")
        XCTAssertEqual(APIPath.of(uri: "/v1/"), "/v1/")
    }

    func testTheHealthCheckAndOtherPaths() {
        XCTAssertEqual(APIPath.of(uri: "/sluice/healthz"), "/sluice/healthz")
        XCTAssertEqual(APIPath.of(uri: "/mounted/sluice/healthz?probe=1"), "/sluice/healthz")
        XCTAssertEqual(APIPath.of(uri: "/metrics"), "/metrics")
        XCTAssertEqual(APIPath.of(uri: "/v2/chat"), "/v2/chat")
        XCTAssertEqual(APIPath.of(uri: ""), "")
        XCTAssertEqual(APIPath.of(uri: "/v1"), "/v1")
        XCTAssertEqual(APIPath.of(uri: "/é/v1/models"), "/v1/models")
    }
}
