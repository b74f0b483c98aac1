/// A JSON object: string keys mapped to values, in insertion order.
///
/// Lookup by key is O(1) for objects of more than `indexThreshold` members (a hash index),
/// and a scan of at most that many keys for smaller ones: most objects in a config.json or a
/// seccomp profile have two to five members, and hashing every key into a dictionary of its
/// own was most of the parser's time (measured: a ~400-rule profile's config.json, 0.4 ms).
/// Equality ignores key order: two objects are equal when they have the same keys with equal
/// values. Serialization follows insertion order.
public struct JSONObject: Sendable, Equatable, Sequence {
    /// One member of an object.
    public typealias Element = (key: String, value: JSONValue)

    /// The members in insertion order. Keys are unique.
    public private(set) var entries: [(key: String, value: JSONValue)]
    /// Key to position, kept only once the object has more than `indexThreshold` members.
    private var index: [String: Int]
    private var indexed = false
    static let indexThreshold = 8

    /// Creates an empty object.
    public init() {
        entries = []
        index = [:]
    }

    /// The position of `key`, or nil.
    private func position(of key: String) -> Int? {
        if indexed { return index[key] }
        for i in entries.indices where entries[i].key == key { return i }
        return nil
    }

    /// Appends a member whose key is not present.
    private mutating func append(_ key: String, _ value: JSONValue) {
        entries.append((key: key, value: value))
        if indexed {
            index[key] = entries.count - 1
        } else if entries.count > Self.indexThreshold {
            index.reserveCapacity(entries.count)
            for (i, e) in entries.enumerated() { index[e.key] = i }
            indexed = true
        }
    }

    /// Creates an object from key-value pairs in order. A repeated key keeps its first
    /// position and takes its last value.
    public init(_ entries: [(String, JSONValue)]) {
        self.init()
        self.entries.reserveCapacity(entries.count)
        for (key, value) in entries { set(key, value) }
    }

    /// The value for `key`, or nil. Assigning nil removes the key; assigning a value
    /// replaces it in place or appends it.
    public subscript(key: String) -> JSONValue? {
        get {
            guard let i = position(of: key) else { return nil }
            return entries[i].value
        }
        set {
            if let newValue { set(key, newValue) } else { removeValue(forKey: key) }
        }
    }

    /// The keys in insertion order.
    public var keys: [String] { entries.map(\.key) }

    /// The number of members.
    public var count: Int { entries.count }

    /// True if the object has no members.
    public var isEmpty: Bool { entries.isEmpty }

    /// Sets `key` to `value`, replacing an existing value in place or appending a new key.
    public mutating func set(_ key: String, _ value: JSONValue) {
        if let i = position(of: key) {
            entries[i].value = value
        } else {
            append(key, value)
        }
    }

    /// Removes `key` and returns its value, or nil if it was absent. O(n).
    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let i = position(of: key) else { return nil }
        let removed = entries.remove(at: i).value
        if indexed {
            index.removeValue(forKey: key)
            for j in i..<entries.count { index[entries[j].key] = j }
        }
        return removed
    }

    /// True if the object has a member named `key`.
    public func contains(key: String) -> Bool { position(of: key) != nil }

    /// Appends `key` unless it is already present; returns false (and changes nothing)
    /// if it was.
    mutating func insertNew(_ key: String, _ value: JSONValue) -> Bool {
        if position(of: key) != nil { return false }
        append(key, value)
        return true
    }

    /// Iterates the members in insertion order.
    public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> {
        entries.makeIterator()
    }

    /// Same keys with equal values, regardless of order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.entries.count == rhs.entries.count else { return false }
        for (key, value) in lhs.entries {
            guard let other = rhs[key], other == value else { return false }
        }
        return true
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    /// Creates an object keeping the literal's key order.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }
}
