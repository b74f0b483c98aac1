import EnvyroJSON

/// Reads one JSON object of an OCI document strictly, producing errors that name the JSON
/// path. Each section first calls `keys(_:refused:)` with every key it honours and every key
/// it refuses by name, then reads its values.
///
/// A key whose value is `null` counts as absent: Go encoders write `null` for nil pointers
/// that lack `omitempty`, and it asks for nothing.
struct OCIReader {
    /// The document, for error messages ("config.json").
    let document: String
    /// JSON path of this object ("" for the top level).
    let path: String
    let object: JSONObject

    init(document: String, path: String, object: JSONObject) {
        self.document = document
        self.path = path
        self.object = object
    }

    /// Reads the top-level value of a document, which must be an object.
    init(document: String, root: JSONValue) throws(OCIError) {
        guard let object = root.objectValue else {
            throw OCIError(document: document, path: "", reason: "the document must be a JSON object")
        }
        self.init(document: document, path: "", object: object)
    }

    func keyPath(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    func error(_ key: String, _ reason: String) -> OCIError {
        OCIError(document: document, path: keyPath(key), reason: reason)
    }

    /// The error for this object as a whole.
    func error(_ reason: String) -> OCIError {
        OCIError(document: document, path: path, reason: reason)
    }

    /// Fails on the first key that is refused (with its reason) or unknown (with a
    /// suggestion). A refused key is let through when its value asks for nothing: `null`,
    /// `""`, `{}` or `[]`.
    func keys(_ known: [String], refused: [(key: String, reason: String)] = []) throws(OCIError) {
        for (key, value) in object {
            if known.contains(key) { continue }
            if let entry = refused.first(where: { $0.key == key }) {
                if Self.asksForNothing(value) { continue }
                throw error(key, entry.reason)
            }
            var reason = "unknown key"
            if let suggestion = closestMatch(to: key, in: known + refused.map(\.key)) {
                reason += " (did you mean '\(suggestion)'?)"
            }
            throw error(key, reason)
        }
    }

    static func asksForNothing(_ value: JSONValue) -> Bool {
        switch value {
        case .null: true
        case .string(let s): s.isEmpty
        case .array(let a): a.isEmpty
        case .object(let o): o.isEmpty
        default: false
        }
    }

    /// True if `key` is present and not `null`.
    func has(_ key: String) -> Bool {
        guard let v = object[key] else { return false }
        return !v.isNull
    }

    func value(_ key: String) throws(OCIError) -> JSONValue {
        guard let v = object[key], !v.isNull else { throw error(key, "required") }
        return v
    }

    // MARK: scalars

    func string(_ key: String) throws(OCIError) -> String {
        guard let s = try value(key).stringValue else { throw error(key, "must be a string") }
        guard !s.utf8.contains(0) else { throw error(key, "contains a NUL byte") }
        return s
    }

    func optionalString(_ key: String) throws(OCIError) -> String? {
        has(key) ? try string(key) : nil
    }

    /// An absolute path: starts with "/" and has no NUL byte.
    func absolutePath(_ key: String) throws(OCIError) -> String {
        let s = try string(key)
        guard s.hasPrefix("/") else { throw error(key, "must be an absolute path, not '\(s)'") }
        return s
    }

    func bool(_ key: String, default defaultValue: Bool) throws(OCIError) -> Bool {
        has(key) ? try bool(key) : defaultValue
    }

    func bool(_ key: String) throws(OCIError) -> Bool {
        guard let b = try value(key).boolValue else { throw error(key, "must be a boolean") }
        return b
    }

    func optionalBool(_ key: String) throws(OCIError) -> Bool? {
        has(key) ? try bool(key) : nil
    }

    /// A required integer of type `T`, within `T`'s range.
    func integer<T: FixedWidthInteger>(_ key: String, as type: T.Type = T.self) throws(OCIError) -> T {
        guard let v: T = Self.integerValue(try value(key)) else {
            throw error(key, "must be an integer from \(T.min) to \(T.max)")
        }
        return v
    }

    func optionalInteger<T: FixedWidthInteger>(_ key: String, as type: T.Type = T.self) throws(OCIError) -> T? {
        has(key) ? try integer(key, as: T.self) : nil
    }

    /// The JSON parser keeps integers that fit `Int64` exactly and turns larger ones into
    /// doubles. So a `UInt64` above `Int64.max` arrives as a double, and 2^64-1 (Go's
    /// `RLIM_INFINITY`, `^uint64(0)`) rounds up to 2^64: that one value is mapped back.
    static func integerValue<T: FixedWidthInteger>(_ value: JSONValue) -> T? {
        switch value {
        case .int(let v):
            return T(exactly: v)
        case .double(let d):
            if T.self == UInt64.self, d == 18_446_744_073_709_551_616.0 { return T.max }
            guard d >= 9_223_372_036_854_775_808.0 else { return nil }
            return T(exactly: d)
        default:
            return nil
        }
    }

    // MARK: arrays and objects

    /// An array of strings; `[]` when absent.
    func strings(_ key: String) throws(OCIError) -> [String] {
        guard has(key) else { return [] }
        guard let array = try value(key).arrayValue else { throw error(key, "must be an array of strings") }
        var result: [String] = []
        result.reserveCapacity(array.count)
        for (i, element) in array.enumerated() {
            guard let s = element.stringValue else { throw error("\(key)[\(i)]", "must be a string") }
            guard !s.utf8.contains(0) else { throw error("\(key)[\(i)]", "contains a NUL byte") }
            result.append(s)
        }
        return result
    }

    /// An array of absolute paths; `[]` when absent.
    func absolutePaths(_ key: String) throws(OCIError) -> [String] {
        let paths = try strings(key)
        for (i, p) in paths.enumerated() where !p.hasPrefix("/") {
            throw error("\(key)[\(i)]", "must be an absolute path, not '\(p)'")
        }
        return paths
    }

    /// An array of integers of type `T`; `[]` when absent.
    func integers<T: FixedWidthInteger>(_ key: String, as type: T.Type = T.self) throws(OCIError) -> [T] {
        guard has(key) else { return [] }
        guard let array = try value(key).arrayValue else { throw error(key, "must be an array of integers") }
        var result: [T] = []
        for (i, element) in array.enumerated() {
            guard let v: T = Self.integerValue(element) else {
                throw error("\(key)[\(i)]", "must be an integer from \(T.min) to \(T.max)")
            }
            result.append(v)
        }
        return result
    }

    /// The nested object `key`, or nil when absent.
    func section(_ key: String) throws(OCIError) -> OCIReader? {
        guard has(key) else { return nil }
        guard let o = try value(key).objectValue else { throw error(key, "must be an object") }
        return OCIReader(document: document, path: keyPath(key), object: o)
    }

    /// The objects of the array `key`, each with its indexed path; `[]` when absent.
    func objects(_ key: String) throws(OCIError) -> [OCIReader] {
        guard has(key) else { return [] }
        guard let array = try value(key).arrayValue else { throw error(key, "must be an array of objects") }
        var result: [OCIReader] = []
        result.reserveCapacity(array.count)
        for (i, element) in array.enumerated() {
            let p = "\(keyPath(key))[\(i)]"
            guard let o = element.objectValue else {
                throw OCIError(document: document, path: p, reason: "must be an object")
            }
            result.append(OCIReader(document: document, path: p, object: o))
        }
        return result
    }

    /// A string-to-string object, keeping the document's order; `[]` when absent.
    func stringMap(_ key: String) throws(OCIError) -> [OCIKeyValue] {
        guard has(key) else { return [] }
        guard let o = try value(key).objectValue else { throw error(key, "must be an object of strings") }
        var result: [OCIKeyValue] = []
        result.reserveCapacity(o.count)
        for (k, v) in o {
            guard let s = v.stringValue else { throw error("\(key).\(k)", "must be a string") }
            guard !k.isEmpty else { throw error(key, "has an empty key") }
            result.append(OCIKeyValue(k, s))
        }
        return result
    }
}

/// One entry of a string-to-string map (annotations, sysctl, unified), in document order.
public struct OCIKeyValue: Sendable, Hashable {
    /// The key, e.g. "net.ipv4.ping_group_range".
    public var key: String
    /// The value, e.g. "0 0".
    public var value: String

    /// Creates an entry.
    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

extension [OCIKeyValue] {
    /// The value for `key`, if present.
    public subscript(key: String) -> String? {
        first(where: { $0.key == key })?.value
    }

    /// The entries as a JSON object, in order.
    var jsonValue: JSONValue {
        .object(JSONObject(map { ($0.key, JSONValue.string($0.value)) }))
    }
}
