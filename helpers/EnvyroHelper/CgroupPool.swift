import EnvyroCgroup

/// Reaped containers' cgroups kept for the next container with the same limits (daemon helpers
/// only: a one-shot helper exits after its run). A cgroup is kept only when
/// `prepareForReuse` could reset it exactly (ContainerCgroup's CgroupReuse.swift says when);
/// otherwise, or when the pool is full, it is removed as before. Each helper serves one caller,
/// so a cgroup only ever passes between runs of the same user and limits; what the pool holds
/// is removed at the helper's exit, or by garbage collection after a crash (the names are this
/// helper's `c-PID-START-N`).
struct CgroupPool {
    /// Idle cgroups kept (the policy's `pools.cgroups`; 0: none).
    let limit: Int
    private var idle: [(limits: CgroupLimits, cgroup: any ContainerCgroupHandle)] = []

    init(limit: Int) { self.limit = limit }

    /// An idle cgroup made for `limits`, if one is kept.
    mutating func take(_ limits: CgroupLimits) -> (any ContainerCgroupHandle)? {
        guard let i = idle.lastIndex(where: { $0.limits == limits }) else { return nil }
        return idle.remove(at: i).cgroup
    }

    /// Keeps `cgroup` of a run with `limits` that ended with `stats`, when there is room and it
    /// could be reset; false when the caller must remove it.
    mutating func keep(_ cgroup: any ContainerCgroupHandle, limits: CgroupLimits, after stats: CgroupStats) -> Bool {
        guard idle.count < limit, cgroup.prepareForReuse(limits: limits, after: stats) else { return false }
        idle.append((limits, cgroup))
        return true
    }

    /// Empties the pool, returning what it held (for removal).
    mutating func drain() -> [any ContainerCgroupHandle] {
        defer { idle.removeAll() }
        return idle.map(\.cgroup)
    }
}

/// A container's cgroup, whether it came from the pool, and the limits it may be reused for
/// after the run (a generated cgroup's; nil for an OCI container's named one).
struct PooledCgroup {
    var cgroup: any ContainerCgroupHandle
    var reused: Bool
    var reusableLimits: CgroupLimits?
}
