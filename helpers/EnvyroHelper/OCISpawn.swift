// An OCI bundle's container from its checked request to PREPARED (issue 8; the checks are in
// OCI.swift). It shares the create sequence's steps (Spawn.swift) and adds its own: the
// namespaces the bundle joins, the OCI part of the C config, and the hold before `start`
// instead of waiting for the exec.
import CEnvyro
import EnvyroCgroup
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// An OCI create on its way to clone: the request and the fds that came with it.
struct OCIPlan {
    var request: OCICreateRequest
    /// The listening start socket (the container accepts on it).
    var startFD: Int32
    /// The console socket, or -1.
    var consoleFD: Int32
    /// --preserve-fds: the descriptors that become 3, 4, ... of the process.
    var preservedFDs: [Int32] = []
    /// A time namespace to join (linux.namespaces type time with a path), or -1.
    var timeNamespaceFD: Int32 = -1
}

extension HelperServer {
    /// Clones an OCI bundle's first process and returns once it reports PREPARED (it then waits
    /// on the start socket), or says which step failed. Detached: the caller does not track it.
    func spawnOCI(_ o: OCIPlan, stdio: [Int32], idMaps: IDMapPlan?) -> Result<Spawned, Outcome> {
        let r = o.request
        let plan = SpawnPlan(oci: r, policy: policy, hostRoot: UserNamespace.isHostRoot, trusted: trustsCallerAsHostRoot,
                             stdioCount: stdio.count)
        let builder = ContainerConfigBuilder(plan, stdio: stdio)
        let cgroup: (any ContainerCgroupHandle)?
        switch prepare(plan, builder, precreated: nil) {
        case .failure(let outcome): return .failure(outcome)
        case .success(let made): cgroup = made?.cgroup
        }
        // The namespaces to join, the user namespace first (the others are owned by it). Opened
        // with the caller's own credentials (this helper runs as the caller), so a namespace the
        // caller can't open can't be joined.
        var joins: [(fd: Int32, kind: NamespaceSet)] = []
        for (kind, path) in r.joinNamespaces.sorted(by: { a, _ in a.0 == .user }) {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 {
                let e = SystemError.current("open", path)
                for j in joins { close(j.fd) }
                try? cgroup?.remove()
                return .failure(failure(e.errno, step: .openNamespace, "cannot open linux.namespaces path: \(e)"))
            }
            joins.append((fd, kind))
        }
        var o = o
        if !r.extras.timeNamespacePath.isEmpty {
            let fd = open(r.extras.timeNamespacePath, O_RDONLY | O_CLOEXEC)
            if fd < 0 {
                let e = SystemError.current("open", r.extras.timeNamespacePath)
                for j in joins { close(j.fd) }
                try? cgroup?.remove()
                return .failure(failure(e.errno, step: .openNamespace, "cannot open linux.namespaces path: \(e)"))
            }
            builder.memory.adopt(fd)
            o.timeNamespaceFD = fd
        }
        let trees: [Int32]
        switch idmappedTrees(r.mounts) {
        case .failure(let outcome):
            for j in joins { close(j.fd) }
            try? cgroup?.remove()
            return .failure(outcome)
        case .success(let made): trees = made
        }
        builder.setOCI(o, joinFDs: joins, treeFDs: trees)
        let h: envyro_container_handles
        switch cloneChild(builder) {
        case .failure(let outcome):
            try? cgroup?.remove()
            return .failure(outcome)
        case .success(let handles): h = handles
        }
        let live = LiveContainer(id: nextContainerID, pid: h.pid, pidfd: h.pidfd, cgroup: cgroup)
        if let refused = handshakeOrKill(h, live, plan: plan, idMaps: plan.newUserNamespace ? idMaps : nil) {
            return .failure(refused)
        }
        // Held: it reports PREPARED once everything is ready and it waits for `start`.
        var report = envyro_child_error()
        let got = readRecord(h.error_fd, &report)
        close(h.error_fd)
        if got == MemoryLayout<envyro_child_error>.size && report.step == Int32(ENVYRO_STEP_PREPARED.rawValue) {
            return .success(Spawned(live: live, errorFD: -1, goFD: -1))
        }
        kill(live)
        guard got == MemoryLayout<envyro_child_error>.size else {
            return .failure(failure(EPIPE, step: .prepare, "the container's first process exited before it was ready"))
        }
        let step = FailureStep(childStep: report.step)
        if report.step == Int32(ENVYRO_STEP_EXEC.rawValue), let program = r.process.argv.first {
            // runc's wording, which engines show: name the program.
            let why = report.err == ENOENT
                ? (program.contains("/") ? "stat \(program): no such file or directory" : "executable file not found in $PATH")
                : Errno.describe(report.err)
            return .failure(failure(report.err, step: step, "exec: \"\(program)\": \(why)"))
        }
        if report.step == Int32(ENVYRO_STEP_OCI_MOUNT.rawValue), report.detail >= 0, Int(report.detail) < r.mounts.count {
            return .failure(failure(report.err, step: step, Self.mountFailure(r.mounts[Int(report.detail)], errno: report.err)))
        }
        return .failure(failure(report.err, step: step, "\(step): \(Errno.describe(report.err))"))
    }

    /// A failed mount named as runc names it, with the kernel call a missing one needs.
    static func mountFailure(_ m: WireMount, errno e: Int32) -> String {
        var why = Errno.describe(e)
        if e == ENOSYS {
            why = m.attrSet | m.attrClear != 0
                ? "this kernel has no mount_setattr (recursive mount attributes need Linux 5.12 or later)"
                : "this kernel has no move_mount (Linux 5.2 or later)"
        }
        let source = m.source.isEmpty ? m.fstype : m.source
        return "error mounting \"\(source)\" to rootfs at \"\(m.destination)\": \(why)"
    }
}

extension CgroupLimits {
    /// Whether a container without a cgroup misses nothing of these limits: none are set, or
    /// only v1's default `cpu.shares` (1024), which containerd's default spec puts in every
    /// bundle, rootless containerd's too (whose user may create no cgroup on cgroup v1).
    var restrictsNothing: Bool {
        var rest = self
        if rest.cpuShares == 1024 { rest.cpuShares = nil }
        return rest.isEmpty
    }
}

extension HelperServer {
    /// For each idmapped mount, its clone (made here, before clone: the container's process
    /// can't idmap a mount of the host's file systems from its own user namespace); -1 for the
    /// others. On a failure the clones made so far are closed and the mount is named.
    func idmappedTrees(_ mounts: [WireMount]) -> Result<[Int32], Outcome> {
        var fds: [Int32] = []
        for (i, m) in mounts.enumerated() {
            guard m.extra & UInt32(ENVYRO_MOUNT_IDMAP) != 0 else { fds.append(-1); continue }
            // MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN over the source's file system: the host's.
            guard UserNamespace.isHostRoot else {
                for fd in fds where fd >= 0 { system.close(fd) }
                return .failure(failure(EPERM, step: .ociMount, "idmapped mount at mounts[\(i)] (\(m.destination)): only host root can idmap a mount (mount_setattr MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN over the source's file system)"))
            }
            let text = { (maps: [IDMapping]) in maps.map { "\($0.containerID) \($0.hostID) \($0.count)\n" }.joined() }
            let made = system.idmappedTree(source: m.source, recursive: m.flags & 0x4000 != 0 /* MS_REC */,
                                             attrRecursive: m.extra & UInt32(ENVYRO_MOUNT_IDMAP_REC) != 0,
                                             uidMap: text(m.uidMappings), gidMap: text(m.gidMappings))
            switch made {
            case .success(let fd): fds.append(fd)
            case .failure(let f):
                for fd in fds where fd >= 0 { system.close(fd) }
                let why = f.errno == ENOSYS
                    ? "this kernel has no \(f.call) (idmapped mounts need Linux 5.12 or later)"
                    : "\(f.call): \(Errno.describe(f.errno))"
                return .failure(failure(f.errno, step: .ociMount, "idmapped mount of \(m.source) at mounts[\(i)] (\(m.destination)): \(why)"))
            }
        }
        return .success(fds)
    }
}
