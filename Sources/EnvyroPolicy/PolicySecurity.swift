import EnvyroJSON
import EnvyroSystem

/// Cgroup limits a policy imposes: defaults applied when a request sets none, maxima no
/// request may exceed, and limits a request must end up with (`strict` makes memory and pids
/// mandatory). The `"limits"` section; absent means no defaults, no maxima, nothing required.
public struct LimitRules: Sendable, Equatable {
    /// Limits every container must have (after defaults are applied).
    public var required: Set<LimitKind>
    /// Memory limit in bytes when the request sets none.
    public var defaultMemoryBytes: Int64?
    /// Pids limit when the request sets none.
    public var defaultPids: Int64?
    /// CPU limit in CPUs when the request sets none.
    public var defaultCPUs: Double?
    /// The largest memory limit a request may ask for.
    public var maxMemoryBytes: Int64?
    /// The largest pids limit.
    public var maxPids: Int64?
    /// The largest CPU limit, in CPUs.
    public var maxCPUs: Double?
    /// What a run with limits gets where no cgroup can be had (an ordinary user without a
    /// delegated subtree): refused (the default), or the limits rlimits can carry.
    public var withoutCgroup: LimitFallback = .refuse

    /// No limits.
    public init(required: Set<LimitKind> = [], defaultMemoryBytes: Int64? = nil, defaultPids: Int64? = nil,
                defaultCPUs: Double? = nil, maxMemoryBytes: Int64? = nil, maxPids: Int64? = nil, maxCPUs: Double? = nil) {
        self.required = required
        self.defaultMemoryBytes = defaultMemoryBytes
        self.defaultPids = defaultPids
        self.defaultCPUs = defaultCPUs
        self.maxMemoryBytes = maxMemoryBytes
        self.maxPids = maxPids
        self.maxCPUs = maxCPUs
    }
}

/// `limits.withoutCgroup`: where a user has no delegated cgroup subtree.
public enum LimitFallback: String, CaseIterable, Sendable, Hashable {
    /// The run is refused, naming `envyro setup --user` (every limit is a cgroup's).
    case refuse
    /// The run goes ahead with what rlimits can carry: pids as RLIMIT_NPROC in the container's
    /// own user namespace (its tasks, like pids.max), memory as RLIMIT_DATA per process (not the
    /// container's total); CPU, cpuset and I/O weight are not enforced. The run says so.
    case rlimits
}

/// Limits a policy can require.
public enum LimitKind: String, CaseIterable, Sendable, Hashable {
    /// A memory limit.
    case memory
    /// A pids limit.
    case pids
    /// A CPU quota.
    case cpu
}

/// Capabilities a container may keep (the `"capabilities"` section; absent means none).
public struct CapabilityRules: Sendable, Equatable {
    /// Capability names (`CAP_CHOWN`, ...) the container keeps in its bounding, effective and
    /// permitted sets; every other capability is dropped before execve.
    public var keep: [String]
    /// Whether kept capabilities also go into the inheritable and ambient sets.
    public var ambient: Bool

    /// Keeps `keep`.
    public init(keep: [String] = [], ambient: Bool = false) {
        self.keep = keep
        self.ambient = ambient
    }

    /// `keep` as a set.
    public var keepSet: CapabilitySet { CapabilitySet(names: keep) }
}

/// The policy's seccomp profile (the `"seccomp"` section; absent means no filter).
public struct SeccompRules: Sendable, Equatable {
    /// Absolute path of an OCI/moby JSON profile (a relative path in the file is resolved
    /// against the policy file's directory).
    public var profile: String?

    /// Uses `profile`.
    public init(profile: String?) { self.profile = profile }
}

/// Paths hidden or made read-only inside every container (the `"mounts"` section).
public struct MountRules: Sendable, Equatable {
    /// Paths covered (directories by an empty read-only tmpfs, files by /dev/null).
    public var maskedPaths: [String]
    /// Paths remounted read-only.
    public var readonlyPaths: [String]

    /// The OCI defaults podman and docker use.
    public static let standard = MountRules(
        maskedPaths: ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                      "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"],
        readonlyPaths: ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"])

    /// Masks and read-only paths.
    public init(maskedPaths: [String], readonlyPaths: [String]) {
        self.maskedPaths = maskedPaths
        self.readonlyPaths = readonlyPaths
    }
}

/// Which id maps a request may ask for (the `"idmap"` section; absent means single-id only).
public struct IDMapRules: Sendable, Equatable {
    /// Multi-range maps from the caller's /etc/subuid and /etc/subgid ranges.
    public var allowSubordinate: Bool
    /// The most extents (lines) a uid_map or gid_map may have.
    public var maxExtents: Int

    /// Id-map rules.
    public init(allowSubordinate: Bool = false, maxExtents: Int = 5) {
        self.allowSubordinate = allowSubordinate
        self.maxExtents = maxExtents
    }
}

extension PolicySchema {
    static func limits(_ top: SectionReader) throws(PolicyError) -> LimitRules {
        guard top.has("limits") else { return LimitRules() }
        let s = try top.section("limits")
        try s.allowOnly(["required", "defaults", "maxima", "withoutCgroup"])
        var rules = LimitRules()
        if s.has("withoutCgroup") {
            let text = try s.string("withoutCgroup")
            guard let f = LimitFallback(rawValue: text) else {
                throw s.invalid("withoutCgroup", "'\(text)' is not one of: \(LimitFallback.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            rules.withoutCgroup = f
        }
        if s.has("required") { rules.required = try s.enumSet("required", of: LimitKind.self, allowEmpty: true).set }
        func block(_ key: String) throws(PolicyError) -> (Int64?, Int64?, Double?) {
            guard s.has(key) else { return (nil, nil, nil) }
            let b = try s.section(key)
            try b.allowOnly(["memoryBytes", "pids", "cpus"])
            let mem = b.has("memoryBytes") ? Int64(try b.int("memoryBytes", in: (1 << 20)...Int.max)) : nil
            let pids = b.has("pids") ? Int64(try b.int("pids", in: 1...4_194_304)) : nil
            let cpus = b.has("cpus") ? try b.double("cpus", in: 0.01...1024) : nil
            return (mem, pids, cpus)
        }
        (rules.defaultMemoryBytes, rules.defaultPids, rules.defaultCPUs) = try block("defaults")
        (rules.maxMemoryBytes, rules.maxPids, rules.maxCPUs) = try block("maxima")
        if let d = rules.defaultMemoryBytes, let m = rules.maxMemoryBytes, d > m {
            throw s.invalid("defaults.memoryBytes", "\(d) is above maxima.memoryBytes (\(m))")
        }
        if let d = rules.defaultPids, let m = rules.maxPids, d > m {
            throw s.invalid("defaults.pids", "\(d) is above maxima.pids (\(m))")
        }
        if let d = rules.defaultCPUs, let m = rules.maxCPUs, d > m {
            throw s.invalid("defaults.cpus", "\(d) is above maxima.cpus (\(m))")
        }
        for kind in rules.required {
            let covered = switch kind {
            case .memory: rules.defaultMemoryBytes != nil
            case .pids: rules.defaultPids != nil
            case .cpu: rules.defaultCPUs != nil
            }
            if !covered { throw s.invalid("required", "'\(kind.rawValue)' is required but has no default in limits.defaults") }
        }
        return rules
    }

    static func capabilities(_ top: SectionReader) throws(PolicyError) -> CapabilityRules {
        guard top.has("capabilities") else { return CapabilityRules() }
        let s = try top.section("capabilities")
        try s.allowOnly(["keep", "ambient"])
        let keep = try s.strings("keep")
        var seen = Set<String>()
        for (i, name) in keep.enumerated() {
            guard CapabilitySet.number(of: name) != nil else {
                throw s.invalid("keep[\(i)]", "'\(name)' is not a capability name (like CAP_CHOWN)")
            }
            guard seen.insert(name).inserted else { throw s.invalid("keep[\(i)]", "'\(name)' is listed twice") }
        }
        return CapabilityRules(keep: keep, ambient: s.has("ambient") ? try s.bool("ambient") : false)
    }

    static func seccomp(_ top: SectionReader, policyPath: String) throws(PolicyError) -> SeccompRules {
        guard top.has("seccomp") else { return SeccompRules(profile: nil) }
        let s = try top.section("seccomp")
        try s.allowOnly(["profile"])
        let raw = try s.string("profile")
        if raw == "none" { return SeccompRules(profile: nil) }
        guard !raw.isEmpty, !raw.utf8.contains(0), !raw.split(separator: "/").contains("..") else {
            throw s.invalid("profile", "must be \"none\" or a path without '..'")
        }
        if raw.hasPrefix("/") { return SeccompRules(profile: raw) }
        let dir: String
        if let slash = policyPath.lastIndex(of: "/") { dir = String(policyPath[..<slash]) } else { dir = "." }
        return SeccompRules(profile: dir + "/" + raw)
    }

    static func mounts(_ top: SectionReader) throws(PolicyError) -> MountRules {
        guard top.has("mounts") else { return .standard }
        let s = try top.section("mounts")
        try s.allowOnly(["maskedPaths", "readonlyPaths"])
        func paths(_ key: String) throws(PolicyError) -> [String] {
            let list = try s.strings(key)
            for (i, p) in list.enumerated() {
                guard p.hasPrefix("/"), !p.split(separator: "/").contains(".."), !p.utf8.contains(0), p.utf8.count < 1024 else {
                    throw s.invalid("\(key)[\(i)]", "'\(p)' must be an absolute path without '..'")
                }
            }
            return list
        }
        return MountRules(maskedPaths: try paths("maskedPaths"), readonlyPaths: try paths("readonlyPaths"))
    }

    static func idmap(_ top: SectionReader) throws(PolicyError) -> IDMapRules {
        guard top.has("idmap") else { return IDMapRules() }
        let s = try top.section("idmap")
        try s.allowOnly(["allowSubordinate", "maxExtents"])
        return IDMapRules(allowSubordinate: try s.bool("allowSubordinate"),
                          maxExtents: try s.int("maxExtents", in: 1...340, default: 5))
    }
}

/// Warm pools a supervisor and its helpers keep (the `"pools"` section).
public struct PoolRules: Sendable, Equatable {
    /// Idle helpers `envyro-supervisor` keeps started and greeted.
    public var helpers: Int
    /// Prewarmed containers a daemon helper keeps per request shape.
    public var prewarmedPerShape: Int
    /// Prewarmed containers a daemon helper keeps in all (0: none).
    public var prewarmedTotal: Int
    /// Idle network namespaces a daemon helper keeps for reuse, per kind (0: each container
    /// makes its own). Only a helper running as root can keep them.
    public var networkNamespaces: Int
    /// Reaped containers' cgroups a daemon helper keeps for the next run with the same limits,
    /// reset rather than removed and made again (0: each run gets a new one).
    public var cgroups: Int
    /// `envyro run` with no supervisor listening starts one for this policy, which exits after
    /// this many seconds without a client (0: never start one).
    public var autoSupervisorIdleSeconds: Int
    /// A supervisor daemon whose resident memory is over this refuses new runs, with the
    /// figures, until it is back under (runs in flight go on).
    public var supervisorMemoryBytes: Int64

    /// Pool sizes.
    public init(helpers: Int = 2, prewarmedPerShape: Int = 1, prewarmedTotal: Int = 4, networkNamespaces: Int = 4,
                cgroups: Int = 4, autoSupervisorIdleSeconds: Int = 60, supervisorMemoryBytes: Int64 = 512 << 20) {
        self.cgroups = cgroups
        self.supervisorMemoryBytes = supervisorMemoryBytes
        self.helpers = helpers
        self.prewarmedPerShape = prewarmedPerShape
        self.prewarmedTotal = prewarmedTotal
        self.networkNamespaces = networkNamespaces
        self.autoSupervisorIdleSeconds = autoSupervisorIdleSeconds
    }
}

extension PolicySchema {
    static func pools(_ top: SectionReader) throws(PolicyError) -> PoolRules {
        guard top.has("pools") else { return PoolRules() }
        let s = try top.section("pools")
        try s.allowOnly(["helpers", "prewarmedPerShape", "prewarmedTotal", "networkNamespaces", "cgroups", "autoSupervisorIdleSeconds",
                         "supervisorMemoryBytes"])
        return PoolRules(helpers: try s.int("helpers", in: 0...64, default: 2),
                         prewarmedPerShape: try s.int("prewarmedPerShape", in: 0...16, default: 1),
                         prewarmedTotal: try s.int("prewarmedTotal", in: 0...64, default: 4),
                         networkNamespaces: try s.int("networkNamespaces", in: 0...64, default: 4),
                         cgroups: try s.int("cgroups", in: 0...64, default: 4),
                         autoSupervisorIdleSeconds: try s.int("autoSupervisorIdleSeconds", in: 0...86_400, default: 60),
                         supervisorMemoryBytes: Int64(try s.int("supervisorMemoryBytes", in: (1 << 20)...(1 << 40), default: 512 << 20)))
    }
}

/// Executor plugins (the `"executors"` section): a directory of descriptor files (relative to
/// the policy file) whose executors the supervisor registers, and the executor types a run may
/// use. Without the section: no plugins, and every registered type is allowed.
public struct ExecutorRules: Sendable, Equatable {
    /// The descriptor directory (absolute), or nil for none.
    public var directory: String?
    /// The executor types a run may use (`--executor`), or nil for all registered ones.
    public var allowed: [String]?

    /// Rules.
    public init(directory: String? = nil, allowed: [String]? = nil) {
        self.directory = directory
        self.allowed = allowed
    }

    /// Whether a run may use executor `type`.
    public func allows(_ type: String) -> Bool { allowed?.contains(type) ?? true }
}

extension PolicySchema {
    static func executors(_ top: SectionReader, policyPath: String) throws(PolicyError) -> ExecutorRules {
        guard top.has("executors") else { return ExecutorRules() }
        let s = try top.section("executors")
        try s.allowOnly(["directory", "allowed"])
        var directory: String? = nil
        if let raw = try s.optionalString("directory") {
            guard !raw.isEmpty, !raw.utf8.contains(0), !raw.split(separator: "/").contains("..") else {
                throw s.invalid("directory", "must be a path without '..'")
            }
            if raw.hasPrefix("/") { directory = raw } else {
                let dir = policyPath.lastIndex(of: "/").map { String(policyPath[..<$0]) } ?? "."
                directory = dir + "/" + raw
            }
        }
        var allowed: [String]? = nil
        if s.has("allowed") {
            let list = try s.strings("allowed")
            for (i, name) in list.enumerated() where !PolicyLoader.isValidName(name) {
                throw s.invalid("allowed[\(i)]", "'\(name)' is not an executor type (a-z, 0-9, '_' and '-')")
            }
            allowed = list
        }
        return ExecutorRules(directory: directory, allowed: allowed)
    }
}
