/// Built-in detectors for guardrails: each is one left-to-right pass over the text with a
/// bounded look-around, so a hostile 1 MB body costs linear time (no regular-expression
/// backtracking). Checksums weed out look-alikes: Luhn for card numbers, ISO 7064 mod 97
/// for IBANs, the SSA's rules for US social security numbers, 0–255 octets for IPv4.
public enum Detector: String, Sendable, CaseIterable {
    case email, phone
    case creditCard = "credit_card"
    case iban
    case usSSN = "us_ssn"
    case ipAddress = "ip_address"
    case awsKey = "aws_key"
    case openAIKey = "openai_key"
    case anthropicKey = "anthropic_key"
    case githubToken = "github_token"
    case slackToken = "slack_token"
    case privateKey = "private_key"

    /// The placeholder's type name: `<EMAIL_1>`.
    public var label: String {
        switch self {
        case .email: "EMAIL"
        case .phone: "PHONE"
        case .creditCard: "CREDIT_CARD"
        case .iban: "IBAN"
        case .usSSN: "US_SSN"
        case .ipAddress: "IP_ADDRESS"
        case .awsKey, .openAIKey, .anthropicKey, .githubToken, .slackToken, .privateKey: "SECRET"
        }
    }

    /// The byte ranges of `text` this detector finds, in order, not overlapping.
    public func matches(in text: UnsafeRawBufferPointer) -> [Range<Int>] {
        var found: [Range<Int>] = []
        var index = 0
        let count = text.count
        while index < count {
            if let range = match(at: index, in: text), range.upperBound > index {
                found.append(range)
                index = range.upperBound
            } else {
                index += 1
            }
        }
        return found
    }

    /// A match starting at `start` (only where a token may start: after a non-word byte).
    private func match(at start: Int, in t: UnsafeRawBufferPointer) -> Range<Int>? {
        let byte = t[start]
        let atBoundary = start == 0 || !Self.isWord(t[start - 1])
        switch self {
        case .email:
            // Anchored on the '@': the local part before it, the domain after it.
            guard byte == UInt8(ascii: "@"), start > 0 else { return nil }
            var left = start
            while left > 0, start - left < 64, Self.isEmailLocal(t[left - 1]) { left -= 1 }
            guard left < start else { return nil }
            var right = start + 1, dots = 0, lastDot = -1
            while right < t.count, right - start < 255, Self.isAlnum(t[right]) || t[right] == UInt8(ascii: "-")
                    || (t[right] == UInt8(ascii: ".") && right + 1 < t.count && Self.isAlnum(t[right + 1])) {
                if t[right] == UInt8(ascii: ".") { dots += 1; lastDot = right }
                right += 1
            }
            guard dots > 0, right - lastDot - 1 >= 2, (lastDot + 1..<right).allSatisfy({ Self.isAlpha(t[$0]) }) else { return nil }
            return left..<right
        case .phone:
            guard atBoundary, byte == UInt8(ascii: "+") || byte == UInt8(ascii: "(") || Self.isDigit(byte) else { return nil }
            var index = start, digits = 0, end = start
            while index < t.count, index - start < 24 {
                let c = t[index]
                if Self.isDigit(c) { digits += 1; end = index + 1 }
                else if !(c == UInt8(ascii: " ") || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "(")
                          || c == UInt8(ascii: ")") || (c == UInt8(ascii: "+") && index == start)) { break }
                index += 1
            }
            // Not a date and time ("2024-01-15 12:30"): no digit run right before a colon.
            guard (10...15).contains(digits), end == t.count || (!Self.isWord(t[end]) && t[end] != UInt8(ascii: ":")) else {
                return nil
            }
            // Not a plain run of 13+ digits (card numbers, ids): a phone number has
            // separators, a leading +, or 10–12 digits.
            let plain = (start..<end).allSatisfy { Self.isDigit(t[$0]) }
            guard !plain || digits <= 12 || byte == UInt8(ascii: "+") else { return nil }
            return start..<end
        case .creditCard:
            guard atBoundary, Self.isDigit(byte) else { return nil }
            // Luhn sums kept both ways as the digits come (doubling the even or the odd
            // positions from the left); the count's parity picks one at the end.
            var index = start, count = 0, end = start, evenDoubled = 0, oddDoubled = 0
            while index < t.count, count < 19 {
                let c = t[index]
                if Self.isDigit(c) {
                    let digit = Int(c - 48), doubled = digit * 2 > 9 ? digit * 2 - 9 : digit * 2
                    evenDoubled += count % 2 == 0 ? doubled : digit
                    oddDoubled += count % 2 == 0 ? digit : doubled
                    count += 1
                    end = index + 1
                } else if c != UInt8(ascii: " ") && c != UInt8(ascii: "-") {
                    break
                }
                index += 1
            }
            guard count >= 13, end == t.count || !Self.isWord(t[end]), (count % 2 == 0 ? evenDoubled : oddDoubled) % 10 == 0 else {
                return nil
            }
            return start..<end
        case .iban:
            // Upper or lower case (the checksum reads letters either way).
            guard atBoundary, start + 4 <= t.count, Self.isAlpha(t[start]), Self.isAlpha(t[start + 1]),
                  Self.isDigit(t[start + 2]), Self.isDigit(t[start + 3]) else { return nil }
            var index = start, chars: [UInt8] = [], end = start
            while index < t.count, chars.count < 34 {
                let c = t[index]
                if Self.isDigit(c) || Self.isAlpha(c) { chars.append(Self.isUpper(c) || Self.isDigit(c) ? c : c - 32); end = index + 1 }
                else if c != UInt8(ascii: " ") { break }
                index += 1
            }
            guard chars.count >= 15, end == t.count || !Self.isWord(t[end]), Self.ibanValid(chars) else { return nil }
            return start..<end
        case .usSSN:
            // 123-45-6789 or 123 45 6789 (one separator throughout).
            guard atBoundary, start + 11 <= t.count, t[start + 3] == UInt8(ascii: "-") || t[start + 3] == UInt8(ascii: " "),
                  t[start + 6] == t[start + 3] else {
                return nil
            }
            let digits = [0, 1, 2, 4, 5, 7, 8, 9, 10].map { t[start + $0] }
            guard digits.allSatisfy(Self.isDigit), start + 11 == t.count || !Self.isWord(t[start + 11]) else { return nil }
            let area = Int(digits[0] - 48) * 100 + Int(digits[1] - 48) * 10 + Int(digits[2] - 48)
            let group = Int(digits[3] - 48) * 10 + Int(digits[4] - 48)
            let serial = digits[5...].reduce(0) { $0 * 10 + Int($1 - 48) }
            guard area != 0, area != 666, area < 900, group != 0, serial != 0 else { return nil }
            return start..<(start + 11)
        case .ipAddress:
            // Not inside a longer dotted or colon-separated run (a version, a time).
            guard atBoundary, start == 0 || (t[start - 1] != UInt8(ascii: ".") && t[start - 1] != UInt8(ascii: ":")) else {
                return nil
            }
            if Self.isDigit(byte), let end = Self.ipv4(at: start, in: t) { return start..<end }
            if Self.isHex(byte) || byte == UInt8(ascii: ":"), let end = Self.ipv6(at: start, in: t) { return start..<end }
            return nil
        case .awsKey:
            guard atBoundary, start + 20 <= t.count,
                  Self.hasPrefix(t, start, "AKIA") || Self.hasPrefix(t, start, "ASIA") else { return nil }
            guard (start + 4..<start + 20).allSatisfy({ Self.isUpper(t[$0]) || Self.isDigit(t[$0]) }),
                  start + 20 == t.count || !Self.isWord(t[start + 20]) else { return nil }
            return start..<(start + 20)
        case .openAIKey:
            guard atBoundary, Self.hasPrefix(t, start, "sk-"), !Self.hasPrefix(t, start, "sk-ant-"),
                  !Self.hasPrefix(t, start, "sk-sluice-") else { return nil }
            return Self.token(from: start, prefix: 3, in: t, minimum: 20)
        case .anthropicKey:
            guard atBoundary, Self.hasPrefix(t, start, "sk-ant-") else { return nil }
            return Self.token(from: start, prefix: 7, in: t, minimum: 20)
        case .githubToken:
            guard atBoundary else { return nil }
            if Self.hasPrefix(t, start, "github_pat_") { return Self.token(from: start, prefix: 11, in: t, minimum: 22) }
            guard start + 4 <= t.count, t[start] == UInt8(ascii: "g"), t[start + 1] == UInt8(ascii: "h"),
                  Array("pousr".utf8).contains(t[start + 2]), t[start + 3] == UInt8(ascii: "_") else { return nil }
            return Self.token(from: start, prefix: 4, in: t, minimum: 36)
        case .slackToken:
            guard atBoundary, start + 5 <= t.count, Self.hasPrefix(t, start, "xox"), Array("baprs".utf8).contains(t[start + 3]),
                  t[start + 4] == UInt8(ascii: "-") else { return nil }
            return Self.token(from: start, prefix: 5, in: t, minimum: 10)
        case .privateKey:
            guard byte == UInt8(ascii: "-"), Self.hasPrefix(t, start, "-----BEGIN ") else { return nil }
            var index = start + 11
            while index < t.count, index - start < 64, t[index] != UInt8(ascii: "-") { index += 1 }
            guard Self.hasSuffix(t, before: index, "PRIVATE KEY"), Self.hasPrefix(t, index, "-----") else { return nil }
            // Up to its END line, or the rest of the text (at most 16 KiB).
            var end = index + 5
            while end < t.count, end - start < 16 << 10 {
                if t[end] == UInt8(ascii: "-"), Self.hasPrefix(t, end, "-----END ") {
                    var close = end + 9
                    while close < t.count, close - end < 64, t[close] != UInt8(ascii: "-") { close += 1 }
                    return start..<min(t.count, close + 5)
                }
                end += 1
            }
            return start..<end
        }
    }

    // MARK: checks

    /// ISO 13616: the first four characters moved to the end, letters as 10–35, mod 97 = 1.
    static func ibanValid(_ chars: [UInt8]) -> Bool {
        var remainder = 0
        for c in chars[4...] + chars[..<4] {
            let value = isDigit(c) ? Int(c - 48) : Int(c - 65) + 10
            remainder = value < 10 ? (remainder * 10 + value) % 97 : (remainder * 100 + value) % 97
        }
        return remainder == 1
    }

    static func ipv4(at start: Int, in t: UnsafeRawBufferPointer) -> Int? {
        var index = start
        for part in 0..<4 {
            var value = 0, digits = 0
            while index < t.count, isDigit(t[index]), digits < 3 { value = value * 10 + Int(t[index] - 48); digits += 1; index += 1 }
            guard digits > 0, value <= 255 else { return nil }
            if part < 3 {
                guard index < t.count, t[index] == UInt8(ascii: "."), index + 1 < t.count, isDigit(t[index + 1]) else { return nil }
                index += 1
            }
        }
        guard index == t.count || !(isWord(t[index]) || t[index] == UInt8(ascii: ".")) else { return nil }
        return index
    }

    /// Eight groups of 1–4 hex digits, or fewer with one `::`; at least three groups or a `::`.
    static func ipv6(at start: Int, in t: UnsafeRawBufferPointer) -> Int? {
        var index = start, groups = 0, compressed = false, digits = 0
        while index < t.count, index - start < 45 {
            let c = t[index]
            if isHex(c) {
                digits += 1
                guard digits <= 4 else { return nil }
            } else if c == UInt8(ascii: "."), compressed || groups == 6, digits > 0, let end = ipv4(at: index - digits, in: t) {
                // An IPv4 tail (`::ffff:192.0.2.1`) counts as two groups.
                guard groups + 2 <= 8, compressed || groups + 2 == 8 else { return nil }
                return end
            } else if c == UInt8(ascii: ":") {
                if digits > 0 { groups += 1 }
                if index + 1 < t.count, t[index + 1] == UInt8(ascii: ":") {
                    guard !compressed else { return nil }
                    compressed = true
                    index += 1
                } else if digits == 0 && index != start {
                    return nil
                }
                digits = 0
            } else {
                break
            }
            index += 1
        }
        if digits > 0 { groups += 1 }
        guard index == t.count || !(isWord(t[index]) || t[index] == UInt8(ascii: ".")), groups <= 8,
              compressed ? groups >= 1 : groups == 8 else { return nil }
        guard compressed || groups == 8, t[index - 1] != UInt8(ascii: ":") || compressed else { return nil }
        // A time such as 12:30 is not an address: ask for a `::` or eight groups.
        return index
    }

    /// A token of `[A-Za-z0-9_-]` after a `prefix`-byte prefix, at least `minimum` long.
    static func token(from start: Int, prefix: Int, in t: UnsafeRawBufferPointer, minimum: Int) -> Range<Int>? {
        var end = start + prefix
        while end < t.count, end - start < 512, isWord(t[end]) || t[end] == UInt8(ascii: "-") { end += 1 }
        return end - start - prefix >= minimum ? start..<end : nil
    }

    static func hasPrefix(_ t: UnsafeRawBufferPointer, _ at: Int, _ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard at + count <= t.count else { return false }
        return text.withUTF8Buffer { prefix in (0..<count).allSatisfy { t[at + $0] == prefix[$0] } }
    }

    static func hasSuffix(_ t: UnsafeRawBufferPointer, before end: Int, _ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard end >= count else { return false }
        return hasPrefix(t, end - count, text)
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    static func isUpper(_ c: UInt8) -> Bool { c >= 65 && c <= 90 }
    static func isAlpha(_ c: UInt8) -> Bool { isUpper(c) || (c >= 97 && c <= 122) }
    static func isAlnum(_ c: UInt8) -> Bool { isDigit(c) || isAlpha(c) }
    static func isHex(_ c: UInt8) -> Bool { isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70) }
    static func isWord(_ c: UInt8) -> Bool { isAlnum(c) || c == UInt8(ascii: "_") || c >= 0x80 }
    static func isEmailLocal(_ c: UInt8) -> Bool {
        isAlnum(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "%") || c == UInt8(ascii: "+")
            || c == UInt8(ascii: "-")
    }
}
