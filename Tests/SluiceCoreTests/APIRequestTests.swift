import SluiceCore
import XCTest

/// `APIRequest` reads just enough of a client's body to route it and swaps `model`
/// without touching any other byte.
final class APIRequestTests: XCTestCase {
    // MARK: Reading the fields

    func testChatFieldsAreRead() throws {
        let request = try parse(.chatCompletions, #"{"model":"fast","messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(request.operation, .chatCompletions)
        XCTAssertEqual(request.model, "fast")
        XCTAssertFalse(request.stream)
        XCTAssertFalse(request.includeUsage)
        XCTAssertEqual(request.body, Array(#"{"model":"fast","messages":[{"role":"user","content":"hi"}]}"#.utf8))
    }

    func testStreamAndIncludeUsage() throws {
        let messages = #""messages":[]"#
        XCTAssertTrue(try parse(.chatCompletions, #"{"model":"m",\#(messages),"stream":true}"#).stream)
        XCTAssertFalse(try parse(.chatCompletions, #"{"model":"m",\#(messages),"stream":false}"#).stream)
        XCTAssertFalse(try parse(.chatCompletions, #"{"model":"m",\#(messages),"stream":null}"#).stream)

        let withUsage = try parse(.chatCompletions,
                                  #"{"model":"m",\#(messages),"stream":true,"stream_options":{"include_usage":true}}"#)
        XCTAssertTrue(withUsage.stream)
        XCTAssertTrue(withUsage.includeUsage)
        XCTAssertFalse(try parse(.chatCompletions,
                                 #"{"model":"m",\#(messages),"stream":true,"stream_options":{"include_usage":false}}"#).includeUsage)
        XCTAssertFalse(try parse(.chatCompletions,
                                 #"{"model":"m",\#(messages),"stream":true,"stream_options":{"include_usage":null}}"#).includeUsage)
        XCTAssertFalse(try parse(.chatCompletions, #"{"model":"m",\#(messages),"stream_options":null}"#).includeUsage)
        XCTAssertFalse(try parse(.chatCompletions,
                                 #"{"model":"m",\#(messages),"stream":true,"stream_options":{"other":true}}"#).includeUsage)
        // A nested "include_usage" elsewhere does not count.
        XCTAssertFalse(try parse(.chatCompletions,
                                 #"{"model":"m",\#(messages),"metadata":{"include_usage":true}}"#).includeUsage)

        let completions = try parse(.completions, #"{"prompt":"x","stream":true,"model":"c","stream_options":{"include_usage":true}}"#)
        XCTAssertTrue(completions.stream)
        XCTAssertTrue(completions.includeUsage)
        XCTAssertEqual(completions.model, "c")
    }

    func testModelWithEscapesIsDecoded() throws {
        let request = try parse(.chatCompletions, #"{"messages":[],"model":"gpt\u002d4 \"x\" \u00e9\ud83d\ude00"}"#)
        XCTAssertEqual(request.model, "gpt-4 \"x\" é😀")
    }

    func testEmbeddingsAndCompletionsAccepted() throws {
        XCTAssertEqual(try parse(.embeddings, #"{"model":"e","input":["a","b"],"dimensions":8}"#).model, "e")
        XCTAssertEqual(try parse(.embeddings, #"{"model":"e","input":"a","stream":false}"#).stream, false)
        XCTAssertEqual(try parse(.completions, #"{"model":"c","prompt":["a"]}"#).model, "c")
    }

    func testUnknownFieldsOfAnyTypePassValidation() throws {
        XCTAssertNoThrow(try parse(.chatCompletions, #"{"model":"m","messages":[],"x_custom":{"a":[1]},"y":1,"z":"s"}"#))
    }

    func testNullableNumbersAcceptNull() throws {
        XCTAssertNoThrow(try parse(.chatCompletions,
                                   #"{"model":"m","messages":[],"temperature":null,"max_tokens":5,"top_p":0.5,"seed":null}"#))
    }

    // MARK: Errors

    func testEmptyBodyIsInvalidJSON() {
        let error = failure(.chatCompletions, [])
        XCTAssertEqual(error?.code, .invalidJSON)
        XCTAssertNil(error?.param)
    }

    func testMalformedBodiesAreInvalidJSON() {
        for text in ["   ", "{", #"{"model":"m",}"#, "[]", "null", #"{"model":"m"} trailing"#, "model=m"] {
            let error = failure(.chatCompletions, Array(text.utf8))
            XCTAssertEqual(error?.code, .invalidJSON, text)
            XCTAssertEqual(error?.httpStatus, 400, text)
        }
    }

    func testTypeErrorsNameTheParameter() {
        let cases: [(APIOperation, String, String)] = [
            (.chatCompletions, #"{"model":5,"messages":[]}"#, "model"),
            (.chatCompletions, #"{"model":null,"messages":[]}"#, "model"),
            (.chatCompletions, #"{"model":["m"],"messages":[]}"#, "model"),
            (.chatCompletions, #"{"model":"m","messages":"hi"}"#, "messages"),
            (.chatCompletions, #"{"model":"m","messages":null}"#, "messages"),
            (.chatCompletions, #"{"model":"m","messages":[],"stream":"true"}"#, "stream"),
            (.chatCompletions, #"{"model":"m","messages":[],"stream":1}"#, "stream"),
            (.chatCompletions, #"{"model":"m","messages":[],"stream_options":true}"#, "stream_options"),
            (.chatCompletions, #"{"model":"m","messages":[],"stream_options":{"include_usage":"yes"}}"#,
             "stream_options.include_usage"),
            (.chatCompletions, #"{"model":"m","messages":[],"stream_options":{"include_usage":1}}"#,
             "stream_options.include_usage"),
            (.chatCompletions, #"{"model":"m","messages":[],"temperature":"hot"}"#, "temperature"),
            (.chatCompletions, #"{"model":"m","messages":[],"max_tokens":true}"#, "max_tokens"),
            (.chatCompletions, #"{"model":"m","messages":[],"tools":{}}"#, "tools"),
            (.chatCompletions, #"{"model":"m","messages":[],"tool_choice":1}"#, "tool_choice"),
            (.chatCompletions, #"{"model":"m","messages":[],"stop":1}"#, "stop"),
            (.chatCompletions, #"{"model":"m","messages":[],"user":1}"#, "user"),
            (.chatCompletions, #"{"model":"m","messages":[],"response_format":"json"}"#, "response_format"),
            (.completions, #"{"model":"m","prompt":1}"#, "prompt"),
            (.completions, #"{"model":"m","prompt":"x","echo":"no"}"#, "echo"),
            (.completions, #"{"model":"m","prompt":"x","logprobs":true}"#, "logprobs"),
            (.embeddings, #"{"model":"m","input":{"a":1}}"#, "input"),
            (.embeddings, #"{"model":"m","input":"x","dimensions":"8"}"#, "dimensions"),
            (.embeddings, #"{"model":"m","input":"x","encoding_format":1}"#, "encoding_format"),
        ]
        for (operation, text, param) in cases {
            let error = failure(operation, Array(text.utf8))
            XCTAssertEqual(error?.code, .invalidRequest, text)
            XCTAssertEqual(error?.param, param, text)
            XCTAssertEqual(error?.httpStatus, 400, text)
            XCTAssertTrue(error?.message.contains(param) ?? false, "\(text): \(error?.message ?? "")")
        }
    }

    func testTypeErrorMessageNamesExpectedAndActualKinds() throws {
        let error = try XCTUnwrap(failure(.chatCompletions, Array(#"{"model":"m","messages":[],"stream":"x"}"#.utf8)))
        XCTAssertEqual(error.message, "Invalid type for 'stream': expected bool or null, got string.")
    }

    func testMissingRequiredFields() {
        let cases: [(APIOperation, String, String)] = [
            (.chatCompletions, #"{"messages":[]}"#, "model"),
            (.chatCompletions, #"{"model":"m"}"#, "messages"),
            (.completions, #"{"model":"m"}"#, "prompt"),
            (.completions, #"{"model":"m","messages":[]}"#, "prompt"),
            (.embeddings, #"{"model":"m"}"#, "input"),
            (.embeddings, #"{"model":"m","prompt":"x"}"#, "input"),
            (.chatCompletions, #"{}"#, "model"),
        ]
        for (operation, text, param) in cases {
            let error = failure(operation, Array(text.utf8))
            XCTAssertEqual(error?.code, .invalidRequest, text)
            XCTAssertEqual(error?.param, param, text)
            XCTAssertEqual(error?.message, "Missing required parameter: '\(param)'.", text)
        }
    }

    func testEmptyModelIsRefused() {
        let error = failure(.chatCompletions, Array(#"{"model":"","messages":[]}"#.utf8))
        XCTAssertEqual(error?.code, .invalidRequest)
        XCTAssertEqual(error?.param, "model")
    }

    func testStreamOnEmbeddingsIsRefused() {
        let error = failure(.embeddings, Array(#"{"model":"e","input":"x","stream":true}"#.utf8))
        XCTAssertEqual(error?.code, .invalidRequest)
        XCTAssertEqual(error?.param, "stream")
        XCTAssertEqual(error?.httpStatus, 400)
    }

    // MARK: upstreamBody(model:)

    func testUpstreamBodyReplacesOnlyTheModelValue() throws {
        // Odd whitespace, model not first, unicode escapes and a nested "model" key that must stay.
        let prefix = "{\r\n\t\"messages\" :[ {\"role\":\"user\",\"content\":\"caf\\u00e9 \\\"model\\\": \\ud83d\\ude00\"} ],\n  \"model\"\t:  "
        let suffix = "  ,\"metadata\":{\"model\":\"keep-me\"},\"temperature\":0.70, \"x\":[1 ,2]\n}\n"
        let body = Array((prefix + #""route-a""# + suffix).utf8)
        let request = try XCTUnwrap(APIRequest(operation: .chatCompletions, body: body))
        XCTAssertEqual(request.model, "route-a")

        let upstream = request.upstreamBody(model: "gpt-4o-mini")
        XCTAssertEqual(upstream, Array((prefix + #""gpt-4o-mini""# + suffix).utf8))
        XCTAssertEqual(request.body, body, "the request keeps the client's bytes")
    }

    func testUpstreamBodyWithEscapedClientModelAndModelNeedingEscapes() throws {
        let body = Array(#"{"model":"r\u006fute\"1\"","messages":[],"n":1}"#.utf8)
        let request = try APIRequest(operation: .chatCompletions, body: body)
        XCTAssertEqual(request.model, "route\"1\"")
        XCTAssertEqual(String(decoding: request.upstreamBody(model: "plain"), as: UTF8.self),
                       #"{"model":"plain","messages":[],"n":1}"#)
        XCTAssertEqual(String(decoding: request.upstreamBody(model: "a\"b\\c\nd é"), as: UTF8.self),
                       #"{"model":"a\"b\\c\nd é","messages":[],"n":1}"#)

        // The result is still a valid request naming the new model.
        let again = try APIRequest(operation: .chatCompletions, body: request.upstreamBody(model: "a\"b\\c\nd é"))
        XCTAssertEqual(again.model, "a\"b\\c\nd é")
    }

    func testUpstreamBodyWhenModelIsLastAndFirst() throws {
        let last = try parse(.embeddings, #"{"input":"x","model":"e"}"#)
        XCTAssertEqual(String(decoding: last.upstreamBody(model: "text-embedding-3-small"), as: UTF8.self),
                       #"{"input":"x","model":"text-embedding-3-small"}"#)
        let first = try parse(.embeddings, #"{"model":"e","input":"x"}"#)
        XCTAssertEqual(String(decoding: first.upstreamBody(model: ""), as: UTF8.self), #"{"model":"","input":"x"}"#)
    }

    func testUpstreamBodyPreservesNonASCIIBytesExactly() throws {
        // Raw (unescaped) UTF-8 in the body must come out byte for byte, not re-encoded.
        let body: [UInt8] = Array(#"{"messages":[{"content":"日本語 ☃"}],"model":"m","stop":["\u2603"]}"#.utf8)
        let request = try APIRequest(operation: .chatCompletions, body: body)
        let upstream = request.upstreamBody(model: "x")
        XCTAssertEqual(upstream, Array(#"{"messages":[{"content":"日本語 ☃"}],"model":"x","stop":["\u2603"]}"#.utf8))
    }
}

private func parse(_ operation: APIOperation, _ text: String) throws -> APIRequest {
    try APIRequest(operation: operation, body: Array(text.utf8))
}

/// The error `body` is refused with; fails the test when it is accepted.
private func failure(_ operation: APIOperation, _ body: [UInt8],
                     file: StaticString = #filePath, line: UInt = #line) -> GatewayError? {
    do {
        let request = try APIRequest(operation: operation, body: body)
        XCTFail("accepted, model \(request.model): \(String(decoding: body, as: UTF8.self))", file: file, line: line)
        return nil
    } catch {
        return error
    }
}
