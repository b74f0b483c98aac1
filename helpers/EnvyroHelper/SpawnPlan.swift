// The first step of a create, pure: what a container's first process gets, decided from the
// request, the helper's policy and (for an OCI bundle) the bundle, before anything is done.
// No syscall happens here and nothing is allocated for the child, so the rules (which clone
// flags, which capabilities, which seccomp programs on top of the policy's, which paths, which
// cgroup, whether a pooled network namespace may serve) are unit-tested as a table
// (Tests/EnvyroHelperTests/SpawnPlanTests.swift). ContainerConfigBuilder lowers a plan into C;
// Spawn.swift carries it out.
import CEnvyro
import EnvyroCgroup
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// Host directories the built-in default rootfs binds read-only (missing ones are skipped).
let defaultHostBinds = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"]

extension NamespaceSet {
    /// The CLONE_NEW* flags of these namespaces.
    var cloneFlags: UInt64 {
        var f: UInt64 = 0
        if contains(.user) { f |= ENVYRO_CLONE_NEWUSER }
        if contains(.pid) { f |= ENVYRO_CLONE_NEWPID }
        if contains(.mount) { f |= ENVYRO_CLONE_NEWNS }
        if contains(.uts) { f |= ENVYRO_CLONE_NEWUTS }
        if contains(.ipc) { f |= ENVYRO_CLONE_NEWIPC }
        if contains(.cgroup) { f |= ENVYRO_CLONE_NEWCGROUP }
        if contains(.network) { f |= ENVYRO_CLONE_NEWNET }
        return f
    }
}

/// Everything a container's first process is to get, before any of it is done.
struct SpawnPlan: Equatable {
    /// Where the container's cgroup comes from.
    enum CgroupSource: Equatable {
        /// No cgroup (no limits asked for).
        case none
        /// Made already, in a step of its own (a prewarmed member's).
        case precreated
        /// Made now under a generated name, with these limits; failing fails the create.
        case generated(CgroupLimits)
        /// An OCI container's named cgroup, with these limits; failing fails the create only
        /// when there are limits (rootless without a delegated subtree does without).
        case named(String, CgroupLimits)
    }

    /// CLONE_NEW* flags: the request's namespaces, less the ones an OCI bundle joins.
    var cloneFlags: UInt64
    /// The UTS name; nil leaves it alone.
    var hostname: String?
    /// The caller's root; nil builds the default one from `defaultHostBinds`.
    var rootfs: String?
    var rootfsReadonly: Bool
    var cwd: String
    /// The run's secrets: the decoded request's lists (zeroed with it), never copied.
    var argv: SecretStrings
    var env: SecretStrings
    /// Bring up lo in the container's own network namespace.
    var loopbackUp: Bool
    var useInit: Bool
    var noNewPrivileges: Bool
    /// The capabilities kept: the policy's keep list narrowed by the request's (or bundle's) sets.
    var capabilities: CapabilitySet
    /// Kept capabilities are also inheritable and ambient.
    var ambient: Bool
    /// Seccomp programs stacked, in order, on the policy's own filter (which the helper compiles
    /// for `capabilities`). Stacked filters can only restrict further.
    var extraFilters: [[UInt8]]
    /// Whether the policy's own filter goes under them (not for a trusted host root's bundle).
    var policyFilter: Bool
    var maskedPaths: [String]
    var readonlyPaths: [String]
    /// Build everything, then wait for a run (a prewarmed member).
    var prewarm: Bool
    /// Whether the child gets the request's three stdio descriptors (a prewarmed member gets its
    /// run's later).
    var usesStdio: Bool
    var cgroup: CgroupSource
    /// The pooled network namespace the container may take instead of making its own, or nil.
    var pooledNetns: NetnsPool.Flavor?
    /// The steps are timed for `Created` (a cold `create`; a prewarmed member's happen between
    /// requests, an OCI create answers without them).
    var timed: Bool
    /// An OCI bundle's: held before exec until `start`, with its oom_score_adj written.
    var held: Bool
    var oomScoreAdj: Int32?

    /// Whether the child gets a user namespace of its own (then its id maps are written).
    var newUserNamespace: Bool { cloneFlags & ENVYRO_CLONE_NEWUSER != 0 }

    /// The plan of a `create` (cold) or of a prewarmed member of its shape.
    /// - `prewarming`: this helper pools (hello's mode), which makes pooled network namespaces
    ///   possible.
    /// - `precreated`: the member's cgroup was made already.
    init(run r: CreateRequest, policy: Policy, prewarm: Bool, prewarming: Bool, precreated: Bool, stdioCount: Int) {
        self.init(common: r, policy: policy, requested: r.capabilities, stdioCount: stdioCount)
        self.prewarm = prewarm
        timed = !prewarm
        if !r.seccomp.isEmpty { extraFilters.append(r.seccomp) }
        if precreated {
            cgroup = .precreated
        } else if !r.limits.isEmpty {
            cgroup = .generated(CgroupManager.limits(r.limits))
        }
        // A daemon helper's container with only loopback may get a pooled network namespace,
        // unless it keeps a capability whose meaning depends on who owns the namespace it is in.
        if prewarming, cloneFlags & ENVYRO_CLONE_NEWNET != 0, r.network == .none,
           capabilities.isDisjoint(with: [.netAdmin, .netRaw]) {
            pooledNetns = capabilities.contains(.netBindService) ? .lowPorts : .plain
        }
    }

    /// The plan of an OCI bundle's container. `hostRoot`: the helper is the host's root (then a
    /// container without a user namespace gets the bundle's device cgroup rules). `trusted`: the
    /// caller is the host's root and the policy trusts it (HelperServer.trustsCallerAsHostRoot):
    /// the bundle's capabilities, filters and masked paths are the container's, with none of the
    /// policy's own, as with runc.
    init(oci o: OCICreateRequest, policy: Policy, hostRoot: Bool, trusted: Bool = false, stdioCount: Int) {
        let r = o.base, p = o.process
        // The bundle's capability sets were checked against the policy already (ociCreate).
        self.init(common: r, policy: policy, requested: p.allCapabilities, stdioCount: stdioCount)
        if trusted {
            capabilities = CapabilitySet(rawValue: p.allCapabilities)
            policyFilter = false
            maskedPaths = []
            readonlyPaths = []
            noNewPrivileges = false
        }
        for (kind, _) in o.joinNamespaces { cloneFlags &= ~kind.cloneFlags }
        // The container is the child of the helper's parent, the runtime command (`create`,
        // `run`): engines wait for it as their descendant without waiting for the helper to exit
        // first, and `run` waits for it directly and keeps the same helper for its `delete`
        // (measured: one helper start less per `run`).
        cloneFlags |= ENVYRO_CLONE_PARENT
        if !r.seccomp.isEmpty { extraFilters.append(r.seccomp) }
        if !p.seccomp.isEmpty { extraFilters.append(p.seccomp) }
        maskedPaths = Self.union(maskedPaths, o.maskedPaths)
        readonlyPaths = Self.union(readonlyPaths, o.readonlyPaths)
        cwd = p.cwd
        argv = SecretStrings(p.argv)
        env = SecretStrings(p.env)
        useInit = false
        noNewPrivileges = noNewPrivileges || p.noNewPrivileges
        loopbackUp = r.namespaces.contains(.network)
        held = true
        oomScoreAdj = o.oomScoreAdj
        if !o.cgroup.isEmpty { cgroup = .named(o.cgroup, Self.ociLimits(o, hostRoot: hostRoot)) }
    }

    /// What `create` and an OCI create share.
    private init(common r: CreateRequest, policy: Policy, requested: UInt64, stdioCount: Int) {
        cloneFlags = r.namespaces.cloneFlags
        hostname = r.hostname.isEmpty ? nil : r.hostname
        // As given: the child opens it with no symlink allowed on the way (rootfs.c), so a
        // component swapped for a symlink after the checks fails instead of leading elsewhere
        // (CVE-2021-30465 class). Canonicalizing it here would follow the swap.
        rootfs = r.rootfs.isEmpty ? nil : r.rootfs
        rootfsReadonly = !r.rootfsWritable
        cwd = r.cwd
        argv = r.argv
        env = r.env
        loopbackUp = r.network == .none
        useInit = r.useInit
        noNewPrivileges = policy.process.noNewPrivileges
        capabilities = CapabilitySet(rawValue: policy.capabilities.keepSet.rawValue & requested)
        ambient = policy.capabilities.ambient
        extraFilters = []
        policyFilter = true
        maskedPaths = policy.mounts.maskedPaths
        readonlyPaths = policy.mounts.readonlyPaths
        prewarm = false
        usesStdio = stdioCount == 3
        cgroup = .none
        pooledNetns = nil
        timed = false
        held = false
        oomScoreAdj = nil
    }

    /// An OCI container's cgroup limits: the request's, with the bundle's device rules (host
    /// root without a user namespace only), hugepage limits and unified entries.
    static func ociLimits(_ o: OCICreateRequest, hostRoot: Bool) -> CgroupLimits {
        var limits = CgroupManager.limits(o.base.limits)
        // Host root's container without a user namespace has the real root's devices: the
        // device cgroup decides which it may use (a user namespace can't mknod at all).
        if hostRoot && !o.base.namespaces.contains(.user) && !o.deviceRules.isEmpty {
            limits.deviceRules = o.deviceRules.map { rule in
                let allow = rule.hasPrefix("allow ")
                return CgroupLimits.DeviceRule(allow: allow, rule: String(rule.dropFirst(allow ? 6 : 5)))
            }
        }
        let huge = o.hugepageLimits.compactMap { h -> CgroupLimits.HugepageLimit? in
            let p = h.split(separator: "=", maxSplits: 1)
            return p.count == 2 ? UInt64(p[1]).map { CgroupLimits.HugepageLimit(pageSize: String(p[0]), limit: $0) } : nil
        }
        if !huge.isEmpty { limits.hugepageLimits = huge }
        let unified = o.unified.map { u -> CgroupLimits.UnifiedEntry in
            let p = u.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return CgroupLimits.UnifiedEntry(key: String(p[0]), value: p.count > 1 ? String(p[1]) : "")
        }
        if !unified.isEmpty { limits.unified = unified }
        return limits
    }

    /// The policy's paths and the bundle's, each once.
    static func union(_ a: [String], _ b: [String]) -> [String] { a + b.filter { !a.contains($0) } }

    /// PATH used to find argv[0] when env has none.
    static let defaultSearchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The PATH of `env`, or the default one (an OCI exec's process).
    static func searchPath(_ env: [String]) -> String {
        env.last(where: { $0.hasPrefix("PATH=") }).map { String($0.dropFirst(5)) } ?? defaultSearchPath
    }

    /// The value of `env`'s last `PATH=` entry, where it is (no copy), or nil (the default applies).
    static func searchPathInside(_ env: SecretStrings) -> UnsafePointer<CChar>? {
        env.lastIndex(ofKey: "PATH").map { env.cString(at: $0) + 5 }
    }

    /// PATH used to find argv[0] (a copy, for tests; the C config points into `env`).
    var searchPath: String { Self.searchPathInside(env).map { String(cString: $0) } ?? Self.defaultSearchPath }
}
