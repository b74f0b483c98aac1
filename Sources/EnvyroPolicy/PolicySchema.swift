import EnvyroJSON

/// The schema of a policy file, one function per section. To add a section, add its key
/// to `topLevelKeys` and a function that calls `allowOnly` with its own keys.
enum PolicySchema {
    static let topLevelKeys: Set<String> = [
        "schemaVersion", "name", "description",
        "namespaces", "network", "rootfs", "process", "audit", "helper",
        "limits", "capabilities", "seccomp", "mounts", "idmap", "pools", "executors", "hostRoot",
    ]

    /// Every policy requires these. A user namespace is required by the shipped `default` and
    /// `strict` policies; the `oci` policy leaves it to the bundle, so root gets runc's
    /// behaviour (an ordinary user can't create the others without one anyway: the helper
    /// refuses it by name, and so would the kernel).
    static let requiredNamespaces: [NamespaceKind] = [.pid, .mount]

    static func policy(_ root: JSONValue, path: String) throws(PolicyError) -> Policy {
        guard let object = root.objectValue else {
            throw .wrongType(path: path, key: "", expected: "a JSON object")
        }
        let top = SectionReader(file: path, prefix: "", object: object)
        // The version comes first: a newer file should say so, not fail on new keys.
        let version = try top.int("schemaVersion", in: Int.min...Int.max)
        guard version == Policy.currentSchemaVersion else {
            throw .unsupportedSchemaVersion(path: path, version: version)
        }
        try top.allowOnly(topLevelKeys)
        let name = try top.string("name")
        guard PolicyLoader.isValidName(name) else {
            throw top.invalid("name", "'\(name)' must be 1-64 characters from a-z, 0-9, '_' and '-'")
        }
        let summary = try top.optionalString("description")
        let namespaces = try self.namespaces(top)
        return Policy(
            name: name,
            sourcePath: path,
            schemaVersion: version,
            summary: summary,
            namespaces: namespaces,
            network: try network(top.section("network"), namespaces: namespaces),
            rootfs: try rootfs(top.section("rootfs")),
            process: try process(top.section("process")),
            audit: try audit(top.section("audit")),
            helper: try helper(top.section("helper")),
            limits: try limits(top),
            capabilities: try capabilities(top),
            seccomp: try seccomp(top, policyPath: path),
            mounts: try mounts(top),
            idmap: try idmap(top),
            pools: try pools(top),
            executors: try executors(top, policyPath: path),
            hostRootTrusted: try hostRoot(top)
        )
    }

    /// `"hostRoot": {"trusted": true}`: the host's root gets runc's behaviour for OCI bundles
    /// (Policy.hostRootTrusted). Absent: false.
    static func hostRoot(_ top: SectionReader) throws(PolicyError) -> Bool {
        guard top.has("hostRoot") else { return false }
        let s = try top.section("hostRoot")
        try s.allowOnly(["trusted"])
        return try s.bool("trusted")
    }

    static func namespaces(_ top: SectionReader) throws(PolicyError) -> Set<NamespaceKind> {
        let set = try top.enumSet("namespaces", of: NamespaceKind.self, allowEmpty: false).set
        for required in requiredNamespaces where !set.contains(required) {
            throw top.invalid("namespaces", "must include '\(required.rawValue)'")
        }
        return set
    }

    static func network(_ s: SectionReader, namespaces: Set<NamespaceKind>) throws(PolicyError) -> NetworkRules {
        try s.allowOnly(["allowed", "default"])
        let allowed = try s.enumSet("allowed", of: NetworkMode.self, allowEmpty: false).set
        guard let mode = NetworkMode(rawValue: try s.string("default")) else {
            let choices = NetworkMode.allCases.map(\.rawValue).joined(separator: ", ")
            throw s.invalid("default", "must be one of: \(choices)")
        }
        guard allowed.contains(mode) else {
            throw s.invalid("default", "'\(mode.rawValue)' is not in network.allowed")
        }
        if !namespaces.contains(.network) && allowed != [.host] {
            throw s.invalid("allowed", "must be [\"host\"] when 'network' is not in namespaces")
        }
        return NetworkRules(allowed: allowed, default: mode)
    }

    static func rootfs(_ s: SectionReader) throws(PolicyError) -> RootfsRules {
        try s.allowOnly(["allowWritable"])
        return RootfsRules(allowWritable: try s.bool("allowWritable"))
    }

    static func process(_ s: SectionReader) throws(PolicyError) -> ProcessRules {
        try s.allowOnly(["noNewPrivileges", "env", "allowInit", "maxArgs", "maxEnv"])
        let noNewPrivileges = try s.bool("noNewPrivileges")
        let env = try s.strings("env")
        var names = Set<Substring>()
        for (i, entry) in env.enumerated() {
            let key = "env[\(i)]"
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else {
                throw s.invalid(key, "'\(entry)' is not NAME=value")
            }
            guard !entry.utf8.contains(0) else { throw s.invalid(key, "contains a NUL byte") }
            let name = entry[..<eq]
            guard names.insert(name).inserted else { throw s.invalid(key, "'\(name)' is set twice") }
        }
        let allowInit = try s.bool("allowInit")
        let maxArgs = try s.int("maxArgs", in: 1...ProcessRules.countLimit, default: ProcessRules.defaultMaxArgs)
        let maxEnv = try s.int("maxEnv", in: 0...ProcessRules.countLimit, default: ProcessRules.defaultMaxEnv)
        guard env.count <= maxEnv else {
            throw s.invalid("env", "has \(env.count) entries, more than maxEnv (\(maxEnv))")
        }
        return ProcessRules(
            noNewPrivileges: noNewPrivileges, env: env, allowInit: allowInit,
            maxArgs: maxArgs, maxEnv: maxEnv
        )
    }

    static func audit(_ s: SectionReader) throws(PolicyError) -> AuditRules {
        try s.allowOnly(["path", "failClosed", "fsync", "maxBytes", "keep"])
        let raw = try s.string("path")
        var path: String?
        if raw != "auto" {
            guard raw.hasPrefix("/") else { throw s.invalid("path", "must be \"auto\" or an absolute path") }
            guard !raw.utf8.contains(0) else { throw s.invalid("path", "contains a NUL byte") }
            guard !raw.hasSuffix("/") else { throw s.invalid("path", "must name a file, not a directory") }
            path = raw
        }
        let failClosed = try s.bool("failClosed")
        return AuditRules(
            path: path, failClosed: failClosed,
            fsync: s.has("fsync") ? try s.bool("fsync") : nil,
            maxBytes: try s.int("maxBytes", in: 4096...(1 << 40), default: 16 << 20),
            keep: try s.int("keep", in: 1...1000, default: 5))
    }

    static func helper(_ s: SectionReader) throws(PolicyError) -> HelperRules {
        try s.allowOnly(["maxFrameBytes", "verbs"])
        let frame = try s.int("maxFrameBytes", in: HelperRules.frameBytesRange)
        let verbs = try s.enumSet("verbs", of: HelperVerb.self, allowEmpty: false).set
        return HelperRules(maxFrameBytes: frame, verbs: verbs)
    }
}
