/// Whether, how often and how much of a request or response body the audit log keeps.
///
/// Off by default: a body can hold anything a client typed. When on, every stored body
/// first goes through `PayloadRedactor`.
public struct PayloadCaptureConfig: Sendable, Equatable {
    /// Capture bodies at all.
    public var enabled: Bool
    /// Share of calls whose bodies are captured, `0...1`.
    public var sampleRate: Double
    /// Most UTF-8 bytes stored per body, after redaction; the truncation note comes on top.
    public var maxBytes: Int
    /// JSON member names whose values are replaced, at any depth, compared case-insensitively;
    /// on top of `PayloadRedactor.builtInFields`.
    public var redactFields: [String]
    /// Regular expressions (Swift `Regex` syntax) whose matches are replaced; compiled by
    /// `PayloadRedactor.init`, which is where the loader learns that one is invalid.
    public var redactPatterns: [String]

    /// 16 KiB.
    public static let defaultMaxBytes = 16 * 1024

    /// Creates a configuration; the defaults capture nothing.
    public init(enabled: Bool = false, sampleRate: Double = 1.0, maxBytes: Int = PayloadCaptureConfig.defaultMaxBytes,
                redactFields: [String] = [], redactPatterns: [String] = []) {
        self.enabled = enabled
        self.sampleRate = sampleRate
        self.maxBytes = maxBytes
        self.redactFields = redactFields
        self.redactPatterns = redactPatterns
    }

    /// Whether to capture this call's bodies, given `draw`, a uniform random number in
    /// `0..<1` the caller supplies.
    public func shouldSample(draw: Double) -> Bool {
        enabled && draw < sampleRate
    }
}

/// Turns a captured body into text that is safe to store: sensitive JSON members and
/// credential-looking strings replaced, then capped in size.
///
/// Steps, in order:
/// 1. A body that is not UTF-8 is stored as `[binary N bytes]`.
/// 2. When the body is valid JSON (any value, up to 64 levels deep), the value of every
///    member whose name is in `builtInFields` or `redactFields` (case-insensitively, inside
///    objects and arrays at any depth) becomes `"[redacted]"`. The rest of the bytes stay
///    as they were, so the text is still valid JSON.
/// 3. Every match of a built-in credential pattern or of a configured pattern, and every
///    occurrence of one of the call's `secrets` (4 characters or longer), becomes
///    `[redacted]`. Matches that overlap or touch are replaced as one, so no part of a
///    secret survives because another pattern matched half of it.
/// 4. Text longer than `maxBytes` UTF-8 bytes is cut at the last whole character that fits,
///    and `…[truncated N bytes]` is appended.
public struct PayloadRedactor: Sendable {
    /// A `redactPatterns` entry that is not a valid regular expression.
    public struct PatternError: Error, Sendable, Equatable, CustomStringConvertible {
        /// Position of the pattern in `PayloadCaptureConfig.redactPatterns`.
        public let index: Int
        /// The pattern as configured.
        public let pattern: String
        /// What the regular expression parser objected to, e.g. `expected ')'`.
        public let reason: String

        /// `redact pattern 2 "(\d+" is invalid: expected ')'`.
        public var description: String { "redact pattern \(index) \"\(pattern)\" is invalid: \(reason)" }
    }

    /// Member names whose values are redacted even when `redactFields` is empty.
    public static let builtInFields = [
        "api_key", "apikey", "authorization", "password", "secret", "token", "access_token",
        "refresh_token", "client_secret", "x-api-key",
    ]

    /// The configuration the redactor was built from.
    public let config: PayloadCaptureConfig
    private let fields: Set<String>
    private let patterns: [SharedRegex]

    /// Compiles `config.redactPatterns`; throws for the first one that is invalid.
    public init(_ config: PayloadCaptureConfig) throws(PatternError) {
        var patterns: [SharedRegex] = []
        for (index, source) in config.redactPatterns.enumerated() {
            do {
                patterns.append(SharedRegex(try Regex(source)))
            } catch {
                throw PatternError(index: index, pattern: source, reason: String(describing: error))
            }
        }
        self.config = config
        self.patterns = patterns
        self.fields = Set((Self.builtInFields + config.redactFields).filter { !$0.isEmpty }.map { $0.lowercased() })
    }

    /// The text to store for `body`. `secrets` are the provider credentials the gateway
    /// holds for this call; any of them that appears verbatim is replaced.
    public func redact(_ body: [UInt8], secrets: [String]) -> String {
        guard String(validating: body, as: UTF8.self) != nil else { return "[binary \(body.count) bytes]" }
        let fieldsRedacted = PayloadSplice.replacing(fieldValueRanges(in: body), in: body,
                                                     with: Array("\"[redacted]\"".utf8))
        let text = String(decoding: fieldsRedacted, as: UTF8.self)
        let spans = PayloadSplice.merged(patternSpans(in: text, bytes: fieldsRedacted)
                                         + secretSpans(secrets, in: fieldsRedacted))
        let redacted = PayloadSplice.replacing(spans, in: fieldsRedacted, with: Array("[redacted]".utf8))
        return truncated(redacted)
    }

    // MARK: JSON members

    /// Byte ranges of the member values to replace, in document order; empty when the
    /// body is not valid JSON.
    private func fieldValueRanges(in body: [UInt8]) -> [Range<Int>] {
        // Wrapping the body as a member lets the scanner validate any JSON value, not only
        // an object; one more level keeps the depth limit the request parser applies.
        let prefix = Array("{\"\":".utf8)
        let wrapped = prefix + body + [UInt8(ascii: "}")]
        guard let top = try? JSONScanner.topLevelMembers(of: wrapped, maxDepth: 65), let value = top.first else {
            return []
        }
        var ranges: [Range<Int>] = []
        collectFieldValues(kind: value.kind, range: value.range, in: wrapped, into: &ranges)
        return ranges.map { ($0.lowerBound - prefix.count)..<($0.upperBound - prefix.count) }
    }

    private func collectFieldValues(kind: JSONScanner.Kind, range: Range<Int>, in bytes: [UInt8],
                                    into ranges: inout [Range<Int>]) {
        switch kind {
        case .object:
            for member in JSONScanner.members(of: range, in: bytes) {
                if fields.contains(member.key.lowercased()) {
                    ranges.append(member.range)
                } else {
                    collectFieldValues(kind: member.kind, range: member.range, in: bytes, into: &ranges)
                }
            }
        case .array:
            for element in JSONScanner.elements(of: range, in: bytes) {
                collectFieldValues(kind: element.kind, range: element.range, in: bytes, into: &ranges)
            }
        case .string, .number, .bool, .null:
            break
        }
    }

    // MARK: Patterns and secrets

    /// Byte ranges matched by the built-in and configured patterns, unordered.
    private func patternSpans(in text: String, bytes: [UInt8]) -> [Range<Int>] {
        var spans: [Range<Int>] = []
        func add(_ pattern: SharedRegex) {
            for match in text.matches(of: pattern.regex) where !match.range.isEmpty {
                let start = text.utf8.distance(from: text.startIndex, to: match.range.lowerBound)
                let end = text.utf8.distance(from: text.startIndex, to: match.range.upperBound)
                spans.append(start..<end)
            }
        }
        // Swift's Regex scans some 20 MB/s per pattern; most bodies hold none of the fixed
        // prefixes, so a byte search spares the built-in patterns almost always.
        for credential in CredentialPattern.all where PayloadSplice.firstOccurrence(of: credential.anchor, in: bytes) != nil {
            add(credential.regex)
        }
        patterns.forEach(add)
        return spans
    }

    private func secretSpans(_ secrets: [String], in bytes: [UInt8]) -> [Range<Int>] {
        var spans: [Range<Int>] = []
        for secret in Set(secrets) where secret.count >= 4 {
            let needle = Array(secret.utf8)
            var from = 0
            while let start = PayloadSplice.firstOccurrence(of: needle, in: bytes, from: from) {
                spans.append(start..<(start + needle.count))
                from = start + needle.count
            }
        }
        return spans
    }

    // MARK: Size

    private func truncated(_ bytes: [UInt8]) -> String {
        let limit = max(0, config.maxBytes)
        let text = String(decoding: bytes, as: UTF8.self)
        guard bytes.count > limit else { return text }
        var kept = 0
        for character in text {
            let size = character.utf8.count
            guard kept + size <= limit else { break }
            kept += size
        }
        return String(decoding: bytes[..<kept], as: UTF8.self) + "…[truncated \(bytes.count - kept) bytes]"
    }
}

/// A credential format recognised in any text, with a fixed prefix every match starts with.
private struct CredentialPattern: Sendable {
    let anchor: [UInt8]
    let regex: SharedRegex

    init<Output>(_ anchor: String, _ regex: Regex<Output>) {
        self.anchor = Array(anchor.utf8)
        self.regex = SharedRegex(Regex<AnyRegexOutput>(regex))
    }

    static let all: [CredentialPattern] = [
        // OpenAI, Anthropic and Sluice keys: sk-…, sk-proj-…, sk-ant-…, sk-sluice-….
        CredentialPattern("sk-", #/sk-[A-Za-z0-9_-]{16,}/#),
        // AWS access key ids.
        CredentialPattern("AKIA", #/AKIA[0-9A-Z]{16}/#),
        CredentialPattern("Bearer ", #/Bearer [A-Za-z0-9._~+/=-]{16,}/#),
        // JWTs: base64url header, payload and signature.
        CredentialPattern("eyJ", #/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/#),
        // Slack tokens.
        CredentialPattern("xox", #/xox[abpr]-[A-Za-z0-9-]{10,}/#),
        // GitHub personal access tokens.
        CredentialPattern("ghp_", #/ghp_[A-Za-z0-9]{30,}/#),
        // PEM private keys through their END line; without one, to the end of the text.
        CredentialPattern("-----BEGIN ",
                          #/-----BEGIN ([A-Z ]*)PRIVATE KEY-----(?:[\s\S]*?-----END \1PRIVATE KEY-----|[\s\S]*)/#),
    ]
}

/// A compiled regular expression that threads may share.
///
/// `Regex` is not `Sendable` because its output type may hold anything; what matching
/// uses is an immutable tree and the program compiled from it. The library compiles
/// that program on first use, so `init` matches once, before the value can be shared.
private struct SharedRegex: @unchecked Sendable {
    let regex: Regex<AnyRegexOutput>

    /// Matches by Unicode scalar, as other regex engines do, rather than by `Character`.
    init(_ regex: Regex<AnyRegexOutput>) {
        self.regex = regex.matchingSemantics(.unicodeScalar)
        _ = "".firstMatch(of: self.regex)
    }
}

/// Byte-level search and replace over UTF-8 text.
private enum PayloadSplice {
    static func firstOccurrence(of needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var index = start
        while index <= haystack.count - needle.count {
            if haystack[index] == first && haystack[index..<(index + needle.count)].elementsEqual(needle) {
                return index
            }
            index += 1
        }
        return nil
    }

    /// Sorts `spans` and joins those that overlap or touch.
    static func merged(_ spans: [Range<Int>]) -> [Range<Int>] {
        var result: [Range<Int>] = []
        for span in spans.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = result.last, span.lowerBound <= last.upperBound {
                result[result.count - 1] = last.lowerBound..<max(last.upperBound, span.upperBound)
            } else {
                result.append(span)
            }
        }
        return result
    }

    /// `bytes` with each of the ordered, disjoint `ranges` replaced by `replacement`.
    static func replacing(_ ranges: [Range<Int>], in bytes: [UInt8], with replacement: [UInt8]) -> [UInt8] {
        guard !ranges.isEmpty else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var copied = 0
        for range in ranges {
            out.append(contentsOf: bytes[copied..<range.lowerBound])
            out.append(contentsOf: replacement)
            copied = range.upperBound
        }
        out.append(contentsOf: bytes[copied...])
        return out
    }
}
