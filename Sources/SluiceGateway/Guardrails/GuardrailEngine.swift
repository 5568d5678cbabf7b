import Glibc
import SluiceCore
import SluiceHTTP

/// A route's guardrails, ready to run: regular expressions compiled once (POSIX extended,
/// glibc's matcher, which does not backtrack without back-references), words lower-cased.
final class GuardrailEngine: @unchecked Sendable {
    struct Compiled {
        let config: GuardrailConfig
        let words: [[UInt8]]
        let topics: [(name: String, keywords: [[UInt8]])]
        let patterns: [UnsafeMutablePointer<regex_t>]
    }

    /// What a check decided.
    struct Outcome {
        /// The first blocking guardrail's name and what it found (kinds, never text).
        var blocked: (guardrail: String, kinds: [String])?
        /// The body with masked values replaced by placeholders (nil: unchanged).
        var masked: [UInt8]?
        /// Placeholder → the original bytes, for `restore`.
        var placeholders: [(placeholder: [UInt8], original: [UInt8])] = []
        /// Per guardrail: its action and the counts by kind, for the audit record.
        var decisions: [(guardrail: String, action: String, counts: [String: Int])] = []
    }

    let guardrails: [Compiled]

    init(_ configs: [GuardrailConfig]) {
        guardrails = configs.map { config in
            Compiled(config: config, words: config.words.map { Array($0.lowercased().utf8) },
                     topics: config.topics.map { ($0.name, $0.keywords.map { Array($0.lowercased().utf8) }) },
                     patterns: config.patterns.compactMap(Self.compile))
        }
    }

    deinit {
        for compiled in guardrails {
            for pattern in compiled.patterns {
                regfree(pattern)
                pattern.deallocate()
            }
        }
    }

    /// A POSIX extended expression, or nil (the config check reports bad ones).
    static func compile(_ pattern: String) -> UnsafeMutablePointer<regex_t>? {
        let regex = UnsafeMutablePointer<regex_t>.allocate(capacity: 1)
        guard regcomp(regex, pattern, REG_EXTENDED | REG_ICASE) == 0 else {
            regex.deallocate()
            return nil
        }
        return regex
    }

    var checksRequests: Bool { guardrails.contains { $0.config.checksRequests } }
    var checksResponses: Bool { guardrails.contains { $0.config.checksResponses } }

    /// Checks the text of `body` (a JSON request when `requests`, else an answer).
    func check(_ body: [UInt8], requests: Bool, skipping: Set<String> = [], http: HTTPClient? = nil) -> Outcome {
        var outcome = Outcome()
        var masks: [(range: Range<Int>, label: String, restore: Bool)] = []
        body.withUnsafeBytes { raw in
            let ranges = GuardrailText.ranges(in: raw)
            let segments = GuardrailText.segments(of: ranges, in: raw)
            for compiled in guardrails where !skipping.contains(compiled.config.name)
                && (requests ? compiled.config.checksRequests : compiled.config.checksResponses) {
                var findings = find(compiled, in: raw, ranges: segments)
                if let webhook = compiled.config.webhook, findings.isEmpty, let http {
                    if Self.webhookBlocks(webhook, guardrail: compiled.config.name, text: raw, ranges: ranges,
                                          direction: requests ? "request" : "response", http: http) {
                        findings.append(GuardrailFinding(guardrail: compiled.config.name, kind: "webhook", range: 0..<0))
                    }
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

    /// Findings in plain text (a stream's recent answer text), by guardrail, for answers.
    func scanText(_ text: [UInt8], skipping: Set<String>) -> [(compiled: Compiled, findings: [GuardrailFinding])] {
        text.withUnsafeBytes { raw in
            guardrails.filter { $0.config.checksResponses && !skipping.contains($0.config.name) }.compactMap { compiled in
                let findings = find(compiled, in: raw, ranges: [0..<raw.count])
                return findings.isEmpty ? nil : (compiled, findings)
            }
        }
    }

    private func find(_ compiled: Compiled, in raw: UnsafeRawBufferPointer, ranges: [Range<Int>]) -> [GuardrailFinding] {
        var findings: [GuardrailFinding] = []
        let name = compiled.config.name
        for range in ranges {
            let text = UnsafeRawBufferPointer(rebasing: raw[range])
            for detector in compiled.config.detectors {
                for match in detector.matches(in: text) {
                    findings.append(GuardrailFinding(guardrail: name, kind: detector.rawValue, range: (match.lowerBound + range.lowerBound)..<(match.upperBound + range.lowerBound)))
                }
            }
            for word in compiled.words {
                for match in GuardrailText.wordMatches(word, in: text) {
                    findings.append(GuardrailFinding(guardrail: name, kind: "word", range: (match.lowerBound + range.lowerBound)..<(match.upperBound + range.lowerBound)))
                }
            }
            for topic in compiled.topics {
                for keyword in topic.keywords {
                    for match in GuardrailText.wordMatches(keyword, in: text) {
                        findings.append(GuardrailFinding(guardrail: name, kind: "topic:" + topic.name,
                                                         range: (match.lowerBound + range.lowerBound)..<(match.upperBound + range.lowerBound)))
                    }
                }
            }
            if !compiled.patterns.isEmpty {
                var cString = Array(text)
                cString.append(0)
                for pattern in compiled.patterns {
                    findings += Self.regexMatches(pattern, in: &cString).map {
                        GuardrailFinding(guardrail: name, kind: "pattern", range: ($0.lowerBound + range.lowerBound)..<($0.upperBound + range.lowerBound))
                    }
                }
            }
        }
        return findings
    }

    /// Every non-overlapping match of `regex` in the NUL-terminated `text`.
    private static func regexMatches(_ regex: UnsafeMutablePointer<regex_t>, in text: inout [UInt8]) -> [Range<Int>] {
        var found: [Range<Int>] = []
        var offset = 0
        let length = text.count - 1
        text.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { base in
                var match = regmatch_t()
                while offset <= length, found.count < 10_000 {
                    let flags = offset > 0 ? REG_NOTBOL : 0
                    guard regexec(regex, base + offset, 1, &match, flags) == 0 else { break }
                    let start = offset + Int(match.rm_so), end = offset + Int(match.rm_eo)
                    if end > start { found.append(start..<end) }
                    offset = max(end, start + 1)
                }
            }
        }
        return found
    }

    /// `email` → `EMAIL`; words, topics and patterns → `REDACTED`.
    static func label(_ kind: String) -> String {
        Detector(rawValue: kind)?.label ?? "REDACTED"
    }

    /// Replaces each range (outermost first where they overlap) with `<LABEL_n>`; one
    /// value seen twice gets the same placeholder. Returns the placeholders of the masks
    /// whose guardrail restores them.
    static func mask(_ body: [UInt8], _ masks: [(range: Range<Int>, label: String, restore: Bool)])
        -> ([UInt8], [(placeholder: [UInt8], original: [UInt8])]) {
        var kept: [(range: Range<Int>, label: String, restore: Bool)] = []
        for item in masks.sorted(by: { ($0.range.lowerBound, -$0.range.count) < ($1.range.lowerBound, -$1.range.count) })
        where kept.last.map({ $0.range.upperBound <= item.range.lowerBound }) ?? true {
            kept.append(item)
        }
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var placeholders: [(placeholder: [UInt8], original: [UInt8])] = []
        var restoring: [(placeholder: [UInt8], original: [UInt8])] = []
        var numbers: [String: Int] = [:]
        var cursor = 0
        for item in kept {
            out += body[cursor..<item.range.lowerBound]
            let original = Array(body[item.range])
            let placeholder: [UInt8]
            if let existing = placeholders.first(where: { $0.original == original }) {
                placeholder = existing.placeholder
            } else {
                numbers[item.label, default: 0] += 1
                placeholder = Array("<\(item.label)_\(numbers[item.label]!)>".utf8)
                placeholders.append((placeholder, original))
            }
            if item.restore, !restoring.contains(where: { $0.placeholder == placeholder }) {
                restoring.append((placeholder, original))
            }
            out += placeholder
            cursor = item.range.upperBound
        }
        out += body[cursor...]
        return (out, restoring)
    }

    /// Puts the originals back where the answer repeats a placeholder.
    static func restore(_ answer: [UInt8], _ placeholders: [(placeholder: [UInt8], original: [UInt8])]) -> [UInt8] {
        guard !placeholders.isEmpty, answer.contains(UInt8(ascii: "<")) else { return answer }
        var out: [UInt8] = []
        out.reserveCapacity(answer.count)
        var index = 0
        while index < answer.count {
            if answer[index] == UInt8(ascii: "<"),
               let hit = placeholders.first(where: { answer[index...].starts(with: $0.placeholder) }) {
                out += hit.original
                index += hit.placeholder.count
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
                              ranges: [Range<Int>], direction: String, http: HTTPClient) -> Bool {
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
