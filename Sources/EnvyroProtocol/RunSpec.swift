import EnvyroJSON

/// One `envyro run`: what the user asked for, before any policy is applied. The client
/// protocol's `run` body (the RunSpec JSON object) is this value written through ``RunField``'s
/// table; the CLI's two parsers (the fast path's ``parse(_:)`` and ArgumentParser's `Run`) both
/// produce it, and the supervisor plans from it.
///
/// `argv` and `env` are the run's secrets: ``SecretStrings``, references to zeroed memory. In a
/// supervisor they are the pooled context's own lists (the daemon parses the client's JSON
/// straight into them, ``init(json:argv:env:)``); copies of a `RunSpec` share them.
public struct RunSpec: Sendable, Equatable {
    /// The command and its arguments.
    public var argv: SecretStrings
    /// `--env K=V` entries, in order (later ones win).
    public var env = SecretStrings()
    /// `--cwd`.
    public var cwd = "/"
    /// `--hostname`.
    public var hostname = "envyro"
    /// `--rootfs DIR`, or nil for the built-in default.
    public var rootfs: String? = nil
    /// `--rootfs-rw`.
    public var rootfsWritable = false
    /// `--network`, or nil for the policy's default.
    public var network: String? = nil
    /// `--timeout SECONDS`.
    public var timeoutSeconds: Double? = nil
    /// `--init`: a tiny pid 1 that forwards signals and reaps.
    public var useInit = false
    /// `--userns`: nil (the single-id map) or `auto`.
    public var userns: String? = nil
    /// `--uidmap C:H:N` values.
    public var uidMaps: [String] = []
    /// `--gidmap C:H:N` values.
    public var gidMaps: [String] = []
    /// `--executor`: how argv becomes the exec plan (`native`, `shell`, or a registered plugin).
    public var executor = "native"
    /// `--seccomp FILE`: an extra OCI/moby profile stacked on the policy's (it can only restrict).
    public var seccompProfile: String? = nil
    /// `--memory SIZE`.
    public var memory: String? = nil
    /// `--memory-swap SIZE` (memory plus swap; -1 for unlimited swap).
    public var memorySwap: String? = nil
    /// `--pids-limit N`.
    public var pidsLimit: Int64? = nil
    /// `--cpus N` (may be fractional).
    public var cpus: String? = nil
    /// `--cpu-shares N` (v1 scale, 2...262144).
    public var cpuShares: Int64? = nil
    /// `--cpuset-cpus LIST`.
    public var cpusetCpus: String? = nil
    /// `--blkio-weight N` (10...1000).
    public var blkioWeight: Int64? = nil
    /// `--profile minimal|standard|performance`.
    public var profile: String? = nil
    /// `--log-dir DIR`: stdout and stderr go to DIR/stdout.log and DIR/stderr.log (through the
    /// I/O worker), not to the client's own stdout and stderr.
    public var logDir: String? = nil
    /// `--log-limit SIZE`: at most this many bytes per stream; then a truncation marker.
    public var logLimit: String? = nil
    /// `--log-tee`: also copy the output to the client's own stdout and stderr.
    public var logTee = false
    /// `--policy`: a name or a path (a daemon checks it is the one it runs).
    public var policy: String? = nil
    /// `--supervisor` (client only): auto, never, or a socket path.
    public var supervisor = "auto"
    /// `--json` (client only).
    public var json = false
    /// `--timings` (client only).
    public var timings = false
    /// `--stats` (client only).
    public var stats = false

    /// A run of `argv` with every flag at its default.
    public init(argv: [String] = []) { self.argv = SecretStrings(argv) }

    /// Sets `field` from a value of its slot's Swift type (`String`, `String?`, `[String]`,
    /// `Bool`, `Int64?`, `Double?`); returns false when `value` has another type.
    public mutating func set(_ field: RunField, to value: Any) -> Bool {
        switch field.slot {
        case .text(let k): guard let v = value as? String else { return false }; self[keyPath: k] = v
        case .optional(let k): guard let v = value as? String? else { return false }; self[keyPath: k] = v
        case .list(let k): guard let v = value as? [String] else { return false }; self[keyPath: k] = v
        case .secrets(let k): guard let v = value as? [String] else { return false }; self[keyPath: k] = SecretStrings(v)
        case .bool(let k): guard let v = value as? Bool else { return false }; self[keyPath: k] = v
        case .int(let k): guard let v = value as? Int64? else { return false }; self[keyPath: k] = v
        case .seconds(let k): guard let v = value as? Double? else { return false }; self[keyPath: k] = v
        }
        return true
    }

    /// This spec with every `.path` field made absolute by `absolute` (the client's working
    /// directory is not the supervisor's).
    public func resolvingPaths(_ absolute: (String) -> String) -> RunSpec {
        var s = self
        for f in RunField.all where f.kind == .path {
            if case .optional(let k) = f.slot, let p = s[keyPath: k] { s[keyPath: k] = absolute(p) }
        }
        return s
    }

    // MARK: the command line (the fast path)

    /// The fast path's parser for `envyro run ARGS`: the forms ArgumentParser accepts (`--flag
    /// value`, `--flag=value`, switches; options end at `--` or at the command). Returns nil for
    /// anything else (help, a malformed number, an unknown flag, no command), which the full
    /// parser then handles, errors included.
    public static func parse(_ args: ArraySlice<String>) -> RunSpec? {
        var s = RunSpec()
        var rest = args
        while let arg = rest.first, arg.hasPrefix("--") {
            rest.removeFirst()
            if arg == "--" { break }
            var name = Substring(arg.dropFirst(2))
            var inline: String? = nil
            if let eq = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: eq)...])
                name = name[..<eq]
            }
            guard let field = RunField.named(String(name)) else { return nil }
            if case .bool(let k) = field.slot {
                guard inline == nil else { return nil }
                s[keyPath: k] = true
                continue
            }
            guard let value = inline ?? rest.popFirst() else { return nil }
            switch field.slot {
            case .text(let k): s[keyPath: k] = value
            case .optional(let k): s[keyPath: k] = value
            case .list(let k): s[keyPath: k].append(value)
            case .secrets(let k): s[keyPath: k].append(value)
            case .int(let k): guard let v = Int64(value) else { return nil }; s[keyPath: k] = v
            case .seconds(let k): guard let v = Double(value) else { return nil }; s[keyPath: k] = v
            case .bool: return nil
            }
        }
        guard let first = rest.first, !first.hasPrefix("-") else { return nil }
        s.argv = SecretStrings(Array(rest))
        return s
    }

    // MARK: the RunSpec JSON object

    /// The client protocol's `run` body: `argv` and every field with a JSON key (unset ones as
    /// null).
    public func jsonObject() -> JSONObject {
        var o = JSONObject()
        o.set("argv", .array(argv.strings.map { .string($0) }))
        for f in RunField.all {
            guard let key = f.key else { continue }
            switch f.slot {
            case .text(let k): o.set(key, .string(self[keyPath: k]))
            case .optional(let k): o.set(key, self[keyPath: k].map { .string($0) } ?? .null)
            case .list(let k): o.set(key, .array(self[keyPath: k].map { .string($0) }))
            case .secrets(let k): o.set(key, .array(self[keyPath: k].strings.map { .string($0) }))
            case .bool(let k): o.set(key, .bool(self[keyPath: k]))
            case .int(let k): o.set(key, self[keyPath: k].map { .int($0) } ?? .null)
            case .seconds(let k): o.set(key, self[keyPath: k].map { .double($0) } ?? .null)
            }
        }
        return o
    }

    /// The members of the RunSpec object the parser captures (``JSONParser/parse(_:capturing:maxDepth:)``)
    /// into `argv` and `env`: a supervisor's run never has them as `String`s.
    public static func capturing(argv: SecretStrings, env: SecretStrings) -> [String: any JSONStringSink] {
        ["argv": argv, "env": env]
    }

    /// Reads a RunSpec object; unknown keys are an error, as in policy files; a missing or null
    /// key keeps the field's default. The error is the message to show.
    /// `argv` and `env`: what the parser captured (``capturing(argv:env:)``); the object has
    /// those members only when they were not arrays of strings (then they are refused here).
    public init(json o: JSONObject, argv capturedArgv: SecretStrings? = nil, env capturedEnv: SecretStrings? = nil) throws(RunSpecError) {
        self.init()
        if let capturedArgv { argv = capturedArgv }
        if let capturedEnv { env = capturedEnv }
        let fields = RunField.all.filter { $0.key != nil }
        for k in o.keys where k != "argv" && !fields.contains(where: { $0.key == k }) {
            throw RunSpecError("run spec: unknown key '\(k)'")
        }
        if let list = try Self.strings(o, "argv") { argv = SecretStrings(list) }
        for f in fields {
            guard let key = f.key, let v = o[key], !v.isNull else { continue }
            switch f.slot {
            case .text(let k):
                guard let s = v.stringValue else { throw RunSpecError("run spec: '\(key)' must be a string") }
                self[keyPath: k] = s
            case .optional(let k):
                guard let s = v.stringValue else { throw RunSpecError("run spec: '\(key)' must be a string") }
                self[keyPath: k] = s
            case .list(let k):
                self[keyPath: k] = try Self.strings(o, key) ?? []
            case .secrets(let k):
                self[keyPath: k] = SecretStrings(try Self.strings(o, key) ?? [])
            case .bool(let k):
                guard let b = v.boolValue else { throw RunSpecError("run spec: '\(key)' must be true or false") }
                self[keyPath: k] = b
            case .int(let k):
                guard let i = v.intValue else { throw RunSpecError("run spec: '\(key)' must be an integer") }
                self[keyPath: k] = i
            case .seconds(let k):
                guard let d = v.doubleValue else { throw RunSpecError("run spec: '\(key)' must be a number of seconds") }
                self[keyPath: k] = d
            }
        }
    }

    private static func strings(_ o: JSONObject, _ key: String) throws(RunSpecError) -> [String]? {
        guard let v = o[key], !v.isNull else { return nil }
        let message = RunSpecError("run spec: '\(key)' must be an array of strings")
        guard let a = v.arrayValue else { throw message }
        var out: [String] = []
        for e in a {
            guard let s = e.stringValue else { throw message }
            out.append(s)
        }
        return out
    }
}

/// A RunSpec object that can't be read; `message` says which key and why.
public struct RunSpecError: Error, Sendable, CustomStringConvertible {
    /// What to show.
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
