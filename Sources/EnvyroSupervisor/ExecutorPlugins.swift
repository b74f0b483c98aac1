import EnvyroEngine
import EnvyroJSON
import EnvyroPolicy
import EnvyroSystem
import Glibc

/// Executor plugins: descriptor files in the directory a policy names (`executors.directory`),
/// each describing one `DescriptorExecutor`. Read strictly, as policies are: an unknown key, a
/// wrong type or a bad value is an error naming the file and the key.
///
/// ```json
/// { "schemaVersion": 1, "type": "python",
///   "summary": "runs a Python script: --executor python -- 'SCRIPT' [ARGS...]",
///   "runtimes": [{"path": "/usr/bin/python3", "arguments": ["-I", "-c"]}],
///   "minimumArguments": 1 }
/// ```
public enum ExecutorPlugins {
    /// Why a descriptor can't be used.
    public struct DescriptorError: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let key: String
        public let reason: String
        public var description: String { "\(path): \(key.isEmpty ? "" : "\(key): ")\(reason)" }
    }

    /// Every `*.json` descriptor in `directory`, sorted by file name; a missing directory has none.
    public static func load(directory: String) throws(DescriptorError) -> [DescriptorExecutor] {
        let names: [String]
        do { names = try Files.listDirectory(directory) } catch {
            if error.errno == ENOENT { return [] }
            throw DescriptorError(path: directory, key: "", reason: "can't list the executor directory: \(Errno.describe(error.errno))")
        }
        var out: [DescriptorExecutor] = []
        for name in names.sorted() where name.hasSuffix(".json") {
            out.append(try parse(path: directory + "/" + name))
        }
        return out
    }

    /// Reads one descriptor.
    public static func parse(path: String) throws(DescriptorError) -> DescriptorExecutor {
        let bytes: [UInt8]
        do { bytes = try Files.read(path, limit: 64 << 10) } catch {
            throw DescriptorError(path: path, key: "", reason: "can't read it: \(Errno.describe(error.errno))")
        }
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch {
            throw DescriptorError(path: path, key: "", reason: "invalid JSON: \(error)")
        }
        return try parse(value, path: path)
    }

    /// Validates a parsed descriptor.
    public static func parse(_ value: JSONValue, path: String) throws(DescriptorError) -> DescriptorExecutor {
        func fail(_ key: String, _ reason: String) -> DescriptorError { DescriptorError(path: path, key: key, reason: reason) }
        guard let object = value.objectValue else { throw fail("", "must be a JSON object") }
        let known: Set<String> = ["schemaVersion", "type", "summary", "runtimes", "minimumArguments", "requiredSuffix"]
        for key in object.keys where !known.contains(key) { throw fail(key, "unknown key") }
        guard object["schemaVersion"]?.intValue == 1 else { throw fail("schemaVersion", "must be 1") }
        guard let type = object["type"]?.stringValue, PolicyLoader.isValidName(type) else {
            throw fail("type", "must be 1-64 characters from a-z, 0-9, '_' and '-'")
        }
        if type == "native" || type == "shell" { throw fail("type", "'\(type)' is built in; a plugin can't replace it") }
        guard let summary = object["summary"]?.stringValue, !summary.isEmpty, summary.utf8.count <= 200 else {
            throw fail("summary", "must be a string of 1-200 bytes")
        }
        guard let list = object["runtimes"]?.arrayValue, !list.isEmpty, list.count <= 16 else {
            throw fail("runtimes", "must be a list of 1-16 runtimes")
        }
        var runtimes: [DescriptorExecutor.Runtime] = []
        for (i, entry) in list.enumerated() {
            guard let r = entry.objectValue else { throw fail("runtimes[\(i)]", "must be an object with path and arguments") }
            for key in r.keys where key != "path" && key != "arguments" { throw fail("runtimes[\(i)].\(key)", "unknown key") }
            guard let p = r["path"]?.stringValue, p.hasPrefix("/"), !p.split(separator: "/").contains(".."), !p.utf8.contains(0) else {
                throw fail("runtimes[\(i)].path", "must be an absolute path inside the container, without '..'")
            }
            var args: [String] = []
            if let raw = r["arguments"] {
                guard let a = raw.arrayValue, a.count <= 32 else { throw fail("runtimes[\(i)].arguments", "must be a list of at most 32 strings") }
                for (j, x) in a.enumerated() {
                    guard let s = x.stringValue, !s.utf8.contains(0) else { throw fail("runtimes[\(i)].arguments[\(j)]", "must be a string without NUL") }
                    args.append(s)
                }
            }
            runtimes.append(.init(path: p, arguments: args))
        }
        var minimum = 1
        if let m = object["minimumArguments"] {
            guard let n = m.intValue, (0...64).contains(n) else { throw fail("minimumArguments", "must be an integer from 0 to 64") }
            minimum = Int(n)
        }
        var suffix: String? = nil
        if let x = object["requiredSuffix"] {
            guard let s = x.stringValue, !s.isEmpty, s.utf8.count <= 32 else { throw fail("requiredSuffix", "must be a string of 1-32 bytes") }
            suffix = s
        }
        return DescriptorExecutor(type: type, summary: summary, runtimes: runtimes, minimumArguments: minimum,
                                  requiredSuffix: suffix, source: path)
    }

    /// Registers the plugins of `policy` in `registry` (replacing an earlier load's).
    public static func register(_ policy: Policy, in registry: ConcurrentExecutorRegistry) throws(DescriptorError) {
        guard let directory = policy.executors.directory else { return }
        for plugin in try load(directory: directory) {
            do { try registry.register(plugin, replacing: true) } catch {
                throw DescriptorError(path: plugin.source, key: "type", reason: "\(error)")
            }
        }
    }
}
