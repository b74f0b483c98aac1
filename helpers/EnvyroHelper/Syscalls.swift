// The helper's syscall seam (as youki's `Syscall` trait and swift-system's mocking layer): the
// privileged or kernel operations the server's logic performs on containers go through one
// protocol, so the logic (permits, policy checks, the create sequence, the handshake, signals)
// runs in unit tests without root against a recording fake (Tests/EnvyroHelperTests).
//
// What is behind it: clone3 of a container's first process, the id-map and oom_score_adj
// writes, pidfd_open, pidfd signals, waits and reaps, container cgroup creation (a handle the
// fake can make without cgroupfs), whether the caller has a cgroup subtree, the /proc reads of
// a target process (start time, cgroups, user namespace), the prewarmed members' go message,
// and the OCI exec trampoline. What is not: opening an OCI container's existing cgroup for
// freeze/thaw/update/destroy (EnvyroCgroup, reached by tests as root), the pooled network
// namespaces (NetnsPool, daemon helpers only) and the namespace paths an OCI bundle joins.
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

/// A container's cgroup as the helper uses it: the real one is EnvyroCgroup's `ContainerCgroup`;
/// a test's fake needs no cgroupfs.
package protocol ContainerCgroupHandle: AnyObject {
    /// Its name, one component (`c-…`, or an OCI container's `oci-…`).
    var name: String { get }
    /// Opens the join file (`CgroupDirectory.joinFile`: v1's `tasks`, v2's `cgroup.procs`) for
    /// writing in each of its directories, for the child to join it, and the cgroup2 directory
    /// for clone3 to place it in; on failure closes those opened and throws the open's error.
    func openJoinFiles() throws(SystemError) -> CgroupJoinFiles
    /// What its processes used (read before it is removed).
    func stats() -> CgroupStats
    /// Removes it (killing what is left in it).
    func remove() throws(CgroupError)
    /// Resets it for another container with `limits`, given the stats its last run left; false
    /// when it can't be reused exactly (ContainerCgroup.prepareForReuse).
    func prepareForReuse(limits: CgroupLimits, after stats: CgroupStats) -> Bool
    /// Resets its peaks and CPU counter as it is handed to its next container; false on failure.
    func resetCounters() -> Bool
}

extension ContainerCgroup: ContainerCgroupHandle {
    package func openJoinFiles() throws(SystemError) -> CgroupJoinFiles {
        var join = CgroupJoinFiles()
        for dir in directories {
            let (fd, owned) = openJoinFile(dir)
            if !owned && fd >= 0 { join.kept.insert(fd) }
            // The directory itself, for CLONE_INTO_CGROUP: this cgroup's own while its files are
            // kept (pooled), else a descriptor of its own, which the builder closes.
            let directory = dir.version == .v2 && fd >= 0 ? (owned ? fcntl(dir.fd, F_DUPFD_CLOEXEC, 3) : dir.fd) : 0
            if !owned && directory > 0 { join.kept.insert(directory) }
            if fd < 0 || directory < 0 {
                let e = fd < 0 ? SystemError.current("open", dir.path + "/" + dir.joinFile) : SystemError.current("dup", dir.path)
                if fd >= 0 && owned { Glibc.close(fd) }
                join.close()
                throw e
            }
            join.procs.append(fd)
            if dir.version == .v2 { join.cgroup2 = (directory, fd) }
        }
        return join
    }

    package func remove() throws(CgroupError) { try remove(timeoutMillis: 2000) }
}

/// What a child needs to enter its cgroup: v1's `tasks` files it writes itself into, and the
/// cgroup2 directory the clone places it in (with that directory's `cgroup.procs`, also in
/// `procs`, written only if clone3 can't place it). See `envyro_container_config.cgroup2_fd`.
package struct CgroupJoinFiles {
    /// Join files opened for writing.
    package var procs: [Int32] = []
    /// The cgroup2 directory (> 0) and its cgroup.procs, if the cgroup has a cgroup2 part.
    package var cgroup2: (directory: Int32, procs: Int32)? = nil
    /// Those of the descriptors above the cgroup keeps open itself (a pooled one's): never
    /// closed here nor by the config they are handed to.
    package var kept: Set<Int32> = []

    /// Memberwise initialiser.
    package init(procs: [Int32] = [], cgroup2: (directory: Int32, procs: Int32)? = nil) {
        self.procs = procs
        self.cgroup2 = cgroup2
    }

    /// Closes every descriptor (when they are not handed to a config).
    package func close() {
        for fd in procs where !kept.contains(fd) { Glibc.close(fd) }
        if let v2 = cgroup2, !kept.contains(v2.directory) { Glibc.close(v2.directory) }
    }
}

/// A namespace's identity (the device and inode of its /proc/…/ns file).
package struct NamespaceIdentity: Equatable, Sendable {
    /// st_dev.
    package var device: UInt64
    /// st_ino.
    package var inode: UInt64

    /// Memberwise initialiser.
    package init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
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
    func createCgroup(_ cgroups: CgroupManager, name: String?, limits: CgroupLimits) throws(CgroupError) -> any ContainerCgroupHandle
    /// Whether the caller has a cgroup subtree (root's is made on first use).
    func hasCgroupSubtree(_ cgroups: CgroupManager) -> Bool
    /// pidfd_open: the descriptor, or -1 (errno set).
    func pidfdOpen(_ pid: pid_t) -> Int32
    /// A process's start time (field 22 of /proc/<pid>/stat), or nil when it is gone.
    func processStartTime(_ pid: pid_t) -> UInt64?
    /// The text of /proc/<pid>/cgroup, or nil when it can't be read.
    func processCgroups(_ pid: pid_t) -> [UInt8]?
    /// The user namespace of `pid` (nil: this helper's own), from /proc/…/ns/user.
    func userNamespace(pid: pid_t?) throws(SystemError) -> NamespaceIdentity
    /// Sends a prewarmed member its run (`envyro_container_go`): 0, or the errno.
    func sendGo(fd: Int32, packed: [UInt8], stdio: [Int32]) -> Int32
    /// Starts a process inside a running container (`envyro_container_exec`): 0 and its pid,
    /// or the errno with the step that failed.
    func execInContainer(_ config: inout envyro_exec_config, pid: inout pid_t, step: inout Int32) -> Int32
    /// An idmapped clone of a bind source (`envyro_idmapped_tree`): its fd, or the errno with
    /// the call that failed ("user namespace", "open_tree", "mount_setattr").
    func idmappedTree(source: String, recursive: Bool, attrRecursive: Bool, uidMap: String, gidMap: String) -> Result<Int32, IdmapFailure>
    /// Closes a descriptor the helper owns.
    func close(_ fd: Int32)
}

/// Why an idmapped clone could not be made: the errno and the call that failed.
package struct IdmapFailure: Error, Equatable {
    package var errno: Int32
    package var call: String
    package init(errno: Int32, call: String) {
        self.errno = errno
        self.call = call
    }
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
        if envyro_waitid_pidfd(pidfd, 0, &code, &status, &pid) != 0 && errno == ECHILD {
            // Not our child (an OCI container is our caller's: CLONE_PARENT): its pidfd becomes
            // readable when it has exited; its parent reaps it.
            var p = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            while poll(&p, 1, -1) < 0 && errno == EINTR {}
        }
    }

    package func reap(pidfd: Int32) -> ChildExit? {
        var code: Int32 = 0, status: Int32 = 0, pid: pid_t = 0
        var user: Int64 = -1, system: Int64 = -1, rss: Int64 = -1
        if envyro_waitid_pidfd_rusage(pidfd, WNOHANG, &code, &status, &pid, &user, &system, &rss) != 0 || pid == 0 { return nil }
        return ChildExit(code: code, status: status, userMicros: user, systemMicros: system, maxRSSKiB: rss)
    }

    package func createCgroup(_ cgroups: CgroupManager, name: String?, limits: CgroupLimits) throws(CgroupError) -> any ContainerCgroupHandle {
        if let name { return try cgroups.create(name: name, limits: limits) }
        return try cgroups.create(limits: limits)
    }

    package func hasCgroupSubtree(_ cgroups: CgroupManager) -> Bool {
        (try? cgroups.subtree(for: CgroupLimits())) != nil
    }

    package func pidfdOpen(_ pid: pid_t) -> Int32 { envyro_pidfd_open(pid) }

    package func processStartTime(_ pid: pid_t) -> UInt64? { ContainerCgroup.processStartTime(pid) }

    package func processCgroups(_ pid: pid_t) -> [UInt8]? { try? Files.read("/proc/\(pid)/cgroup", limit: 1 << 16) }

    package func userNamespace(pid: pid_t?) throws(SystemError) -> NamespaceIdentity {
        let path = pid.map { "/proc/\($0)/ns/user" } ?? "/proc/self/ns/user"
        var st = stat()
        if stat(path, &st) != 0 { throw SystemError.current("stat", path) }
        return NamespaceIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    package func sendGo(fd: Int32, packed: [UInt8], stdio: [Int32]) -> Int32 {
        let sent = packed.withUnsafeBytes { raw in
            stdio.withUnsafeBufferPointer { envyro_container_go(fd, raw.baseAddress!, raw.count, $0.baseAddress!) }
        }
        return sent == 0 ? 0 : errno
    }

    package func execInContainer(_ config: inout envyro_exec_config, pid: inout pid_t, step: inout Int32) -> Int32 {
        envyro_container_exec(&config, &pid, &step) == 0 ? 0 : errno
    }

    package func idmappedTree(source: String, recursive: Bool, attrRecursive: Bool, uidMap: String, gidMap: String) -> Result<Int32, IdmapFailure> {
        var step: Int32 = 0
        let fd = envyro_idmapped_tree(source, recursive ? 1 : 0, attrRecursive ? 1 : 0, uidMap, gidMap, &step)
        if fd >= 0 { return .success(fd) }
        let calls = ["a user namespace for the mapping", "open_tree", "mount_setattr"]
        return .failure(IdmapFailure(errno: errno, call: calls[Int(min(max(step, 0), 2))]))
    }

    package func close(_ fd: Int32) { _ = Glibc.close(fd) }
}
