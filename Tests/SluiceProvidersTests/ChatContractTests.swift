import Foundation
import SluiceCore
@testable import SluiceProviders
import XCTest

/// The translation contract, walked row by row for every provider it covers: a field the
/// contract translates must change what goes upstream (so it was not dropped), and a
/// refused one must be a 400 naming it, unless it carries its default value. The README
/// carries the same table.
final class ChatContractTests: XCTestCase {
    private let limits = ProviderFixtures.limits


    /// What the provider is sent for `body`: URL and body, as one comparable text.
    private func upstream(_ body: String, kind: ProviderKind, operation: APIOperation = .chatCompletions) throws -> String {
        let request = try APIRequest(operation: operation, body: Array(body.utf8))
        let endpoint = ProviderFixtures.endpoint(kind.rawValue, kind == .bedrock ? "anthropic.claude-sonnet-4-v1:0" : "model-x")
        let translator = ProviderRegistry.translator(for: kind)
        let call = try translator.upstreamRequest(for: request, endpoint: endpoint, provider: ProviderFixtures.provider(kind), limits: limits)
        return call.url + " " + ProviderFixtures.canonical(try JSONSerialization.jsonObject(with: Data(call.body)))
    }

    /// Other fields a row needs to mean something (a tool choice needs tools).
    private func context(for field: String) -> String {
        switch field {
        case "tool_choice", "parallel_tool_calls":
            return #","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]"#
        case "stream_options": return #","stream":true"#
        default: return ""
        }
    }

    func testEveryChatFieldIsTranslatedOrRefusedOnEveryTranslatingProvider() throws {
        for kind in [ProviderKind.anthropic, .bedrock] {
            for row in ChatContract.rows where row.field != "model" && row.field != "messages" {
                let extra = context(for: row.field)
                let base = #"{"model":"route","messages":[{"role":"user","content":"hi"}]"# + extra + "}"
                let with = #"{"model":"route","messages":[{"role":"user","content":"hi"}]"# + extra
                    + ",\"\(row.field)\":\(row.sample)}"
                let label = "\(kind.rawValue): \(row.field)"
                switch row.rule(for: kind)! {
                case .translated:
                    let before = try upstream(base, kind: kind)
                    let after = try upstream(with, kind: kind)
                    XCTAssertNotEqual(before, after, "\(label) is translated, so the upstream call must change")
                case .answer:
                    XCTAssertNoThrow(try upstream(with, kind: kind), label)
                case .refused:
                    XCTAssertThrowsError(try upstream(with, kind: kind), label) { error in
                        let error = error as? GatewayError
                        XCTAssertEqual(error?.httpStatus, 400, label)
                        XCTAssertEqual(error?.param, row.field, label)
                    }
                }
                for value in row.defaults {
                    let body = #"{"model":"route","messages":[{"role":"user","content":"hi"}]"# + extra
                        + ",\"\(row.field)\":\(value)}"
                    XCTAssertNoThrow(try upstream(body, kind: kind), "\(label) = \(value) is the default")
                }
            }
        }
    }

    func testUnknownChatFieldsAreRefusedNotDropped() throws {
        for kind in [ProviderKind.anthropic, .bedrock] {
            XCTAssertThrowsError(try upstream(#"{"model":"r","messages":[{"role":"user","content":"hi"}],"brand_new":1}"#,
                                              kind: kind)) { error in
                XCTAssertEqual((error as? GatewayError)?.param, "brand_new", kind.rawValue)
            }
        }
    }

    func testEveryMessagesFieldIsTranslatedOrRefusedOnEveryTranslatingProvider() throws {
        let kinds: [ProviderKind] = [.openai, .azureOpenAI, .databricks, .openaiCompatible, .bedrock]
        for kind in kinds {
            var conversions: [MessagesTarget: APIRequest] = [:]
            func send(_ body: String) throws -> String {
                conversions = [:]
                let request = try APIRequest(operation: .messages, body: Array(body.utf8))
                guard let (chat, _) = try ProviderRegistry.call(request, kind: kind, conversions: &conversions) else {
                    throw GatewayError(.internalError, "no call")
                }
                return try upstream(String(decoding: chat.body, as: UTF8.self), kind: kind)
            }
            for row in MessagesContract.rows where row.field != "model" && row.field != "messages" {
                guard let sample = row.sample else { continue }
                let extra = row.field == "tool_choice" ? #","tools":[{"name":"f","input_schema":{"type":"object"}}]"# : ""
                let cap = row.field == "max_tokens" ? "" : #","max_tokens":3000"#
                let base = #"{"model":"route","max_tokens":3000,"messages":[{"role":"user","content":"hi"}]"# + extra + "}"
                let with = #"{"model":"route","messages":[{"role":"user","content":"hi"}]"# + cap + extra
                    + ",\"\(row.field)\":\(sample)}"
                let label = "\(kind.rawValue): \(row.field)"
                switch kind == .bedrock ? row.bedrock : row.openAI {
                case .translated, .answer:
                    if row.field == "service_tier" && kind == .bedrock {
                        XCTAssertNoThrow(try send(with), label)
                        continue
                    }
                    XCTAssertNotEqual(try send(base), try send(with), "\(label) is translated, so the upstream call must change")
                case .refused:
                    XCTAssertThrowsError(try send(with), label) { error in
                        XCTAssertEqual((error as? GatewayError)?.httpStatus, 400, label)
                        XCTAssertEqual((error as? GatewayError)?.param, row.field, label)
                    }
                }
            }
        }
    }

    func testCacheControlBecomesAnthropicMarkersAndBedrockCachePoints() throws {
        let body = #"{"model":"r","messages":[{"role":"system","content":[{"type":"text","text":"long rules","cache_control":{"type":"ephemeral","ttl":"1h"}}]},"#
            + #"{"role":"user","content":[{"type":"text","text":"doc","cache_control":{"type":"ephemeral"}},{"type":"text","text":"q"}]}],"#
            + #""tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}},"cache_control":{"type":"ephemeral"}}]}"#
        let request = try APIRequest(operation: .chatCompletions, body: Array(body.utf8))
        let anthropic = try AnthropicTranslator().upstreamRequest(for: request, endpoint: ProviderFixtures.endpoint("a", "claude"),
                                                                   provider: ProviderFixtures.provider(.anthropic), limits: limits)
        let sent = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(anthropic.body)) as? [String: Any])
        let system = try XCTUnwrap(sent["system"] as? [[String: Any]])
        XCTAssertEqual(system.first?["cache_control"] as? [String: String], ["type": "ephemeral", "ttl": "1h"])
        let user = try XCTUnwrap((sent["messages"] as? [[String: Any]])?.first?["content"] as? [[String: Any]])
        XCTAssertEqual(user[0]["cache_control"] as? [String: String], ["type": "ephemeral"])
        XCTAssertNil(user[1]["cache_control"])
        XCTAssertEqual((sent["tools"] as? [[String: Any]])?.first?["cache_control"] as? [String: String], ["type": "ephemeral"])

        let bedrock = try BedrockTranslator().upstreamRequest(for: request, endpoint: ProviderFixtures.endpoint("b", "anthropic.claude"),
                                                              provider: ProviderFixtures.provider(.bedrock), limits: limits)
        let converse = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bedrock.body)) as? [String: Any])
        let systemBlocks = try XCTUnwrap(converse["system"] as? [[String: Any]])
        XCTAssertEqual(systemBlocks.count, 2)
        XCTAssertEqual(systemBlocks[1]["cachePoint"] as? [String: String], ["type": "default", "ttl": "1h"])
        let content = try XCTUnwrap((converse["messages"] as? [[String: Any]])?.first?["content"] as? [[String: Any]])
        XCTAssertEqual(content.count, 3, "doc, its cache point, then q")
        XCTAssertEqual(content[1]["cachePoint"] as? [String: String], ["type": "default"])
        let tools = try XCTUnwrap((converse["toolConfig"] as? [String: Any])?["tools"] as? [[String: Any]])
        XCTAssertNotNil(tools[1]["cachePoint"])
    }

    func testReasoningEffortBecomesAThinkingBudgetUnderTheCap() throws {
        let body = #"{"model":"r","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"high","max_completion_tokens":6000}"#
        let request = try APIRequest(operation: .chatCompletions, body: Array(body.utf8))
        let anthropic = try AnthropicTranslator().upstreamRequest(for: request, endpoint: ProviderFixtures.endpoint("a", "claude"),
                                                                   provider: ProviderFixtures.provider(.anthropic), limits: limits)
        let sent = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(anthropic.body)) as? [String: Any])
        XCTAssertEqual(sent["max_tokens"] as? Int, 6000)
        XCTAssertEqual((sent["thinking"] as? [String: Any])?["budget_tokens"] as? Int, 5999)
        let small = #"{"model":"r","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"low","max_tokens":500}"#
        XCTAssertThrowsError(try upstream(small, kind: .anthropic)) { error in
            XCTAssertEqual((error as? GatewayError)?.param, "max_completion_tokens")
        }
    }

    func testStructuredOutputComesBackAsContent() throws {
        let body = #"{"model":"r","messages":[{"role":"user","content":"hi"}],"#
            + #""response_format":{"type":"json_schema","json_schema":{"name":"p","schema":{"type":"object","properties":{"a":{"type":"integer"}}}}}}"#
        let request = try APIRequest(operation: .chatCompletions, body: Array(body.utf8))
        let upstream = try AnthropicTranslator().upstreamRequest(for: request, endpoint: ProviderFixtures.endpoint("a", "claude"),
                                                                  provider: ProviderFixtures.provider(.anthropic), limits: limits)
        let sent = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(upstream.body)) as? [String: Any])
        XCTAssertEqual(sent["tool_choice"] as? [String: String], ["type": "tool", "name": StructuredOutputTool.name])
        let answer = #"{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"tool_use","id":"t","name":"sluice_structured_output","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":2}}"#
        let client = try XCTUnwrap(AnthropicTranslator().clientBody(for: request, status: 200, body: Array(answer.utf8)))
        let completion = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(client)) as? [String: Any])
        let choice = try XCTUnwrap((completion["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual(choice["finish_reason"] as? String, "stop")
        let message = try XCTUnwrap(choice["message"] as? [String: Any])
        XCTAssertEqual(message["content"] as? String, #"{"a":1}"#)
        XCTAssertNil(message["tool_calls"])
    }

    func testTheReadmeCarriesTheContractTable() throws {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/", !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        let readme = try String(contentsOf: url.appendingPathComponent("README.md"), encoding: .utf8)
        XCTAssertTrue(readme.contains(ChatContract.markdown),
                      "README.md must carry ChatContract.markdown verbatim:\n" + ChatContract.markdown)
    }
}
