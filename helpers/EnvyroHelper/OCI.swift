// The OCI verbs (issue 8): containers for engines (podman's conmon, containerd's shim).
//
// An OCI container differs from `create`'s in three ways, each carried out here:
//   - it is held: it builds everything, reports PREPARED and waits on a start socket the
//     caller made (so `envyro start` is a connect and one byte);
//   - it is detached: no parent-death signal, not tracked by this helper, and not its child but
//     its caller's (CLONE_PARENT: SpawnPlan), so it is reaped by `run` or the engine's subreaper;
//   - it is found again later by name: its cgroup `oci-…` in the caller's own subtree, and its
//     first process by pid and start time (a recycled pid is never signalled).
// The policy is checked as for `create`, plus the bundle's capability sets against its keep list.
import CEnvyro
import EnvyroAudit
import EnvyroCgroup
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem
import Glibc

extension HelperServer {
    /// Whether this caller is the host's root and the policy trusts it as runc does
    /// (`"hostRoot": {"trusted": true}`, the `oci` policy): then its bundle chooses its
    /// namespaces, capabilities, seccomp filter and masked paths. Decided from the caller's
    /// credentials as the kernel gave them at connect (SO_PEERCRED, read by envyro-nshelper) and
    /// this helper's own (root of the initial user namespace), never from anything a request
    /// says: no bundle can make its caller root.
    var trustsCallerAsHostRoot: Bool {
        policy.hostRootTrusted && caller.uid == 0 && UserNamespace.isHostRoot
    }

    /// The capabilities of `mask` the policy does not keep, by name; empty when all are kept
    /// (always, for a trusted host root).
    func capabilitiesBeyondPolicy(_ mask: UInt64) -> [String] {
        if trustsCallerAsHostRoot { return [] }
        return CapabilitySet(rawValue: mask).subtracting(policy.capabilities.keepSet).names
    }

    /// `oci_create`: an OCI bundle's container, built and held before exec until `start`.
    func ociCreate(_ r: OCICreateRequest, fds: [Int32]) -> Outcome {
        let stdio = Array(fds.prefix(3))
        let startFD = fds.count > 3 ? fds[3] : -1
        let consoleFD = fds.count > 4 && r.hasConsole ? fds[4] : -1
        defer { for fd in fds.dropFirst(3) { close(fd) } }
        func deny(_ why: String, step: FailureStep = .policy, errno: Int32 = EPERM) -> Outcome {
            for fd in stdio { close(fd) }
            return Outcome(reply: .failed(Failure(errno: errno, step: step, message: why)), decision: .denied(reason: why),
                           result: String(cString: envyro_errno_name(errno)), detail: "oci \(r.id)")
        }
        guard fds.count == 5 + Int(r.process.extras.preserveFDs) else {
            return deny("oci_create carries \(fds.count) fds but names 5 and \(r.process.extras.preserveFDs) preserved", step: .stdio, errno: EINVAL)
        }
        let beyond = capabilitiesBeyondPolicy(r.process.allCapabilities)
        if !beyond.isEmpty {
            return deny("the bundle asks for \(beyond.joined(separator: ", ")), which policy \(policy.name) does not allow (it keeps \(policy.capabilities.keep.joined(separator: ", ")))")
        }
        // A joined namespace counts as the container's own, unless it is this helper's (the
        // host's): then it isolates nothing.
        var checked = r.base
        for (kind, path) in r.joinNamespaces {
            if Self.isOwnNamespace(kind, path) {
                let name = Self.nsName(kind)
                if kind == .network {
                    if !policy.network.allowed.contains(.host) { return deny("joining the host's network namespace (\(path)) is host networking, which policy \(policy.name) does not allow") }
                } else if kind == .user {
                    if caller.uid != 0 { return deny("joining the host's user namespace (\(path)) runs as the host's users; only root may ask for that") }
                } else if policy.namespaces.contains(where: { $0.wire == kind }) && !(trustsCallerAsHostRoot && kind != .mount) {
                    return deny("joining the host's \(name) namespace (\(path)) is not allowed: policy \(policy.name) requires a \(name) namespace of the container's own")
                }
            } else if kind != .network {
                checked.namespaces.insert(kind)
            }
        }
        if let why = policyViolation(checked, stdio: stdio, onlyMountRequired: trustsCallerAsHostRoot) { return deny(why) }
        if let why = CgroupManager.violation(r.base.limits, policy: policy) { return deny(why) }
        // The CLI refuses these too, but a raw-protocol client skips the CLI: a governed file
        // written through `unified` (memory.max, pids.max, ...) would bypass the maxima above.
        for (i, entry) in r.unified.enumerated() {
            let key = String(entry.prefix { $0 != "=" })
            if let prefix = CgroupLimits.policedUnifiedPrefix(key) {
                return deny("linux.resources.unified[\(i)] '\(key)': \(prefix)* files are governed by policy \(policy.name) and are set through linux.resources (memory, pids, cpu, blockIO), where its maxima are checked")
            }
            if key.contains("/") || key.hasPrefix(".") {
                return deny("linux.resources.unified[\(i)] '\(key)' is not a cgroup file name", step: .cgroup, errno: EINVAL)
            }
        }
        if r.base.rootfs.isEmpty { return deny("an OCI container needs a rootfs", step: .rootfs, errno: EINVAL) }
        var idMaps: IDMapPlan? = nil
        if r.base.namespaces.contains(.user) {
            switch IDMapPlan.make(uids: r.base.uidMappings, gids: r.base.gidMappings, caller: caller, policy: policy) {
            case .success(let plan): idMaps = plan
            case .failure(let refusal): return deny(refusal.reason, step: .idMap)
            }
        } else if !r.base.uidMappings.isEmpty || !r.base.gidMappings.isEmpty {
            return deny("id maps need a user namespace", step: .idMap, errno: EINVAL)
        } else if caller.uid != 0 && !r.joinNamespaces.contains(where: { $0.0 == .user }) {
            return deny("a container without a user namespace runs as the host's root; only root may ask for that (add a user namespace to linux.namespaces)")
        }
        // Moving a host interface is administering the host's network: host root only, and
        // only into a network namespace the container has of its own.
        if !r.extras.netDevices.isEmpty {
            if caller.uid != 0 { return deny("linux.netDevices moves host network interfaces, which only root may do") }
            if !r.base.namespaces.contains(.network) {
                return deny("linux.netDevices needs a new network namespace (the devices would stay on the host)", step: .netDevice, errno: EINVAL)
            }
        }
        let plan = OCIPlan(request: r, startFD: startFD, consoleFD: consoleFD, preservedFDs: Array(fds.dropFirst(5)))
        defer { for fd in stdio { close(fd) } }
        switch spawnOCI(plan, stdio: stdio, idMaps: idMaps) {
        case .failure(let outcome):
            var o = outcome
            o.detail = "oci \(r.id): \(outcome.detail ?? "")"
            return o
        case .success(let spawned):
            if let why = moveNetDevices(r.extras.netDevices, into: spawned.live.pid) {
                kill(spawned.live)
                return failure(why.errno, step: .netDevice, why.message)
            }
            // Detached: not tracked, not killed when the caller goes; its engine reaps it.
            system.close(spawned.live.pidfd)
            let cg = spawned.live.cgroup.map { " cgroup \($0.name)" } ?? ""
            return Outcome(reply: .created(Created(containerID: 0, pid: spawned.live.pid)), decision: .allowed, result: "ok",
                           detail: "oci \(r.id) pid \(spawned.live.pid)\(cg) (held)")
        }
    }

    static func nsName(_ kind: NamespaceSet) -> String {
        switch kind {
        case .user: "user"
        case .pid: "pid"
        case .mount: "mnt"
        case .uts: "uts"
        case .ipc: "ipc"
        case .cgroup: "cgroup"
        default: "net"
        }
    }

    /// Whether `path` names the same namespace of `kind` this helper is in.
    static func isOwnNamespace(_ kind: NamespaceSet, _ path: String) -> Bool {
        var a = stat(), b = stat()
        guard stat(path, &a) == 0, stat("/proc/self/ns/\(nsName(kind))", &b) == 0 else { return false }
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino
    }

    /// A pidfd for `pid` when it is still the process that started at `startTime`.
    func verifiedPidfd(_ pid: Int32, startTime: UInt64) -> Result<Int32, Outcome> {
        let fd = system.pidfdOpen(pid)
        if fd < 0 {
            return .failure(failure(ESRCH, step: .find, "the container's process \(pid) is gone"))
        }
        // Read after the pidfd exists: if the start time still matches, the pidfd names it.
        guard system.processStartTime(pid) == startTime else {
            system.close(fd)
            return .failure(failure(ESRCH, step: .find, "the container's process \(pid) is gone (the pid now names another process)"))
        }
        return .success(fd)
    }

    /// `oci_control`: signal, freeze, thaw, destroy or update an OCI container of this caller.
    func ociControl(_ r: OCIControlRequest) -> Outcome {
        func done(_ n: Int, _ what: String) -> Outcome {
            Outcome(reply: .ociDone(OCIDone(op: r.op, processes: UInt32(clamping: n))), decision: .allowed, result: "ok",
                    detail: "oci \(r.id) \(r.op.name)\(what)")
        }
        var cgroup: ContainerCgroup? = nil
        if !r.cgroup.isEmpty {
            do { cgroup = try cgroups.open(name: r.cgroup, limits: CgroupManager.limits(r.limits)) } catch {
                if r.op == .destroy || r.op == .signal {
                    cgroup = nil   // already gone, or never made: nothing to clean in it
                } else {
                    return failure(ENOENT, step: .cgroup, "the container's cgroup \(r.cgroup): \(error)")
                }
            }
        }
        switch r.op {
        case .signal:
            switch verifiedPidfd(r.pid, startTime: r.startTime) {
            case .failure(let o): return o
            case .success(let fd):
                defer { system.close(fd) }
                // Only a process of the caller's container is signalled (checked through the pidfd).
                if case .failure(let refusal) = callersContainer(pidfd: fd, pid: r.pid, startTime: r.startTime, cgroup: r.cgroup) {
                    return refuseTarget(refusal.reason, id: r.id, what: "signal")
                }
                let e = system.signal(pidfd: fd, r.signal)
                if e != 0 {
                    return failure(e, step: .signal, "pidfd_send_signal: \(Errno.describe(e))")
                }
                return done(1, " \(r.signal) pid \(r.pid)")
            }
        case .signalAll:
            guard let cg = cgroup else {
                guard case .success(let fd) = verifiedPidfd(r.pid, startTime: r.startTime) else {
                    return failure(ESRCH, step: .signal, "the container is not running")
                }
                defer { system.close(fd) }
                if case .failure(let refusal) = callersContainer(pidfd: fd, pid: r.pid, startTime: r.startTime, cgroup: r.cgroup) {
                    return refuseTarget(refusal.reason, id: r.id, what: "signal_all")
                }
                _ = system.signal(pidfd: fd, r.signal)
                return done(1, " \(r.signal)")
            }
            // A pid read from cgroup.procs may exit and be reused by a process outside before the
            // signal: each is signalled through a pidfd opened first and checked to be in this
            // container's cgroup while it is held.
            var signalled = 0
            for pid in (try? cg.processes()) ?? [] {
                let fd = system.pidfdOpen(pid)
                guard fd >= 0 else { continue }
                defer { system.close(fd) }
                guard let start = system.processStartTime(pid),
                      case .success = callersContainer(pidfd: fd, pid: pid, startTime: start, cgroup: r.cgroup) else { continue }
                if system.signal(pidfd: fd, r.signal) == 0 { signalled += 1 }
            }
            return done(signalled, " \(r.signal)")
        case .freeze, .thaw:
            guard let cg = cgroup else { return failure(ENOENT, step: .cgroup, "the container has no cgroup") }
            do { try cg.setFrozen(r.op == .freeze) } catch {
                return failure(EIO, step: .freezer, "\(error)")
            }
            return done((try? cg.processes().count) ?? 0, "")
        case .update:
            guard let cg = cgroup else { return failure(ENOENT, step: .cgroup, "the container has no cgroup") }
            if let why = CgroupManager.violation(r.limits, policy: policy) {
                return Outcome(reply: .failed(Failure(errno: EPERM, step: .policy, message: why)), decision: .denied(reason: why),
                               result: "EPERM", detail: "oci \(r.id) update")
            }
            do { try cg.update(CgroupManager.limits(r.limits)) } catch {
                return failure(EINVAL, step: .cgroup, "cannot update the limits: \(error)")
            }
            return done(0, "")
        case .destroy:
            var n = 0
            if let cg = cgroup {
                // The count walks every directory's cgroup.procs and subdirectories: only for a
                // container still running (`delete --force`); a stopped one's (pid 0) is empty
                // unless something escaped its first process, which `remove` kills anyway.
                if r.pid > 0 { n = (try? cg.processes().count) ?? 0 }
                do { try cg.remove() } catch {
                    return failure(EBUSY, step: .cgroup, "cannot remove the container's cgroup: \(error)")
                }
            } else if r.pid > 0, case .success(let fd) = verifiedPidfd(r.pid, startTime: r.startTime) {
                defer { system.close(fd) }
                if case .failure(let refusal) = callersContainer(pidfd: fd, pid: r.pid, startTime: r.startTime, cgroup: r.cgroup) {
                    return refuseTarget(refusal.reason, id: r.id, what: "destroy")
                }
                _ = system.signal(pidfd: fd, SIGKILL)
                n = 1
            }
            return done(n, "")
        }
    }

    /// `oci_exec`: another process inside a running OCI container (its namespaces, cgroup,
    /// user, capabilities and seccomp), started through the trampoline's exec entry.
    func ociExec(_ r: OCIExecRequest, fds: [Int32]) -> Outcome {
        defer { for fd in fds { close(fd) } }
        guard fds.count == 4 + Int(r.process.extras.preserveFDs) else {
            let why = "oci_exec carries \(fds.count) fds but names 4 and \(r.process.extras.preserveFDs) preserved"
            return Outcome(reply: .failed(Failure(errno: EINVAL, step: .stdio, message: why)), decision: .denied(reason: why),
                           result: "EINVAL", detail: "oci \(r.id) exec")
        }
        let beyond = capabilitiesBeyondPolicy(r.process.allCapabilities)
        if !beyond.isEmpty {
            let why = "the process asks for \(beyond.joined(separator: ", ")), which policy \(policy.name) does not allow"
            return Outcome(reply: .failed(Failure(errno: EPERM, step: .policy, message: why)), decision: .denied(reason: why),
                           result: "EPERM", detail: "oci \(r.id) exec")
        }
        // Without the container's user namespace an exec runs with the host's ids, and the
        // helper's CAP_SETUID/CAP_SETGID would apply to the host's: a non-root caller must join it.
        if caller.uid != 0 && !r.namespaces.contains(.user) {
            return refuseTarget("an exec by a non-root caller must join the container's user namespace (namespaces must include user); without it the process would run with the host's ids",
                                id: r.id, what: "exec")
        }
        let pidfd: Int32
        switch verifiedPidfd(r.pid, startTime: r.startTime) {
        case .failure(let o): return o
        case .success(let fd): pidfd = fd
        }
        defer { system.close(pidfd) }
        // The target must be one of the caller's containers, not any process the caller owns.
        switch callersContainer(pidfd: pidfd, pid: r.pid, startTime: r.startTime, cgroup: r.cgroup) {
        case .failure(let refusal): return refuseTarget(refusal.reason, id: r.id, what: "exec")
        case .success(let target):
            if caller.uid != 0 && target.inHelperUserNamespace {
                return refuseTarget("process \(r.pid) is in the host's user namespace: a non-root caller may exec only into a container with a user namespace of its own",
                                    id: r.id, what: "exec")
            }
        }
        // The C memory (and the cgroup.procs descriptors) live until the trampoline returns.
        let memory = ConfigMemory()
        var procs: [Int32] = []
        if !r.cgroup.isEmpty, let cg = try? cgroups.open(name: r.cgroup) {
            for dir in cg.directories {
                let fd = envyro_openat2_beneath(dir.fd, dir.joinFile, O_WRONLY, 0)
                if fd >= 0 { procs.append(fd); memory.adopt(fd) }
            }
        }
        // A trusted host root's exec keeps what it asks and gets no filter of the policy's own
        // (runc's behaviour); everyone else is held to the policy.
        let trusted = trustsCallerAsHostRoot
        let capKeep = trusted ? r.process.allCapabilities : policy.capabilities.keepSet.rawValue & r.process.allCapabilities
        let policyFilter: SeccompProgram?
        do { policyFilter = trusted ? nil : try seccomp.filter(capabilities: capKeep) } catch {
            return failure(EINVAL, step: .seccomp, "policy \(policy.name)'s seccomp profile: \(error)")
        }
        var programs: [(bpf: [UInt8], flags: UInt32)] = []
        if let f = policyFilter { programs.append((f.bpf, f.installFlags)) }
        if !r.process.seccomp.isEmpty { programs.append((r.process.seccomp, 0)) }
        let (filters, filterCount) = memory.filters(programs)
        let p = r.process
        var cfg = envyro_exec_config(
            target_pidfd: pidfd, ns_flags: r.namespaces.cloneFlags,
            cgroup_procs: memory.values(procs), cgroup_procs_count: Int32(procs.count),
            stdio: (fds[0], fds[1], fds[2]),
            console_fd: r.hasConsole && fds.count > 3 ? fds[3] : -1,
            console_rows: p.consoleRows, console_cols: p.consoleCols,
            cwd: memory.string(p.cwd), argv: memory.strings(p.argv), envp: memory.strings(p.env),
            search_path: memory.string(SpawnPlan.searchPath(p.env)),
            uid: p.uid, gid: p.gid, additional_gids: memory.values(p.additionalGids), additional_gid_count: Int32(p.additionalGids.count),
            umask: p.umask,
            rlimits: memory.values(p.rlimits.map { envyro_rlimit(resource: $0.resource, soft: $0.soft, hard: $0.hard) }),
            rlimit_count: Int32(p.rlimits.count),
            cap_bounding: p.capBounding & capKeep, cap_effective: p.capEffective & capKeep,
            cap_permitted: p.capPermitted & capKeep, cap_inheritable: p.capInheritable & capKeep,
            cap_ambient: p.capAmbient & capKeep,
            no_new_privs: ((policy.process.noNewPrivileges && !trusted) || p.noNewPrivileges) ? 1 : 0,
            filters: filters, filter_count: filterCount,
            detached: r.detached ? 1 : 0,
            ioprio: 0, has_personality: 0, personality: 0, keep_groups: 0, preserved_fds: nil, preserved_fd_count: 0)
        cfg.setExtras(p.extras, preserved: Array(fds.dropFirst(4)), memory: memory)
        // A container in a time namespace of its own: the process joins it too.
        if Self.differentTimeNamespace(pid: r.pid) { cfg.ns_flags |= ENVYRO_CLONE_NEWTIME }

        var pid: pid_t = 0
        var step: Int32 = 0
        let e = withExtendedLifetime(memory) { system.execInContainer(&cfg, pid: &pid, step: &step) }
        if e != 0 {
            let name = FailureStep(childStep: step)
            return failure(e, step: name, "\(name): \(Errno.describe(e))")
        }
        return Outcome(reply: .created(Created(containerID: 0, pid: pid)), decision: .allowed, result: "ok",
                       detail: "oci \(r.id) exec pid \(pid) \(p.argv.first ?? "")")
    }
}
