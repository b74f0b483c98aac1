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
        case createCgroup(name: String?)
        case close(Int32)
    }

    private(set) var calls: [Call] = []
    /// What clone does: fail with an errno, or play a child that reports `records` on its
    /// error pipe (e.g. READY then a failure) and exits.
    enum CloneScript { case fail(Int32), child(pid: pid_t, pidfd: Int32, records: [envyro_child_error]) }
    var cloneScript = CloneScript.fail(EPERM)
    /// The read end of the sync pipe of the last child played, to see the sync byte.
    private(set) var syncReadFD: Int32 = -1

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

    func createCgroup(_ cgroups: CgroupManager, name: String?, limits: CgroupLimits) throws(CgroupError) -> ContainerCgroup {
        calls.append(.createCgroup(name: name))
        throw .noSubtree(path: "envyro/test", detail: "faked: no cgroups in unit tests")
    }

    /// Records the close (the fake pidfds are not real descriptors).
    func close(_ fd: Int32) {
        calls.append(.close(fd))
    }
}
