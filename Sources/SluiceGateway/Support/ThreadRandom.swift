/// A fast generator for one thread (SplitMix64), seeded once from the system's: for what
/// the hot path draws on every call (the weighted choice, probe-lease tokens, call ids),
/// which must differ across threads and processes but need not be secret. Drawing from
/// `SystemRandomNumberGenerator` costs a `getrandom` system call each time. Never use it
/// for anything secret (gateway keys come from the system generator).
struct ThreadRandom: RandomNumberGenerator {
    private var state: UInt64

    init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
