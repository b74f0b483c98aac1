#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why a policy could not be found, read or accepted. Every message names the file and,
/// where there is one, the dotted key path.
public enum PolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No `<name>.json` in any search directory.
    case notFound(name: String, searched: [String])
    /// The file could not be opened or read; `errno` says why (`EFBIG`: over 1 MiB,
    /// `EINVAL`: not a regular file).
    case unreadable(path: String, errno: Int32)
    /// The file is not valid JSON; `detail` has the line and column.
    case invalidJSON(path: String, detail: String)
    /// A key the schema does not know, e.g. `network.foo`.
    case unknownKey(path: String, key: String)
    /// A required key is absent.
    case missingKey(path: String, key: String)
    /// A key has the wrong JSON type; `expected` reads like "a string". An empty `key`
    /// means the document itself.
    case wrongType(path: String, key: String, expected: String)
    /// A key has the right type but a value the schema rejects.
    case invalidValue(path: String, key: String, reason: String)
    /// `schemaVersion` is not one this build understands.
    case unsupportedSchemaVersion(path: String, version: Int)
    /// A policy name that is not `[a-z0-9_-]{1,64}`.
    case invalidName(String)

    /// A one-line, human-readable message.
    public var description: String {
        switch self {
        case .notFound(let name, let searched):
            let dirs = searched.isEmpty ? "nowhere" : searched.joined(separator: ", ")
            return "policy '\(name)' not found (looked in: \(dirs)); use --policy default|strict|FILE"
        case .unreadable(let path, let code):
            return "\(path): cannot read policy: \(Self.reason(errno: code))"
        case .invalidJSON(let path, let detail):
            return "\(path): invalid JSON: \(detail)"
        case .unknownKey(let path, let key):
            return "\(path): unknown key '\(key)'"
        case .missingKey(let path, let key):
            return "\(path): missing required key '\(key)'"
        case .wrongType(let path, let key, let expected):
            if key.isEmpty { return "\(path): the document must be \(expected)" }
            return "\(path): key '\(key)' must be \(expected)"
        case .invalidValue(let path, let key, let reason):
            return "\(path): invalid value for '\(key)': \(reason)"
        case .unsupportedSchemaVersion(let path, let version):
            return "\(path): unsupported schemaVersion \(version) (this envyro understands \(Policy.currentSchemaVersion))"
        case .invalidName(let name):
            return "invalid policy name '\(name)': use 1-64 characters from a-z, 0-9, '_' and '-', or a path to a .json file"
        }
    }

    private static func reason(errno code: Int32) -> String {
        switch code {
        case EFBIG: return "file is larger than 1 MiB"
        case EINVAL: return "not a regular file"
        default:
            guard let text = strerror(code) else { return "errno \(code)" }
            return "\(String(cString: text)) (errno \(code))"
        }
    }
}
