import EnvyroJSON

/// Reads one JSON object of a policy file, producing errors that name the file and the
/// dotted key path. Each schema section is one small function that first calls
/// `allowOnly` with its keys and then reads them.
struct SectionReader {
    /// The policy file, for error messages.
    let file: String
    /// Dotted path of this object ("" for the top level).
    let prefix: String
    let object: JSONObject

    func keyPath(_ key: String) -> String {
        prefix.isEmpty ? key : "\(prefix).\(key)"
    }

    /// Fails on the first key not in `keys`.
    func allowOnly(_ keys: Set<String>) throws(PolicyError) {
        for key in object.keys where !keys.contains(key) {
            throw .unknownKey(path: file, key: keyPath(key))
        }
    }

    func invalid(_ key: String, _ reason: String) -> PolicyError {
        .invalidValue(path: file, key: keyPath(key), reason: reason)
    }

    func wrongType(_ key: String, _ expected: String) -> PolicyError {
        .wrongType(path: file, key: keyPath(key), expected: expected)
    }

    func value(_ key: String) throws(PolicyError) -> JSONValue {
        guard let v = object[key] else { throw .missingKey(path: file, key: keyPath(key)) }
        return v
    }

    func has(_ key: String) -> Bool { object.contains(key: key) }

    func string(_ key: String) throws(PolicyError) -> String {
        guard let s = try value(key).stringValue else { throw wrongType(key, "a string") }
        return s
    }

    func optionalString(_ key: String) throws(PolicyError) -> String? {
        has(key) ? try string(key) : nil
    }

    func bool(_ key: String) throws(PolicyError) -> Bool {
        guard let b = try value(key).boolValue else { throw wrongType(key, "a boolean") }
        return b
    }

    /// An integer in `range`; `defaultValue` when absent (required if nil).
    func int(_ key: String, in range: ClosedRange<Int>, default defaultValue: Int? = nil) throws(PolicyError) -> Int {
        if !has(key), let defaultValue { return defaultValue }
        guard let wide = try value(key).intValue, let v = Int(exactly: wide) else {
            throw wrongType(key, "an integer")
        }
        guard range.contains(v) else {
            throw invalid(key, "\(v) is not between \(range.lowerBound) and \(range.upperBound)")
        }
        return v
    }

    /// A number in `range`.
    func double(_ key: String, in range: ClosedRange<Double>) throws(PolicyError) -> Double {
        guard let v = try value(key).doubleValue else { throw wrongType(key, "a number") }
        guard range.contains(v) else {
            throw invalid(key, "\(v) is not between \(range.lowerBound) and \(range.upperBound)")
        }
        return v
    }

    func strings(_ key: String) throws(PolicyError) -> [String] {
        guard let array = try value(key).arrayValue else { throw wrongType(key, "an array of strings") }
        var result: [String] = []
        result.reserveCapacity(array.count)
        for (i, element) in array.enumerated() {
            guard let s = element.stringValue else { throw wrongType("\(key)[\(i)]", "a string") }
            result.append(s)
        }
        return result
    }

    /// A non-repeating list of enum raw values, e.g. `["user", "pid"]`.
    func enumSet<E: RawRepresentable & CaseIterable & Hashable>(
        _ key: String, of: E.Type, allowEmpty: Bool
    ) throws(PolicyError) -> (set: Set<E>, order: [E]) where E.RawValue == String {
        let names = try strings(key)
        if names.isEmpty && !allowEmpty { throw invalid(key, "must not be empty") }
        var set = Set<E>()
        var order: [E] = []
        for (i, name) in names.enumerated() {
            guard let v = E(rawValue: name) else {
                let choices = E.allCases.map(\.rawValue).joined(separator: ", ")
                throw invalid("\(key)[\(i)]", "'\(name)' is not one of: \(choices)")
            }
            guard set.insert(v).inserted else { throw invalid("\(key)[\(i)]", "'\(name)' is listed twice") }
            order.append(v)
        }
        return (set, order)
    }

    /// The nested object `key`.
    func section(_ key: String) throws(PolicyError) -> SectionReader {
        guard let o = try value(key).objectValue else { throw wrongType(key, "an object") }
        return SectionReader(file: file, prefix: keyPath(key), object: o)
    }
}
