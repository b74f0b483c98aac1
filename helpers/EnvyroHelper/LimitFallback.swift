import CEnvyro
import EnvyroCgroup
import EnvyroPolicy
import Glibc

/// Limits without a cgroup (`limits.withoutCgroup: "rlimits"`): for an ordinary user the host
/// gave no delegated cgroup subtree, the limits rlimits can carry, and a plain account of the
/// rest. RLIMIT_NPROC is counted per user namespace and uid (the kernel's ucounts, since 5.14)
/// and the container has a user namespace of its own, so it bounds the container's tasks as
/// pids.max would while they keep one uid (strict leaves them no capability to change it). Memory
/// has no per-container rlimit: RLIMIT_DATA bounds each process's private memory, not the sum.
struct RlimitFallback {
    var rlimits: [envyro_rlimit]
    /// What the run is told: what is enforced, how, and what is not.
    var note: String

    init(_ l: CgroupLimits, setupHint: String) {
        var enforced: [String] = [], missing: [String] = []
        rlimits = []
        if let pids = l.pidsMax {
            rlimits.append(envyro_rlimit(resource: ENVYRO_RLIMIT_NPROC, soft: UInt64(pids), hard: UInt64(pids)))
            enforced.append("pids \(pids) (RLIMIT_NPROC in the container's user namespace)")
        }
        if let memory = l.memoryMax {
            rlimits.append(envyro_rlimit(resource: ENVYRO_RLIMIT_DATA, soft: UInt64(memory), hard: UInt64(memory)))
            enforced.append("memory \(memory >> 20) MiB per process, not in total (RLIMIT_DATA)")
        }
        if l.cpuQuotaMicros != nil || l.cpuShares != nil { missing.append("cpu") }
        if l.cpusetCpus != nil || l.cpusetMems != nil { missing.append("cpuset") }
        if l.memorySwapMax != nil { missing.append("memory+swap") }
        if l.ioWeight != nil { missing.append("io weight") }
        var parts = ["no cgroup (no delegated subtree)"]
        if !enforced.isEmpty { parts.append("enforced: " + enforced.joined(separator: ", ")) }
        if !missing.isEmpty { parts.append("not enforced: " + missing.joined(separator: ", ")) }
        note = parts.joined(separator: "; ") + "; \(setupHint) enforces them all with cgroups"
    }
}
