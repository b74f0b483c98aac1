/// Why an OCI document (config.json, a state file) could not be read or was refused.
///
/// `path` is a JSON path such as `linux.resources.hugepageLimits` or `mounts[3].options`
/// (empty for the document as a whole); `reason` says what is wrong with it.
public struct OCIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The document, e.g. "config.json" or "state.json".
    public var document: String
    /// JSON path of the offending value; "" for the whole document.
    public var path: String
    /// What is wrong, e.g. "not supported by envyro" or "unknown key".
    public var reason: String

    /// Creates an error about `path` in `document`.
    public init(document: String = "config.json", path: String, reason: String) {
        self.document = document
        self.path = path
        self.reason = reason
    }

    /// "config.json: linux.resources.rdma: not supported by envyro".
    public var description: String {
        path.isEmpty ? "\(document): \(reason)" : "\(document): \(path): \(reason)"
    }
}

/// The closest of `candidates` to `word` by edit distance, if it is close enough to be a
/// plausible typo (at most a third of the word's length, and at least 1).
func closestMatch(to word: String, in candidates: [String]) -> String? {
    let limit = max(1, word.count / 3)
    var best: (name: String, distance: Int)?
    for candidate in candidates {
        let d = editDistance(Array(word.lowercased().utf8), Array(candidate.lowercased().utf8))
        if d <= limit, d < (best?.distance ?? Int.max) { best = (candidate, d) }
    }
    return best?.name
}

/// Levenshtein distance between two byte strings.
func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
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
