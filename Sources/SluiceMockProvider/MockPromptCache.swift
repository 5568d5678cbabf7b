import Foundation
import Synchronization

/// The mock's prompt cache, shared by every connection and wire format, cleared by
/// `POST /_mock/reset`.
///
/// A prompt is a list of ``Unit``s in the provider's cache order (Anthropic: tools, then
/// system, then messages; Bedrock: `toolConfig.tools`, `system`, `messages`). Some units
/// end with a breakpoint (`cache_control`, a `cachePoint`) with a TTL. The key of the
/// prefix that ends at unit `i` chains SHA-256 over the namespace (API and model) and
/// every unit's canonical text up to `i`, so any change before a breakpoint misses.
///
/// ``account(_:namespace:)`` then does what Anthropic documents: the longest prefix ending
/// at a breakpoint that is cached (and not expired) is read, and refreshed; every later
/// breakpoint's prefix is written, its tokens (from the previous breakpoint on) billed
/// at that breakpoint's TTL. The tokens after the last breakpoint are plain input. There
/// is no minimum cacheable length.
final class MockPromptCache: Sendable {
    /// How long an entry lives without being read.
    enum TTL: String, Sendable {
        case fiveMinutes = "5m"
        case oneHour = "1h"

        var seconds: Double { self == .oneHour ? 3600 : 300 }
    }

    /// One block of a prompt, in cache order.
    struct Unit {
        /// What identifies the block: its role or place and its JSON without the breakpoint marker.
        var text: String
        var tokens: Int
        /// Set when a breakpoint follows this block.
        var breakpoint: TTL?
    }

    /// What a prompt cost, split the way Anthropic reports it; the three counts add up to
    /// the prompt's tokens.
    struct Usage: Equatable {
        var input: Int
        var read = 0
        var write5m = 0
        var write1h = 0

        var write: Int { write5m + write1h }
    }

    private let entries = Mutex<[String: Date]>([:])

    /// Reads and writes the prefixes of `units` under `namespace`; without breakpoints it
    /// touches nothing and everything is input.
    func account(_ units: [Unit], namespace: String, now: Date = Date()) -> Usage {
        let total = units.reduce(0) { $0 + $1.tokens }
        var breakpoints: [(key: String, tokens: Int, ttl: TTL)] = []
        var chain = MockSHA256.hash(Array(namespace.utf8))
        var running = 0
        for unit in units {
            chain = MockSHA256.hash(chain + Array(unit.text.utf8))
            running += unit.tokens
            if let ttl = unit.breakpoint { breakpoints.append((MockSHA256.hex(chain), running, ttl)) }
        }
        guard let last = breakpoints.last else { return Usage(input: total) }
        return entries.withLock { entries in
            entries = entries.filter { $0.value > now }
            let hit = breakpoints.lastIndex { entries[$0.key] != nil }
            var usage = Usage(input: total - last.tokens)
            var previous = 0
            if let hit {
                usage.read = breakpoints[hit].tokens
                previous = usage.read
                entries[breakpoints[hit].key] = now.addingTimeInterval(breakpoints[hit].ttl.seconds)
            }
            for breakpoint in breakpoints[((hit ?? -1) + 1)...] {
                let tokens = breakpoint.tokens - previous
                if breakpoint.ttl == .oneHour { usage.write1h += tokens } else { usage.write5m += tokens }
                previous = breakpoint.tokens
                entries[breakpoint.key] = now.addingTimeInterval(breakpoint.ttl.seconds)
            }
            return usage
        }
    }

    func reset() {
        entries.withLock { $0 = [:] }
    }

    /// A block's canonical JSON text: keys sorted, the breakpoint marker (`cache_control`) left out.
    static func canonical(_ object: Any, dropping marker: String = "cache_control") -> String {
        var value = object
        if var dictionary = object as? [String: Any] {
            dictionary[marker] = nil
            value = dictionary
        }
        guard JSONSerialization.isValidJSONObject([value]) else { return "\(value)" }
        return String(decoding: MockJSON.encode([value]), as: UTF8.self)
    }
}
