import Foundation
import SluiceCore
import SluiceProviders
import XCTest

/// ConverseStream → OpenAI chunks: the upstream stream is built from a fixture's list of
/// events with `EventStreamEncoder`, framed by `EventStreamFramer`, translated event by
/// event, and compared with the `.sse` fixture the client should see.
final class BedrockStreamTests: XCTestCase {
    /// What the relay does: frame, translate, and after an error send its event and stop.
    private func relay(_ upstream: [UInt8], request: APIRequest, chunkSize: Int = 7)
        -> (transcript: [UInt8], translator: BedrockStreamTranslator, terminal: Bool, error: GatewayError?) {
        var translator = BedrockTranslator().streamTranslator(for: request) as! BedrockStreamTranslator
        var framer = EventStreamFramer()
        var transcript: [UInt8] = []
        var terminal = false
        var error: GatewayError?
        var index = 0
        feeding: while index < upstream.count {
            let chunk = Array(upstream[index..<min(index + chunkSize, upstream.count)])
            index += chunkSize
            let goOn = chunk.withUnsafeBytes { raw in
                framer.feed(raw) { event in
                    let translated = translator.translate(event: event)
                    if let failure = translated.error {
                        error = failure
                        transcript += Array(failure.streamEvent.utf8)
                        return false
                    }
                    transcript += translated.output ?? Array(event)
                    terminal = terminal || translated.isTerminal
                    return !translated.isTerminal
                }
            }
            if !goOn { break feeding }
        }
        return (transcript, translator, terminal, error)
    }

    private func assertTranscript(_ transcript: [UInt8], equals path: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try ProviderFixtures.normalisedEvents(fixture(path), generated: false)
        XCTAssertEqual(try ProviderFixtures.normalisedEvents(transcript), expected, file: file, line: line)
    }

    func testTextStream() throws {
        let request = try ProviderFixtures.request("bedrock/stream_text/client_request.json")
        let result = relay(try ProviderFixtures.eventStream("bedrock/stream_text/upstream_events.json"), request: request)
        try assertTranscript(result.transcript, equals: "bedrock/stream_text/client_stream.sse")
        XCTAssertTrue(result.terminal)
        XCTAssertNil(result.error)
        XCTAssertEqual(result.translator.usage, TokenUsage(prompt: 10, completion: 4), "usage known although the client did not ask")
        XCTAssertEqual(result.translator.generatedBytes, "Hello there!".utf8.count)
        XCTAssertTrue(String(decoding: result.transcript, as: UTF8.self).hasSuffix("data: [DONE]\n\n"))
    }

    func testTwoToolCallsCountedFromZero() throws {
        let request = try ProviderFixtures.request("bedrock/stream_two_tools/client_request.json")
        let result = relay(try ProviderFixtures.eventStream("bedrock/stream_two_tools/upstream_events.json"), request: request, chunkSize: 1)
        try assertTranscript(result.transcript, equals: "bedrock/stream_two_tools/client_stream.sse")
        XCTAssertEqual(result.translator.usage, TokenUsage(prompt: 120, completion: 45))
    }

    func testUsageChunkAfterMessageStopWhenAsked() throws {
        let request = try ProviderFixtures.request("bedrock/stream_usage/client_request.json")
        XCTAssertTrue(request.includeUsage)
        let result = relay(try ProviderFixtures.eventStream("bedrock/stream_usage/upstream_events.json"), request: request, chunkSize: 4096)
        try assertTranscript(result.transcript, equals: "bedrock/stream_usage/client_stream.sse")
        XCTAssertEqual(result.translator.usage, TokenUsage(prompt: 12, completion: 9))
        XCTAssertTrue(result.terminal)
    }

    func testExceptionFrameEndsTheStreamWithAFaithfulError() throws {
        let request = try ProviderFixtures.request("bedrock/stream_text/client_request.json")
        let result = relay(try ProviderFixtures.eventStream("bedrock/stream_exception/upstream_events.json"), request: request)
        try assertTranscript(result.transcript, equals: "bedrock/stream_exception/client_stream.sse")
        XCTAssertFalse(result.terminal, "no [DONE] after a failure")
        XCTAssertEqual(result.error?.httpStatus, 429)
        XCTAssertEqual(result.error?.errorCode, "ThrottlingException")
        XCTAssertNil(result.translator.usage)
        XCTAssertEqual(result.translator.generatedBytes, "Partial".utf8.count)
    }

    func testEachStreamExceptionHasBedrocksStatus() {
        let statuses = ["internalServerException": 500, "modelStreamErrorException": 424, "validationException": 400,
                        "throttlingException": 429, "serviceUnavailableException": 503]
        for (type, status) in statuses {
            var translator = BedrockStreamTranslator(model: "r", clientWantsUsage: false)
            let error = translator.translate(event: EventStreamEncoder.exception(type, json: #"{"message":"m"}"#)[...]).error
            XCTAssertEqual(error?.httpStatus, status, type)
            XCTAssertEqual(error?.message, "m")
        }
        var translator = BedrockStreamTranslator(model: "r", clientWantsUsage: false)
        let protocolError = EventStreamEncoder.encode(headers: [(":message-type", .string("error")), (":error-code", .string("InternalFailure")),
                                                                (":error-message", .string("boom"))], payload: [])
        XCTAssertEqual(translator.translate(event: protocolError[...]).error?.httpStatus, 502)
    }

    func testCRCMismatchMidStreamIsAnError() throws {
        let request = try ProviderFixtures.request("bedrock/stream_text/client_request.json")
        var upstream = try ProviderFixtures.eventStream("bedrock/stream_text/upstream_events.json")
        let first = Int(upstream[3]) | Int(upstream[2]) << 8
        upstream[first + 30] ^= 0xFF  // inside the second frame's headers
        let result = relay(upstream, request: request)
        XCTAssertEqual(result.error?.httpStatus, 502)
        XCTAssertTrue(result.error?.message.contains("corrupt") ?? false)
        XCTAssertFalse(result.terminal)
        XCTAssertEqual(try ProviderFixtures.normalisedEvents(result.transcript).count, 2, "the first chunk, then the error")
    }
}
