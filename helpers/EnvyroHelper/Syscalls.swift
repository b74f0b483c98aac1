// The helper's syscall seam (as youki's `Syscall` trait and swift-system's mocking layer): the
// privileged or kernel operations the server's logic performs on containers go through one
// protocol, so the logic (permits, policy checks, the create sequence, the handshake, signals)
// runs in unit tests without root against a recording fake (Tests/EnvyroHelperTests).
//
// What is behind it: clone3 of a container's first process, the id-map and oom_score_adj
// writes, pidfd signals, waits and reaps, and container cgroup creation. What is not (yet):
// the OCI verbs' pidfd_open/exec trampoline and cgroup inspection (OCI.swift, Membership.swift),
// and the prewarmed members' go message (WarmPool.swift), which tests reach only as root.
import CEnvyro
import EnvyroCgroup
import EnvyroSystem
import Glibc

/// How a waited-for process ended (waitid's fields), with its resource use when asked for.
package struct ChildExit: Equatable, Sendable {
    /// `CLD_EXITED`, `CLD_KILLED` or `CLD_DUMPED`.
    package var code: Int32
    /// The exit status or the signal.
    package var status: Int32
    /// CPU time (µs) and peak RSS (KiB) from its rusage; -1 when not asked for.
    package var userMicros: Int64 = -1, systemMicros: Int64 = -1, maxRSSKiB: Int64 = -1

    /// Memberwise initialiser.
    package init(code: Int32, status: Int32, userMicros: Int64 = -1, systemMicros: Int64 = -1, maxRSSKiB: Int64 = -1) {
        self.code = code
        self.status = status
        self.userMicros = userMicros
        self.systemMicros = systemMicros
        self.maxRSSKiB = maxRSSKiB
    }
}

/// The privileged and kernel operations of the helper's logic.
package protocol HelperSyscalls: AnyObject {
    /// clone3 of a container's first process (`envyro_container_clone`): 0, or the errno.
    func cloneContainer(_ config: inout envyro_container_config, _ handles: inout envyro_container_handles) -> Int32
    /// Writes a just-cloned child's setgroups, uid_map and gid_map.
    func writeIDMaps(_ plan: IDMapPlan, pid: pid_t) throws(SystemError)
    /// Writes a just-cloned child's oom_score_adj.
    func writeOOMScore(_ adj: Int32, pid: pid_t) throws(SystemError)
    /// pidfd_send_signal: 0, or the errno.
    func signal(pidfd: Int32, _ signal: Int32) -> Int32
    /// Waits for the process behind `pidfd` to end (blocking), as `kill` does after SIGKILL.
    func wait(pidfd: Int32)
    /// Reaps the process behind `pidfd` if it has ended (WNOHANG), with its rusage; nil when
    /// it has not.
    func reap(pidfd: Int32) -> ChildExit?
    /// Makes a container cgroup beneath the caller's subtree with `limits` written (`name`:
    /// an OCI container's; nil: a generated one).
    func createCgroup(_ cgroups: CgroupManager, name: String?, limits: CgroupLimits) throws(CgroupError) -> ContainerCgroup
    /// Closes a descriptor the helper owns.
    func close(_ fd: Int32)
}

/// The real kernel.
package final class LinuxSyscalls: HelperSyscalls, Sendable {
    /// The one instance (it has no state).
    package static let shared = LinuxSyscalls()
    private init() {}

    package func cloneContainer(_ config: inout envyro_container_config, _ handles: inout envyro_container_handles) -> Int32 {
        envyro_container_clone(&config, &handles) == 0 ? 0 : errno
    }

    package func writeIDMaps(_ plan: IDMapPlan, pid: pid_t) throws(SystemError) {
        try Files.writeOnce("/proc/\(pid)/setgroups", plan.denySetgroups ? "deny" : "allow")
        try Files.writeOnce("/proc/\(pid)/uid_map", plan.uidLines)
        try Files.writeOnce("/proc/\(pid)/gid_map", plan.gidLines)
    }

    package func writeOOMScore(_ adj: Int32, pid: pid_t) throws(SystemError) {
        try Files.writeOnce("/proc/\(pid)/oom_score_adj", String(adj))
    }

    package func signal(pidfd: Int32, _ signal: Int32) -> Int32 {
        envyro_pidfd_send_signal(pidfd, signal) == 0 ? 0 : errno
    }

    package func wait(pidfd: Int32) {
        var code: Int32 = 0, status: Int32 = 0, pid: pid_t = 0
        _ = envyro_waitid_pidfd(pidfd, 0, &code, &status, &pid)
    }

    package func reap(pidfd: Int32) -> ChildExit? {
        var code: Int32 = 0, status: Int32 = 0, pid: pid_t = 0
        var user: Int64 = -1, system: Int64 = -1, rss: Int64 = -1
        if envyro_waitid_pidfd_rusage(pidfd, WNOHANG, &code, &status, &pid, &user, &system, &rss) != 0 || pid == 0 { return nil }
        return ChildExit(code: code, status: status, userMicros: user, systemMicros: system, maxRSSKiB: rss)
    }

    package func createCgroup(_ cgroups: CgroupManager, name: String?, limits: CgroupLimits) throws(CgroupError) -> ContainerCgroup {
        if let name { return try cgroups.create(name: name, limits: limits) }
        return try cgroups.create(limits: limits)
    }

    package func close(_ fd: Int32) { _ = Glibc.close(fd) }
}
