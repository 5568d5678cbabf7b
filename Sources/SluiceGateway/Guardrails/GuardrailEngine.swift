import SluiceCore
import SluiceHTTP

/// A route's guardrails, ready to run: patterns compiled once (RE2: linear time in the
/// text), words lower-cased. Every check reads the decoded text of a body's content
/// strings, so a JSON escape (`\u0041KIA…`, a PEM block's `\n`) hides nothing.
final class GuardrailEngine: @unchecked Sendable {
    struct Compiled {
        let config: GuardrailConfig
        let words: [[UInt8]]
        let topics: [(name: String, keywords: [[UInt8]])]
        let patterns: [LinearPattern]
    }

    /// What a check decided.
    struct Outcome {
        /// The first blocking guardrail's name and what it found (kinds, never text).
        var blocked: (guardrail: String, kinds: [String])?
        /// The body with masked values replaced by placeholders (nil: unchanged).
        var masked: [UInt8]?
        /// Placeholder → the original bytes, for `restore`.
        var placeholders: [[UInt8]: [UInt8]] = [:]
        /// Per guardrail: its action and the counts by kind, for the audit record.
        var decisions: [(guardrail: String, action: String, counts: [String: Int])] = []
    }

    let guardrails: [Compiled]

    init(_ configs: [GuardrailConfig]) {
        guardrails = configs.map { config in
            Compiled(config: config, words: config.words.map { Array($0.lowercased().utf8) },
                     topics: config.topics.map { ($0.name, $0.keywords.map { Array($0.lowercased().utf8) }) },
                     patterns: config.patterns.compactMap(LinearPattern.init))  // the config check refuses bad ones
        }
        // A stream's text is held back by this much, so a value split across events is
        // checked whole before any of it leaves: the longest built-in shape's minimum, or
        // the longest word.
        let longest = guardrails.flatMap { $0.words + $0.topics.flatMap(\.keywords) }.map(\.count).max() ?? 0
        streamHoldBytes = guardrails.contains { $0.config.checksResponses } ? max(64, longest + 1) : 0
    }

    /// Text bytes a stream keeps back from the client (0: answers are not checked).
    let streamHoldBytes: Int

    var checksRequests: Bool { guardrails.contains { $0.config.checksRequests } }
    var checksResponses: Bool { guardrails.contains { $0.config.checksResponses } }

    /// Checks the text of `body` (a JSON request when `requests`, else an answer).
    func check(_ body: [UInt8], requests: Bool, skipping: Set<String> = [], http: (any UpstreamPort)? = nil) -> Outcome {
        var outcome = Outcome()
        var masks: [(range: Range<Int>, label: String, restore: Bool)] = []
        body.withUnsafeBytes { raw in
            let pieces = GuardrailText.pieces(in: raw)
            for compiled in guardrails where !skipping.contains(compiled.config.name)
                && (requests ? compiled.config.checksRequests : compiled.config.checksResponses) {
                var findings = find(compiled, in: raw, pieces: pieces)
                if let webhook = compiled.config.webhook, findings.isEmpty, let http,
                   Self.webhookBlocks(webhook, guardrail: compiled.config.name, text: raw, ranges: pieces.map(\.range),
                                      direction: requests ? "request" : "response", http: http) {
                    findings.append(GuardrailFinding(guardrail: compiled.config.name, kind: "webhook", range: 0..<0))
                }
                guard !findings.isEmpty else { continue }
                var counts: [String: Int] = [:]
                for finding in findings { counts[finding.kind, default: 0] += 1 }
                var action = compiled.config.action
                // Nothing to put a placeholder on: a webhook's verdict blocks.
                if action == .mask && findings.contains(where: { $0.range.isEmpty }) { action = .block }
                outcome.decisions.append((compiled.config.name, action.rawValue, counts))
                switch action {
                case .block:
                    if outcome.blocked == nil { outcome.blocked = (compiled.config.name, counts.keys.sorted()) }
                case .mask:
                    masks += findings.map { ($0.range, Self.label($0.kind), compiled.config.restore) }
                case .log:
                    break
                }
            }
        }
        if outcome.blocked == nil, !masks.isEmpty {
            (outcome.masked, outcome.placeholders) = Self.mask(body, masks)
        }
        return outcome
    }

    /// `bytes` (a captured request or answer) with everything any guardrail finds replaced
    /// by placeholders, whatever the guardrail's action: payload capture never keeps what a
    /// guardrail matched.
    func redact(_ bytes: [UInt8]) -> [UInt8] {
        let masks = bytes.withUnsafeBytes { raw in
            let pieces = GuardrailText.pieces(in: raw)
            return guardrails.flatMap { find($0, in: raw, pieces: pieces) }.map { ($0.range, Self.label($0.kind), false) }
        }
        return masks.isEmpty ? bytes : Self.mask(bytes, masks).0
    }

    /// Findings in plain text (a stream's recent answer text), by guardrail, for answers.
    func scanText(_ text: [UInt8], skipping: Set<String>) -> [(compiled: Compiled, findings: [GuardrailFinding])] {
        text.withUnsafeBytes { raw in
            guardrails.filter { $0.config.checksResponses && !skipping.contains($0.config.name) }.compactMap { compiled in
                let findings = find(compiled, in: raw, pieces: [GuardrailText.Piece(plain: 0..<raw.count)])
                return findings.isEmpty ? nil : (compiled, findings)
            }
        }
    }

    /// What one guardrail finds in the pieces' text, as ranges of the raw body.
    private func find(_ compiled: Compiled, in raw: UnsafeRawBufferPointer, pieces: [GuardrailText.Piece]) -> [GuardrailFinding] {
        var findings: [GuardrailFinding] = []
        let name = compiled.config.name
        for piece in pieces {
            piece.withText(in: raw) { text in
                func add(_ kind: String, _ matches: [Range<Int>]) {
                    for match in matches {
                        findings.append(GuardrailFinding(guardrail: name, kind: kind, range: piece.rawRange(match)))
                    }
                }
                for detector in compiled.config.detectors { add(detector.rawValue, detector.matches(in: text)) }
                for word in compiled.words { add("word", GuardrailText.wordMatches(word, in: text)) }
                for topic in compiled.topics {
                    for keyword in topic.keywords { add("topic:" + topic.name, GuardrailText.wordMatches(keyword, in: text)) }
                }
                for pattern in compiled.patterns { add("pattern", pattern.matches(in: text)) }
            }
        }
        return findings
    }

    /// `email` → `EMAIL`; words, topics and patterns → `REDACTED`.
    static func label(_ kind: String) -> String {
        Detector(rawValue: kind)?.label ?? "REDACTED"
    }

    /// Replaces each range (outermost first where they overlap) with `<LABEL_n>`; one
    /// value seen twice gets the same placeholder. Returns the placeholders of the masks
    /// whose guardrail restores them.
    static func mask(_ body: [UInt8], _ masks: [(range: Range<Int>, label: String, restore: Bool)])
        -> ([UInt8], [[UInt8]: [UInt8]]) {
        var kept: [(range: Range<Int>, label: String, restore: Bool)] = []
        for item in masks.sorted(by: { ($0.range.lowerBound, -$0.range.count) < ($1.range.lowerBound, -$1.range.count) })
        where !item.range.isEmpty && (kept.last.map({ $0.range.upperBound <= item.range.lowerBound }) ?? true) {
            kept.append(item)
        }
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var placeholders: [ArraySlice<UInt8>: [UInt8]] = [:]
        var restoring: [[UInt8]: [UInt8]] = [:]
        var numbers: [String: Int] = [:]
        var cursor = 0
        for item in kept {
            out += body[cursor..<item.range.lowerBound]
            let original = body[item.range]
            let placeholder: [UInt8]
            if let existing = placeholders[original] {
                placeholder = existing
            } else {
                numbers[item.label, default: 0] += 1
                placeholder = Array("<\(item.label)_\(numbers[item.label]!)>".utf8)
                placeholders[original] = placeholder
            }
            if item.restore { restoring[placeholder] = Array(original) }
            out += placeholder
            cursor = item.range.upperBound
        }
        out += body[cursor...]
        return (out, restoring)
    }

    /// The longest placeholder: `<CREDIT_CARD_123456>` and then some.
    private static let placeholderLimit = 40

    /// Puts the originals back where the answer repeats a placeholder (one lookup per `<`).
    static func restore(_ answer: [UInt8], _ placeholders: [[UInt8]: [UInt8]]) -> [UInt8] {
        guard !placeholders.isEmpty, answer.contains(UInt8(ascii: "<")) else { return answer }
        var out: [UInt8] = []
        out.reserveCapacity(answer.count)
        var index = 0
        while index < answer.count {
            if answer[index] == UInt8(ascii: "<"),
               let close = answer[index..<min(answer.count, index + placeholderLimit)].firstIndex(of: UInt8(ascii: ">")),
               let original = placeholders[Array(answer[index...close])] {
                out += original
                index = close + 1
            } else {
                out.append(answer[index])
                index += 1
            }
        }
        return out
    }

    /// Asks a webhook about the text: `{"guardrail","direction","text"}`; it blocks with
    /// `{"action":"block"}` (or `"block":true`, `"flagged":true`).
    static func webhookBlocks(_ webhook: GuardrailConfig.Webhook, guardrail: String, text: UnsafeRawBufferPointer,
                              ranges: [Range<Int>], direction: String, http: any UpstreamPort) -> Bool {
        guard !ranges.isEmpty else { return false }
        var body = Array("{\"guardrail\":\(JSONText.quoted(guardrail)),\"direction\":\"\(direction)\",\"text\":\"".utf8)
        for (index, range) in ranges.enumerated() {
            if index > 0 { body += Array("\\n".utf8) }
            body += text[range]  // already JSON string content: escapes kept
        }
        body += Array("\"}".utf8)
        let limits = TransferLimits(connect: min(webhook.timeout, .seconds(1)), firstByte: webhook.timeout,
                                    idle: webhook.timeout, total: webhook.timeout)
        let request = UpstreamRequest(method: .post, url: webhook.url, headers: [("Content-Type", "application/json")],
                                      body: body, limits: limits)
        let reader = BodyReader()
        guard case .completed(let status) = http.perform(request, handler: reader), (200..<300).contains(status),
              let members = try? JSONScanner.topLevelMembers(of: reader.body) else {
            return !webhook.failOpen
        }
        func value(_ key: String) -> String? {
            members.first { $0.key == key }.map { String(decoding: reader.body[$0.range], as: UTF8.self) }
        }
        return value("action") == "\"block\"" || value("block") == "true" || value("flagged") == "true"
    }
}

/// Keeps a small answer (a webhook's verdict).
private final class BodyReader: UpstreamResponseHandler {
    var body: [UInt8] = []
    func didReceiveHead(status: Int, headers: [(name: String, value: String)]) -> Bool { true }
    func didReceive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        body.append(contentsOf: bytes.prefix(max(0, 65_536 - body.count)))
        return true
    }
    func shouldContinue() -> Bool { true }
}
