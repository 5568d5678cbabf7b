extension ConfigLoader {
    /// The candidate closest to `word` by edit distance, when it is close enough to
    /// be a likely typo (at most two edits, and fewer edits than the word is long).
    static func closest(to word: String, among candidates: [String]) -> String? {
        let limit = min(2, max(word.count - 1, 0))
        let ranked = candidates.map { (candidate: $0, distance: editDistance(word, $0)) }
            .filter { $0.distance <= limit }
        return ranked.min { $0.distance < $1.distance }?.candidate
    }

    /// Levenshtein distance between `a` and `b`, counted in characters.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
