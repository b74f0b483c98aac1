// Whether a process a request names by pid is one of this caller's containers (issue 13, items
// 7 and 11): `oci_exec`, `oci_control signal`, `signal_all` and `destroy` act on a pid the
// caller sends, and the caller may be a raw-protocol client, not the CLI.
//
// Why this is safe: the target is named by a pidfd opened first (`verifiedPidfd`), so the pid
// can't be recycled while it is held; /proc/<pid>/cgroup and /proc/<pid>/ns/user are read next,
// and the pidfd is then asked whether its process is still alive (and the start time compared
// again): if it is, the pid named that same process during both reads. The container cgroup
// must lie directly beneath the caller's own subtree (`envyro/u<uid>` or `envyro/root`), which
// only the caller (and root) can write.
import CEnvyro
import EnvyroCgroup
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// What the helper learned about a target process while it held the process's pidfd.
struct TargetProcess {
    /// The container cgroup (`oci-…`) beneath the caller's subtree that the process is in (or
    /// in a descendant of), or nil when it is in none.
    var containerCgroup: String?
    /// Whether its user namespace is this helper's own (the host's, for an unnested helper);
    /// false when not read (root callers).
    var inHelperUserNamespace: Bool
}

/// Why a target process is refused.
struct TargetRefusal: Error {
    var reason: String
}

extension HelperServer {
    /// Reads the cgroup membership and, for a non-root caller, the user namespace of the process
    /// behind `pidfd`; a refusal when the process went away (or its pid changed hands) during
    /// the reads. (/proc/<pid>/ns needs ptrace access, which a root helper that dropped
    /// CAP_SYS_PTRACE lacks for a process with more capabilities: root's exec may be into a
    /// container without a user namespace anyway, so it is not read for root.)
    func inspectTarget(pidfd: Int32, pid: Int32, startTime: UInt64) -> Result<TargetProcess, TargetRefusal> {
        let cgroupText = system.processCgroups(pid)
        var theirs: NamespaceIdentity? = nil, mine: NamespaceIdentity? = nil
        var nsError: Int32 = 0
        if caller.uid != 0 {
            do {
                theirs = try system.userNamespace(pid: pid)
                mine = try system.userNamespace(pid: nil)
            } catch {
                nsError = error.errno
            }
        }
        // After the reads: the pidfd's process is still alive, so the pid still named it.
        guard system.signal(pidfd: pidfd, 0) == 0, system.processStartTime(pid) == startTime, let cgroupText else {
            return .failure(TargetRefusal(reason: "process \(pid) went away while it was checked"))
        }
        if nsError != 0 {
            return .failure(TargetRefusal(reason: "cannot read process \(pid)'s user namespace (\(Errno.describe(nsError))): it is not a container of yours"))
        }
        // The subtree's path is known once the caller's subtree was opened (systemd's on v2).
        let prefix = "/" + cgroups.subtreePath + "/"
        var found: String? = nil
        for line in String(decoding: cgroupText, as: UTF8.self).split(separator: "\n") {
            // "ID:controllers:/path"; the path may itself hold ':'.
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, fields[2].hasPrefix(prefix) else { continue }
            let name = fields[2].dropFirst(prefix.count).split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
            if isValidOCICgroupName(name) { found = name; break }
        }
        return .success(TargetProcess(containerCgroup: found,
                                      inHelperUserNamespace: caller.uid != 0 && theirs != nil && theirs == mine))
    }

    /// Whether the caller has a cgroup subtree at all (root's is made on first use). Without one
    /// (a rootless user nobody ran `envyro setup` for) its OCI containers have no cgroup.
    var callerHasSubtree: Bool {
        system.hasCgroupSubtree(cgroups)
    }

    /// The process behind `pidfd` when it is the caller's container `cgroup` ("" = the request
    /// names none), or why it is not. A container without a cgroup is accepted only for a caller
    /// that has no subtree (then none of its containers has one) when the process is in a user
    /// namespace other than the helper's; and for root of a non-initial user namespace, whose
    /// containers can't have one (it may read `envyro/root` but not write it).
    func callersContainer(pidfd: Int32, pid: Int32, startTime: UInt64, cgroup: String) -> Result<TargetProcess, TargetRefusal> {
        // First: opening the subtree settles its path (systemd's delegated one on cgroup v2).
        let hasSubtree = callerHasSubtree
        let target: TargetProcess
        switch inspectTarget(pidfd: pidfd, pid: pid, startTime: startTime) {
        case .failure(let refusal): return .failure(refusal)
        case .success(let t): target = t
        }
        let subtree = cgroups.subtreePath
        if let found = target.containerCgroup {
            if cgroup.isEmpty || found == cgroup { return .success(target) }
            return .failure(TargetRefusal(reason: "process \(pid) is in container cgroup \(subtree)/\(found), not in \(subtree)/\(cgroup) as the request says"))
        }
        // No cgroup at all: a rootless caller's container when it is in a user namespace of its
        // own; and root of another user namespace (rootless podman runs its runtime in one), whose
        // containers never get a cgroup and whose privileges end at that namespace anyway.
        if cgroup.isEmpty {
            if caller.uid != 0 && !target.inHelperUserNamespace && !hasSubtree { return .success(target) }
            if caller.uid == 0 && !UserNamespace.isInitial { return .success(target) }
        }
        let want = cgroup.isEmpty ? "\(subtree)/oci-*" : "\(subtree)/\(cgroup)"
        return .failure(TargetRefusal(reason: "process \(pid) is not in your container cgroup \(want): envyro acts only on its own containers' processes"))
    }

    /// An audited refusal of an OCI request on a process that is not the caller's container.
    func refuseTarget(_ why: String, id: String, what: String) -> Outcome {
        Outcome(reply: .failed(Failure(errno: EPERM, step: .target, message: why)), decision: .denied(reason: why),
                result: "EPERM", detail: "oci \(id) \(what)")
    }
}
