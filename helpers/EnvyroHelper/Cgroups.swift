import EnvyroCgroup
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// The caller's cgroups: its delegated subtree (root's is created on demand), one container
/// cgroup per limited run, and garbage collection of what dead supervisors left behind.
///
/// Why this is safe: every path is resolved beneath the hierarchy's mount by EnvyroCgroup with
/// openat2(RESOLVE_BENEATH | NO_SYMLINKS | NO_MAGICLINKS | NO_XDEV); the subtree must be
/// `envyro/u<caller uid>` (or `envyro/root` for root) and owned by the caller; container names
/// are generated here, never taken from a request. Nothing outside `envyro/` is touched.
package final class CgroupManager {
    let caller: Caller
    private var hierarchy: CgroupHierarchy?
    private var subtrees: [Set<CgroupController>: CgroupSubtree] = [:]
    private var sequence: UInt64 = 0
    private var collected = false
    /// What the first use's garbage collection removed (reported by the next `collect`).
    private var collectedAtStart: [String] = []

    /// `hierarchy`: already detected (root's helper does it at start), else detected on first use.
    init(caller: Caller, hierarchy: CgroupHierarchy? = nil) {
        self.caller = caller
        self.hierarchy = hierarchy
    }

    /// Where the caller's subtree lives: `envyro/u<uid>` (or `envyro/root`), or on a cgroup v2
    /// host with systemd, `…/user@UID.service/envyro` once that is found.
    var subtreePath: String { systemdSubtree ?? CgroupDelegation.subtreePath(uid: caller.uid) }
    private var systemdSubtree: String?

    private func detect() throws(CgroupError) -> CgroupHierarchy {
        if let h = hierarchy { return h }
        let h = try CgroupHierarchy.detect()
        hierarchy = h
        return h
    }

    /// On a hybrid host the unified hierarchy only adds cgroup.kill. A v2 move needs write access
    /// to the common ancestor of the source and target cgroups, which a delegated user lacks
    /// (the helper lives outside its subtree), so only root joins the unified directory there.
    private var includeUnified: Bool {
        guard let h = hierarchy else { return false }
        return caller.uid == 0 || h.v1Mounts.isEmpty
    }

    /// Opens (root: creates if missing) the caller's subtree with the controllers `limits`
    /// need, plus memory, pids and cpuacct for accounting and freezer for kills where present.
    func subtree(for limits: CgroupLimits) throws(CgroupError) -> CgroupSubtree {
        let h = try detect()
        var wanted = limits.requiredControllers
        for extra: CgroupController in [.memory, .pids, .cpuacct, .freezer] where h.placement(of: extra) != nil {
            wanted.insert(extra)
        }
        return try subtree(controllers: wanted)
    }

    /// The subtree in every hierarchy that serves one of `controllers`.
    func subtree(controllers wanted: Set<CgroupController>) throws(CgroupError) -> CgroupSubtree {
        let h = try detect()
        if let s = subtrees[wanted] { return s }
        let s: CgroupSubtree
        do {
            s = try CgroupSubtree.open(hierarchy: h, relativePath: subtreePath, controllers: wanted,
                                       includeUnified: includeUnified, callerUID: caller.uid)
        } catch {
            guard case .noSubtree = error else { throw error }
            if caller.uid == 0 {
                try CgroupDelegation.createSubtree(hierarchy: h, name: "root", uid: 0, gid: 0)
            } else if let path = try SystemdDelegation.subtree(hierarchy: h, uid: caller.uid) {
                // cgroup v2 with systemd: the user's own delegated service cgroup, no setup.
                systemdSubtree = path
            } else {
                throw error
            }
            s = try CgroupSubtree.open(hierarchy: h, relativePath: subtreePath, controllers: wanted,
                                       includeUnified: includeUnified, callerUID: caller.uid)
        }
        subtrees[wanted] = s
        if !collected {
            // The first use in this helper also removes what dead helpers left behind.
            collected = true
            collectedAtStart = (try? CgroupGC.collect(subtree: s)) ?? []
        }
        return s
    }

    /// A new container cgroup with `limits` written.
    func create(limits: CgroupLimits) throws(CgroupError) -> ContainerCgroup {
        let s = try subtree(for: limits)
        sequence += 1
        return try ContainerCgroup.create(in: s, name: ContainerCgroup.uniqueName(sequence: sequence), limits: limits)
    }

    /// Don't collect dead helpers' cgroups on first use (an explicit `collect` still does).
    func skipCollection() { collected = true }

    /// A new container cgroup called `name` (an OCI container's `oci-…`, which garbage
    /// collection leaves alone: it outlives this helper) with `limits` written.
    func create(name: String, limits: CgroupLimits) throws(CgroupError) -> ContainerCgroup {
        let s = try subtree(for: limits)
        return try ContainerCgroup.create(in: s, name: name, limits: limits)
    }

    /// An OCI container's existing cgroup, with the controllers `limits` need.
    func open(name: String, limits: CgroupLimits = CgroupLimits()) throws(CgroupError) -> ContainerCgroup {
        // Every hierarchy its limits may have used (cpu, cpuset, io; devices for host root's),
        // so `destroy` removes it everywhere and `update` finds each controller.
        let h = try detect()
        var all = limits.requiredControllers
        for c: CgroupController in [.memory, .pids, .cpu, .cpuacct, .cpuset, .io, .freezer] where h.placement(of: c) != nil { all.insert(c) }
        if UserNamespace.isHostRoot, h.placement(of: .devices) != nil {
            var withDevices = all
            withDevices.insert(.devices)
            if let s = try? subtree(controllers: withDevices), let cg = try? ContainerCgroup.open(in: s, name: name) { return cg }
        }
        let s = try subtree(controllers: all)
        return try ContainerCgroup.open(in: s, name: name)
    }

    /// Removes leftover container cgroups in the caller's subtree.
    func collect(dryRun: Bool) throws(CgroupError) -> [String] {
        let s = try subtree(for: CgroupLimits())
        if dryRun { return [] }
        let earlier = collectedAtStart
        collectedAtStart = []
        return earlier + (try CgroupGC.collect(subtree: s))
    }

    /// The wire limits as the driver's limits.
    static func limits(_ l: LimitSet) -> CgroupLimits {
        var c = CgroupLimits()
        c.memoryMax = l.memoryMax
        c.memorySwapMax = l.memorySwapMax
        c.pidsMax = l.pidsMax
        c.cpuQuotaMicros = l.cpuQuotaMicros
        c.cpuPeriodMicros = l.cpuPeriodMicros
        c.cpuShares = l.cpuShares
        c.cpusetCpus = l.cpusetCpus
        c.cpusetMems = l.cpusetMems
        c.ioWeight = l.ioWeight   // both on the v2 io.weight scale

        return c
    }

    /// Why `limits` break `policy`, or nil. Defaults were applied by the supervisor; the helper
    /// checks maxima and requirements again.
    static func violation(_ l: LimitSet, policy: Policy) -> String? {
        let rules = policy.limits
        if rules.required.contains(.memory) && l.memoryMax == nil { return "policy \(policy.name) requires a memory limit" }
        if rules.required.contains(.pids) && l.pidsMax == nil { return "policy \(policy.name) requires a pids limit" }
        if rules.required.contains(.cpu) && l.cpuQuotaMicros == nil { return "policy \(policy.name) requires a CPU limit" }
        if let max = rules.maxMemoryBytes, let v = l.memoryMax, v > max {
            return "memory limit \(v) bytes exceeds policy \(policy.name)'s maximum of \(max) bytes"
        }
        if let max = rules.maxPids, let v = l.pidsMax, v > max {
            return "pids limit \(v) exceeds policy \(policy.name)'s maximum of \(max)"
        }
        if let max = rules.maxCPUs, let q = l.cpuQuotaMicros, q > 0 {
            let cpus = Double(q) / Double(l.cpuPeriodMicros ?? 100_000)
            if cpus > max + 1e-9 { return "CPU limit \(cpus) exceeds policy \(policy.name)'s maximum of \(max)" }
        }
        return nil
    }
}
