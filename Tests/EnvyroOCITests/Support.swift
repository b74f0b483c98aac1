import Glibc
import EnvyroJSON
import EnvyroOCI
import Testing

/// A change to a valid config.json: set `value` at a dotted path ("linux.resources.rdma",
/// "mounts.2.options"; a number indexes an array), or remove the key when `value` is nil.
struct ConfigChange: Sendable, CustomTestStringConvertible {
    let label: String
    let path: String
    let value: JSONValue?
    /// The JSON path the error must name.
    let errorPath: String
    /// Text the reason must contain.
    let reason: String

    init(_ label: String, _ path: String, _ value: JSONValue?, errorPath: String? = nil, reason: String) {
        self.label = label
        self.path = path
        self.value = value
        self.errorPath = errorPath ?? path
        self.reason = reason
    }

    var testDescription: String { label }
}

/// The default (root) config as a JSON value, to break in tests.
func baseDocument() -> JSONValue {
    OCISpec.document(rootless: false)
}

/// `document` with `value` set at `path` (nil removes the key).
func setting(_ document: JSONValue, _ path: String, _ value: JSONValue?) -> JSONValue {
    let parts = path.split(separator: ".").map(String.init)
    return set(document, parts[...], value)
}

private func set(_ node: JSONValue, _ parts: ArraySlice<String>, _ value: JSONValue?) -> JSONValue {
    guard let head = parts.first else { return value ?? .null }
    let rest = parts.dropFirst()
    if let index = Int(head), case .array(var elements) = node {
        if rest.isEmpty, value == nil {
            elements.remove(at: index)
        } else if index == elements.count {
            elements.append(set(.object([:]), rest, value))
        } else {
            elements[index] = set(elements[index], rest, value)
        }
        return .array(elements)
    }
    var object = node.objectValue ?? JSONObject()
    if rest.isEmpty {
        object[head] = value
    } else {
        object[head] = set(object[head] ?? .object([:]), rest, value)
    }
    return .object(object)
}

/// Parses `document` with the config reader.
func parse(_ document: JSONValue) throws(OCIError) -> OCIConfig {
    try OCIConfig.parse(text: document.serialized())
}

/// The error parsing `document` gives, or nil if it parses.
func parseError(_ document: JSONValue) -> OCIError? {
    do {
        _ = try parse(document)
        return nil
    } catch {
        return error
    }
}

/// A temporary directory removed by `cleanup`.
struct TemporaryBundle {
    let path: String

    init() {
        var template = Array("/tmp/envyro-oci-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = made.map { String(cString: $0) } ?? "/tmp"
    }

    func write(_ name: String, _ text: String) {
        let fd = open("\(path)/\(name)", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { return }
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    func cleanup() {
        _ = unlink("\(path)/config.json")
        _ = rmdir(path)
    }
}
