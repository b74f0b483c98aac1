/// Fast JSON string-literal encoding, for building output (such as audit lines) without
/// constructing a `JSONValue`.
public enum JSONText {
    /// The JSON string literal for `s`, including the surrounding quotes. `"` and `\` are
    /// escaped, control characters use `\b \f \n \r \t` or `\u00XX`; everything else,
    /// including non-ASCII, is kept as UTF-8.
    public static func quoted(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 2)
        append(quoted: s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the JSON string literal for `s` (with quotes) to `out` as UTF-8.
    public static func append(quoted s: String, to out: inout [UInt8]) {
        out.append(0x22)
        for c in s.utf8 {
            if c >= 0x20 && c != 0x22 && c != 0x5C {
                out.append(c)
                continue
            }
            out.append(0x5C)
            switch c {
            case 0x22: out.append(0x22)
            case 0x5C: out.append(0x5C)
            case 0x08: out.append(0x62)
            case 0x0C: out.append(0x66)
            case 0x0A: out.append(0x6E)
            case 0x0D: out.append(0x72)
            case 0x09: out.append(0x74)
            default:
                out.append(contentsOf: [0x75, 0x30, 0x30])
                out.append(contentsOf: hex2(c).utf8)
            }
        }
        out.append(0x22)
    }
}

extension JSONValue {
    /// The JSON text of this value: compact by default, or with 2-space indentation and
    /// one member per line when `pretty`. Output is deterministic (object keys in
    /// insertion order); doubles are printed so they parse back to the same value, and
    /// non-finite doubles are written as `null`.
    public func serialized(pretty: Bool = false) -> String {
        var out: [UInt8] = []
        append(to: &out, pretty: pretty)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the UTF-8 JSON text of this value to `out`; see `serialized(pretty:)`.
    public func append(to out: inout [UInt8], pretty: Bool = false) {
        write(to: &out, pretty: pretty, indent: 0)
    }

    private func write(to out: inout [UInt8], pretty: Bool, indent: Int) {
        switch self {
        case .null:
            out.append(contentsOf: "null".utf8)
        case .bool(let v):
            out.append(contentsOf: (v ? "true" : "false").utf8)
        case .int(let v):
            out.append(contentsOf: String(v).utf8)
        case .double(let d):
            if d.isFinite {
                out.append(contentsOf: d.description.utf8)
            } else {
                out.append(contentsOf: "null".utf8)
            }
        case .string(let s):
            JSONText.append(quoted: s, to: &out)
        case .array(let elements):
            out.append(0x5B)
            if elements.isEmpty {
                out.append(0x5D)
                return
            }
            for (k, element) in elements.enumerated() {
                if k > 0 { out.append(0x2C) }
                if pretty { newline(&out, indent + 1) }
                element.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { newline(&out, indent) }
            out.append(0x5D)
        case .object(let object):
            out.append(0x7B)
            if object.isEmpty {
                out.append(0x7D)
                return
            }
            for (k, entry) in object.entries.enumerated() {
                if k > 0 { out.append(0x2C) }
                if pretty { newline(&out, indent + 1) }
                JSONText.append(quoted: entry.key, to: &out)
                out.append(0x3A)
                if pretty { out.append(0x20) }
                entry.value.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { newline(&out, indent) }
            out.append(0x7D)
        }
    }

    private func newline(_ out: inout [UInt8], _ indent: Int) {
        out.append(0x0A)
        out.append(contentsOf: repeatElement(0x20, count: indent * 2))
    }
}
