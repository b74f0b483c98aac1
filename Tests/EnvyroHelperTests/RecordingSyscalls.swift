import CEnvyro
import EnvyroCgroup
@testable import EnvyroHelper
import EnvyroSystem
import Glibc

/// The helper's syscall seam, faked: records every call, touches no kernel state beyond the
/// pipes it makes to play a child's part.
final class RecordingSyscalls: HelperSyscalls {
    enum Call: Equatable {
        case clone(flags: UInt64)
        case writeIDMaps(pid: pid_t, uid: String, gid: String)
        case writeOOMScore(pid: pid_t, Int32)
        case signal(pidfd: Int32, Int32)
        case wait(pidfd: Int32)
        case reap(pidfd: Int32)
        case createCgroup(name: String?, limits: CgroupLimits)
        case removeCgroup(String)
        case hasCgroupSubtree
        case pidfdOpen(pid_t)
        case processStartTime(pid_t)
        case processCgroups(pid_t)
        case userNamespace(pid: pid_t?)
        case sendGo(fd: Int32)
        case exec(nsFlags: UInt64, argv0: String)
        case close(Int32)
    }

    private(set) var calls: [Call] = []
    /// What clone does: fail with an errno, or play a child that reports `records` on its
    /// error pipe (e.g. READY then a failure) and exits.
    enum CloneScript { case fail(Int32), child(pid: pid_t, pidfd: Int32, records: [envyro_child_error]) }
    var cloneScript = CloneScript.fail(EPERM)
    /// The read end of the sync pipe of the last child played, to see the sync byte.
    private(set) var syncReadFD: Int32 = -1
    /// Whether cgroup creation works (a fake cgroup whose procs files are /dev/null) or throws
    /// as on a host without a delegated subtree.
    var cgroupsWork = false
    /// The fake cgroups made, in order.
    private(set) var cgroups: [FakeCgroup] = []
    /// Whether the caller has a cgroup subtree.
    var subtree = false
    /// Processes that exist: pid -> (start time, /proc/<pid>/cgroup text, user namespace inode).
    var processes: [pid_t: (start: UInt64, cgroups: String, userNamespace: UInt64)] = [:]
    /// This helper's own user namespace inode.
    var ownUserNamespace: UInt64 = 1
    /// The pidfd pidfd_open returns for a process (fake, not a descriptor: closes are recorded).
    static func pidfd(for pid: pid_t) -> Int32 { 10_000 + pid }
    /// What the exec trampoline does: 0 with this pid, or an errno with a step.
    var execScript: (errno: Int32, pid: pid_t, step: Int32) = (0, 5151, 0)

    func cloneContainer(_ config: inout envyro_container_config, _ handles: inout envyro_container_handles) -> Int32 {
        calls.append(.clone(flags: config.clone_flags))
        switch cloneScript {
        case .fail(let e): return e
        case .child(let pid, let pidfd, let records):
            var errorPipe: [Int32] = [-1, -1], syncPipe: [Int32] = [-1, -1]
            guard pipe(&errorPipe) == 0, pipe(&syncPipe) == 0 else { return errno }
            for var r in records { _ = withUnsafeBytes(of: &r) { write(errorPipe[1], $0.baseAddress!, $0.count) } }
            Glibc.close(errorPipe[1])
            syncReadFD = syncPipe[0]
            handles = envyro_container_handles(pid: pid, pidfd: pidfd, sync_fd: syncPipe[1], error_fd: errorPipe[0], go_fd: -1)
            return 0
        }
    }

    func writeIDMaps(_ plan: IDMapPlan, pid: pid_t) throws(SystemError) {
        calls.append(.writeIDMaps(pid: pid, uid: plan.uidLines, gid: plan.gidLines))
    }

    func writeOOMScore(_ adj: Int32, pid: pid_t) throws(SystemError) { calls.append(.writeOOMScore(pid: pid, adj)) }

    func signal(pidfd: Int32, _ signal: Int32) -> Int32 {
        calls.append(.signal(pidfd: pidfd, signal))
        return 0
    }

    func wait(pidfd: Int32) { calls.append(.wait(pidfd: pidfd)) }

    func reap(pidfd: Int32) -> ChildExit? {
        calls.append(.reap(pidfd: pidfd))
        return ChildExit(code: Int32(CLD_EXITED), status: 0)
    }

    func createCgroup(_ cgroups: CgroupManager, name: String?, limits: CgroupLimits) throws(CgroupError) -> any ContainerCgroupHandle {
        calls.append(.createCgroup(name: name, limits: limits))
        guard cgroupsWork else { throw .noSubtree(path: "envyro/test", detail: "faked: no cgroups in unit tests") }
        let cg = FakeCgroup(name: name ?? "c-test-\(self.cgroups.count + 1)", recorder: self)
        self.cgroups.append(cg)
        return cg
    }

    func hasCgroupSubtree(_ cgroups: CgroupManager) -> Bool {
        calls.append(.hasCgroupSubtree)
        return subtree
    }

    func pidfdOpen(_ pid: pid_t) -> Int32 {
        calls.append(.pidfdOpen(pid))
        return processes[pid] == nil ? -1 : Self.pidfd(for: pid)
    }

    func processStartTime(_ pid: pid_t) -> UInt64? {
        calls.append(.processStartTime(pid))
        return processes[pid]?.start
    }

    func processCgroups(_ pid: pid_t) -> [UInt8]? {
        calls.append(.processCgroups(pid))
        return processes[pid].map { Array($0.cgroups.utf8) }
    }

    func userNamespace(pid: pid_t?) throws(SystemError) -> NamespaceIdentity {
        calls.append(.userNamespace(pid: pid))
        guard let pid else { return NamespaceIdentity(device: 4, inode: ownUserNamespace) }
        guard let p = processes[pid] else { throw SystemError("stat", "/proc/\(pid)/ns/user", errno: ENOENT) }
        return NamespaceIdentity(device: 4, inode: p.userNamespace)
    }

    func sendGo(fd: Int32, packed: [UInt8], stdio: [Int32]) -> Int32 {
        calls.append(.sendGo(fd: fd))
        return EPIPE
    }

    func execInContainer(_ config: inout envyro_exec_config, pid: inout pid_t, step: inout Int32) -> Int32 {
        calls.append(.exec(nsFlags: config.ns_flags, argv0: config.argv[0].map { String(cString: $0) } ?? ""))
        pid = execScript.pid
        step = execScript.step
        return execScript.errno
    }

    func removed(_ name: String) { calls.append(.removeCgroup(name)) }

    /// Refused: these tests make no real mounts.
    func idmappedTree(source: String, recursive: Bool, attrRecursive: Bool, uidMap: String, gidMap: String) -> Result<Int32, IdmapFailure> {
        .failure(IdmapFailure(errno: ENOSYS, call: "open_tree"))
    }

    /// Records the close (the fake pidfds are not real descriptors).
    func close(_ fd: Int32) {
        calls.append(.close(fd))
    }
}

/// A container cgroup without cgroupfs: its procs files are /dev/null, its removal is recorded.
final class FakeCgroup: ContainerCgroupHandle {
    let name: String
    private weak var recorder: RecordingSyscalls?
    /// The procs descriptors handed out (to see that they are closed).
    private(set) var procsFDs: [Int32] = []

    init(name: String, recorder: RecordingSyscalls) {
        self.name = name
        self.recorder = recorder
    }

    func openJoinFiles() throws(SystemError) -> CgroupJoinFiles {
        let fd = open("/dev/null", O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw SystemError.current("open", "/dev/null") }
        procsFDs.append(fd)
        return CgroupJoinFiles(procs: [fd])
    }

    func stats() -> CgroupStats { CgroupStats() }

    func remove() throws(CgroupError) { recorder?.removed(name) }

    /// Whether `prepareForReuse` says yes (a unit test decides), and the limits it was asked for.
    var reusable = true
    private(set) var reusedFor: [CgroupLimits] = []

    func prepareForReuse(limits: CgroupLimits, after stats: CgroupStats) -> Bool {
        reusedFor.append(limits)
        return reusable
    }

    /// How often its counters were reset (as it was handed out again).
    private(set) var resets = 0
    func resetCounters() -> Bool {
        resets += 1
        return true
    }
}
