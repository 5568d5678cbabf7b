import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SluiceCore
import SluiceMockProvider
import XCTest

/// The mock provider's Bedrock authentication (SigV4 and Bedrock API keys) and its
/// Bedrock-shaped errors and faults; and, when boto3 is installed, AWS's own client
/// against it (`scripts/mock-bedrock-boto3.py`).
final class MockProviderBedrockAuthTests: XCTestCase {
    private let model = "anthropic.claude-3-haiku-20240307-v1:0"
    private let messages: [String: Any] = ["messages": [["role": "user", "content": [["text": "hi"]]]]]
    private let signer = AWSSigV4(region: "eu-west-1", service: "bedrock", accessKeyID: "AKIDMOCK",
                                  secretAccessKey: "mock-secret")

    private func signedMock(apiKey: String? = nil, sessionToken: String? = nil) throws -> MockClient {
        var options = MockProviderOptions(apiKey: apiKey)
        options.bedrock = MockBedrockOptions(accessKeyID: "AKIDMOCK", secretAccessKey: "mock-secret",
                                             sessionToken: sessionToken, region: "eu-west-1")
        return try MockClient(options: options)
    }

    // MARK: Signatures

    func testSignedRequestIsAcceptedAndRecorded() async throws {
        let mock = try signedMock()
        let response = try await mock.bedrock(model, "converse", messages, signer: signer)
        XCTAssertEqual(response.status, 200, response.text)
        let stats = try await mock.stats()
        XCTAssertEqual(stats["auth_verified"] as? Int, 1)
        XCTAssertEqual(stats["auth_rejected"] as? Int, 0)
        let last = try XCTUnwrap(stats["last_auth"] as? [String: Any])
        XCTAssertEqual(last["scheme"] as? String, "sigv4")
        XCTAssertEqual(last["verified"] as? Bool, true)
        XCTAssertTrue(last["error"] is NSNull)
    }

    func testBadSignaturesGetAWSErrorTypes() async throws {
        let mock = try signedMock()
        let wrongSecret = AWSSigV4(region: "eu-west-1", service: "bedrock", accessKeyID: "AKIDMOCK", secretAccessKey: "nope")
        let mismatch = try await mock.bedrock(model, "converse", messages, signer: wrongSecret)
        XCTAssertEqual(mismatch.status, 403)
        let error = try bedrockError(mismatch)
        XCTAssertEqual(error.type, "InvalidSignatureException")
        XCTAssertTrue(error.message.hasPrefix("The request signature we calculated does not match"))
        XCTAssertTrue(error.message.contains("/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse\n"),
                      "the canonical URI encodes the path segment twice: \(error.message)")
        XCTAssertEqual(mismatch.header("x-amzn-ErrorType"),
                       "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/")

        let cases: [(AWSSigV4?, Int?, String, String)] = [
            (AWSSigV4(region: "eu-west-1", service: "bedrock", accessKeyID: "AKIDOTHER", secretAccessKey: "mock-secret"), nil,
             "UnrecognizedClientException", "The security token included in the request is invalid."),
            (nil, nil, "MissingAuthenticationTokenException", "Missing Authentication Token"),
            (signer, Int(Date().timeIntervalSince1970) - 3600, "InvalidSignatureException", "Signature expired: "),
            (signer, Int(Date().timeIntervalSince1970) + 3600, "InvalidSignatureException", "Signature not yet current: "),
            (AWSSigV4(region: "us-east-1", service: "bedrock", accessKeyID: "AKIDMOCK", secretAccessKey: "mock-secret"), nil,
             "InvalidSignatureException", "Credential should be scoped to a valid region."),
            (AWSSigV4(region: "eu-west-1", service: "s3", accessKeyID: "AKIDMOCK", secretAccessKey: "mock-secret"), nil,
             "InvalidSignatureException", "Credential should be scoped to correct service: 'bedrock'."),
        ]
        for (signer, time, type, prefix) in cases {
            let response = try await mock.bedrock(model, "converse", messages, signer: signer, unixTime: time)
            XCTAssertEqual(response.status, 403, type)
            let error = try bedrockError(response)
            XCTAssertEqual(error.type, type)
            XCTAssertTrue(error.message.hasPrefix(prefix), "\(error.message) should start with \(prefix)")
        }
        let stats = try await mock.stats()
        XCTAssertEqual(stats["auth_rejected"] as? Int, 1 + cases.count)
        XCTAssertEqual((stats["last_auth"] as? [String: Any])?["error"] as? String, "InvalidSignatureException")
    }

    func testSessionTokenMustMatch() async throws {
        let mock = try signedMock(sessionToken: "token-1")
        var withToken = signer
        withToken.sessionToken = "token-1"
        let accepted = try await mock.bedrock(model, "converse", messages, signer: withToken)
        XCTAssertEqual(accepted.status, 200)
        withToken.sessionToken = "token-2"
        let refused = try await mock.bedrock(model, "converse", messages, signer: withToken)
        XCTAssertEqual(try bedrockError(refused).type, "UnrecognizedClientException")
    }

    func testBedrockAPIKeyAsBearerToken() async throws {
        let mock = try signedMock(apiKey: "bedrock-api-key")
        let accepted = try await mock.bedrock(model, "converse", messages, headers: ["Authorization": "Bearer bedrock-api-key"])
        XCTAssertEqual(accepted.status, 200)
        let stats = try await mock.stats()
        XCTAssertEqual((stats["last_auth"] as? [String: Any])?["scheme"] as? String, "bearer")
        let refused = try await mock.bedrock(model, "converse", messages, headers: ["Authorization": "Bearer other"])
        XCTAssertEqual(refused.status, 403)
        XCTAssertEqual(try bedrockError(refused).type, "AccessDeniedException")
    }

    func testWithoutCredentialsNothingIsChecked() async throws {
        let mock = try MockClient()
        let response = try await mock.bedrock(model, "converse", messages)
        XCTAssertEqual(response.status, 200)
        let stats = try await mock.stats()
        let last = try XCTUnwrap(stats["last_auth"] as? [String: Any])
        XCTAssertEqual(last["scheme"] as? String, "none")
        XCTAssertEqual(last["verified"] as? Bool, false)
    }

    // MARK: Errors and faults

    func testStatusAndExceptionFaultsAnswerBedrockErrors() async throws {
        let mock = try MockClient()
        let expected: [(String, Int, String)] = [
            ("status=429", 429, "ThrottlingException"), ("status=400", 400, "ValidationException"),
            ("status=403", 403, "AccessDeniedException"), ("status=404", 404, "ResourceNotFoundException"),
            ("status=408", 408, "ModelTimeoutException"), ("status=500", 500, "InternalServerException"),
            ("status=503", 503, "ServiceUnavailableException"), ("exception=ModelNotReadyException", 429, "ModelNotReadyException"),
            ("exception=ModelErrorException", 424, "ModelErrorException"),
            ("exception=ThrottlingException,status=503", 503, "ThrottlingException"),
            ("quota=1", 400, "ServiceQuotaExceededException"),
        ]
        for (fault, status, type) in expected {
            let response = try await mock.bedrock(model + "@" + fault, "converse", messages)
            XCTAssertEqual(response.status, status, fault)
            XCTAssertEqual(try bedrockError(response).type, type, fault)
            XCTAssertEqual(response.header("x-amzn-ErrorType"), "\(type):http://internal.amazon.com/coral/com.amazon.bedrock/")
        }
        let unknown = try await mock.bedrock(model + "@status=abc", "converse", messages)
        XCTAssertEqual(unknown.status, 400)
        XCTAssertTrue(try bedrockError(unknown).message.contains("status=abc"))
    }

    func testRuntimeFaultForABedrockModel() async throws {
        let mock = try MockClient()
        let installed = try await mock.setFault(model: model, "exception=ServiceUnavailableException")
        XCTAssertEqual(installed.status, 200)
        let failing = try await mock.bedrock(model, "converse-stream", messages)
        XCTAssertEqual(failing.status, 503)
        XCTAssertEqual(try bedrockError(failing).type, "ServiceUnavailableException")
        let cleared = try await mock.setFault(model: model, "")
        XCTAssertEqual(cleared.status, 200)
        let recovered = try await mock.bedrock(model, "converse-stream", messages)
        XCTAssertEqual(recovered.status, 200)
    }

    func testUnknownOperation() async throws {
        let mock = try MockClient()
        let response = try await mock.bedrock(model, "invoke-with-response-stream", messages)
        XCTAssertEqual(response.status, 404)
        XCTAssertEqual(try bedrockError(response).type, "UnknownOperationException")
    }

    // MARK: boto3

    func testBoto3AcceptsTheMock() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/mock-bedrock-boto3.py").path
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/env"),
              run(["python3", "-c", "import boto3"]).status == 0 else {
            throw XCTSkip("python3 with boto3 is not installed")
        }
        let mock = try signedMock(apiKey: "bedrock-api-key")
        let result = run(["python3", script, "--endpoint", "http://127.0.0.1:\(mock.port)", "--access-key-id", "AKIDMOCK",
                          "--secret-access-key", "mock-secret", "--region", "eu-west-1", "--api-key", "bedrock-api-key"])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.hasSuffix("9 passed, 0 failed\n"), result.output)
    }

    /// Runs a command through `/usr/bin/env`; its exit status and standard output and error.
    private func run(_ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            return (-1, "\(error)")
        }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
