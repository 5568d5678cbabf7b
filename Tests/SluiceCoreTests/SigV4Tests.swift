import SluiceCore
import XCTest

/// `SigV4` against AWS's published Signature Version 4 test suite and a Bedrock request
/// signed by botocore (1.43, `SigV4Auth(creds, "bedrock", "us-east-1")`).
final class SigV4Tests: XCTestCase {
    private let suite = AWSSigV4(region: "us-east-1", service: "service", accessKeyID: "AKIDEXAMPLE",
                                 secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    /// 2015-08-30T12:36:00Z, the test suite's time.
    private let suiteTime = 1_440_938_160

    func testAmzDateAndItsInverse() {
        XCTAssertEqual(SigV4.amzDate(suiteTime), "20150830T123600Z")
        XCTAssertEqual(SigV4.amzDate(0), "19700101T000000Z")
        XCTAssertEqual(SigV4.amzDate(951_825_599), "20000229T115959Z", "a leap day")
        XCTAssertEqual(SigV4.amzDate(1_714_564_800), "20240501T120000Z")
    }

    func testGetVanilla() {
        let headers = SigV4.signingHeaders(method: "GET", url: "https://example.amazonaws.com/", headers: [], body: [],
                                           signer: suite, unixTime: suiteTime)
        XCTAssertEqual(pairs(headers), [
            "Host: example.amazonaws.com",
            "X-Amz-Date: 20150830T123600Z",
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                + "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ])
    }

    func testGetVanillaQueryOrderKeyCase() {
        let headers = SigV4.signingHeaders(method: "GET", url: "https://example.amazonaws.com/?Param2=value2&Param1=value1",
                                           headers: [], body: [], signer: suite, unixTime: suiteTime)
        XCTAssertTrue(headers.last?.value.hasSuffix("Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500") ?? false,
                      "\(headers)")
    }

    /// A Bedrock model id with `:` is sent as `%3A` and signed as `%253A` (each path segment
    /// encoded once more); the session token is sent and signed.
    func testBedrockRequestMatchesBotocore() {
        let signer = AWSSigV4(region: "us-east-1", service: "bedrock", accessKeyID: "AKIDEXAMPLE",
                              secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: "SESSIONTOKEN")
        let body = Array(#"{"messages":[{"content":[{"text":"Hi"}],"role":"user"}]}"#.utf8)
        let headers = SigV4.signingHeaders(
            method: "POST", url: "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
            headers: [("Content-Type", "application/json")], body: body, signer: signer, unixTime: 1_714_564_800)
        XCTAssertEqual(pairs(headers), [
            "Host: bedrock-runtime.us-east-1.amazonaws.com",
            "X-Amz-Date: 20240501T120000Z",
            "x-amz-security-token: SESSIONTOKEN",
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/us-east-1/bedrock/aws4_request, "
                + "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
                + "Signature=c747356d7d9778ee8012fe4a9a5b9991aa47691fdc0ded50741270c84a08360d",
        ])
    }

    func testVerifyAcceptsWhatItSignsAndRejectsTampering() {
        let signer = AWSSigV4(region: "eu-west-1", service: "bedrock", accessKeyID: "AKID1", secretAccessKey: "secret-1",
                              sessionToken: "tok")
        let url = "http://127.0.0.1:8080/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A1%3Ainference-profile%2Fx/converse-stream"
        let body = Array(#"{"a":1}"#.utf8)
        let sent = [("Content-Type", "application/json")]
            + SigV4.signingHeaders(method: "POST", url: url, headers: [("Content-Type", "application/json")], body: body,
                                   signer: signer, unixTime: 1_714_564_800)
        let path = "/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A1%3Ainference-profile%2Fx/converse-stream"
        func verify(method: String = "POST", path: String? = nil, headers: [(name: String, value: String)]? = nil,
                    body: [UInt8]? = nil, now: Int = 1_714_564_900) -> Result<SigV4.VerifiedCredential, SigV4.VerificationFailure> {
            SigV4.verify(method: method, rawPath: path ?? "/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A1%3Ainference-profile%2Fx/converse-stream",
                         headers: headers ?? sent, body: body ?? Array(#"{"a":1}"#.utf8), region: "eu-west-1",
                         service: "bedrock", now: now) { $0 == "AKID1" ? "secret-1" : nil }
        }
        XCTAssertEqual(try verify().get().signedHeaders, ["content-type", "host", "x-amz-date", "x-amz-security-token"])
        XCTAssertEqual(verify(body: Array(#"{"a":2}"#.utf8)), .failure(.signatureMismatch))
        XCTAssertEqual(verify(path: path.replacingOccurrences(of: "converse-stream", with: "converse")), .failure(.signatureMismatch))
        XCTAssertEqual(verify(method: "PUT"), .failure(.signatureMismatch))
        XCTAssertEqual(verify(headers: sent.map { $0.name == "x-amz-security-token" ? ($0.name, "other") : $0 }),
                       .failure(.signatureMismatch))
        XCTAssertEqual(verify(headers: sent.filter { $0.name != "x-amz-security-token" }),
                       .failure(.missingSignedHeader("x-amz-security-token")))
        XCTAssertEqual(verify(headers: sent.filter { $0.name != "Authorization" }), .failure(.malformedAuthorization))
        XCTAssertEqual(verify(now: 1_714_564_800 + 301), .failure(.expired))
        let otherKey = sent.map { $0.name == "Authorization" ? ($0.name, $0.value.replacingOccurrences(of: "AKID1", with: "AKID2")) : $0 }
        XCTAssertEqual(verify(headers: otherKey), .failure(.unknownAccessKey("AKID2")))
    }

    private func pairs(_ headers: [(name: String, value: String)]) -> [String] {
        headers.map { "\($0.name): \($0.value)" }
    }
}
