/// Durations as written in `sluice.yaml`: `500ms`, `5s`, `1m`, `2h`, `1d`, or a bare
/// integer meaning seconds.
///
/// Only whole, non-negative numbers with one unit are accepted; `1.5s`, `-1s`, `5 s`
/// and `5sec` are rejected, so a typo never turns into a surprising value.
public enum DurationText {
    /// The duration `text` denotes, or `nil` when it is not a valid duration.
    public static func parse(_ text: String) -> Duration? {
        let units: [(suffix: String, milliseconds: Int)] = [
            ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
        ]
        var digits = Substring(text)
        var millisecondsPerUnit = 1_000
        // "ms" is tried before "s" and "m" so that `500ms` is not read as `500m` + "s".
        for unit in units where text.hasSuffix(unit.suffix) {
            digits = text.dropLast(unit.suffix.count)
            millisecondsPerUnit = unit.milliseconds
            break
        }
        guard let count = DurationText.wholeNumber(digits) else { return nil }
        let (milliseconds, overflow) = count.multipliedReportingOverflow(by: millisecondsPerUnit)
        guard !overflow else { return nil }
        return .milliseconds(milliseconds)
    }

    /// `duration` in the largest unit that divides it exactly (`5m`, `1500ms`).
    public static func format(_ duration: Duration) -> String {
        let ms = duration.wholeMilliseconds
        for (suffix, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)]
        where ms >= size && ms % size == 0 {
            return "\(ms / size)\(suffix)"
        }
        return "\(ms)ms"
    }

    /// The examples quoted in error messages.
    static let examples = "500ms, 5s, 1m, 2h, 1d, or a number of seconds"
}

/// Byte sizes as written in `sluice.yaml`, in nginx's style: `512k`, `8m`, `1g`
/// (binary multiples, either case) or a plain integer number of bytes.
public enum ByteSizeText {
    /// The number of bytes `text` denotes, or `nil` when it is not a valid size.
    public static func parse(_ text: String) -> Int? {
        let multipliers: [Character: Int] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
        var digits = Substring(text)
        var multiplier = 1
        if let last = text.last, let unit = multipliers[Character(last.lowercased())] {
            digits = text.dropLast()
            multiplier = unit
        }
        guard let count = DurationText.wholeNumber(digits) else { return nil }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : bytes
    }

    /// The examples quoted in error messages.
    static let examples = "512k, 8m, 1g, or a number of bytes"
}

extension DurationText {
    /// Non-negative decimal integers: ASCII digits only, no sign, no separators.
    static func wholeNumber(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return Int(text)
    }
}

extension Duration {
    /// The duration in whole milliseconds, rounded down.
    public var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
