import CEnvyro
import EnvyroCgroup
import EnvyroAudit
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSeccomp
import EnvyroSystem
import Glibc

/// Host directories the built-in default rootfs binds read-only (missing ones are skipped).
let defaultHostBinds = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"]

extension NamespaceKind {
    var wire: NamespaceSet {
        switch self {
        case .user: .user
        case .pid: .pid
        case .mount: .mount
        case .uts: .uts
        case .ipc: .ipc
        case .cgroup: .cgroup
        case .network: .network
        }
    }
}

/// NUL-terminated copies of Swift strings that live until `free()`: the child gets a copy of
/// the address space at clone, so the parent can release them as soon as clone returns.
struct CStrings {
    var owned: [UnsafeMutablePointer<CChar>] = []
    var arrays: [UnsafeMutablePointer<UnsafePointer<CChar>?>] = []

    mutating func string(_ s: String) -> UnsafePointer<CChar> {
        let p = strdup(s)!
        owned.append(p)
        return UnsafePointer(p)
    }

    mutating func array(_ list: [String]) -> UnsafePointer<UnsafePointer<CChar>?> {
        let a = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: list.count + 1)
        for (i, s) in list.enumerated() { a[i] = string(s) }
        a[list.count] = nil
        arrays.append(a)
        return UnsafePointer(a)
    }

    func free() {
        for p in owned { Glibc.free(p) }
        for a in arrays { a.deallocate() }
    }
}

extension HelperServer {
    /// Why a create request is refused by this helper's policy, or nil when it is allowed.
    /// The supervisor checks the same rules first to give a friendly message; this is the
    /// check that counts.
    func policyViolation(_ r: CreateRequest, stdio: [Int32]) -> String? {
        var required = NamespaceSet()
        for kind in policy.namespaces where kind != .network { required.formUnion(kind.wire) }
        if !r.namespaces.isSuperset(of: required) {
            return "policy \(policy.name) requires namespaces \(policy.namespaces.map(\.rawValue).sorted().joined(separator: ","))"
        }
        switch r.network {
        case .none:
            if !r.namespaces.contains(.network) { return "network none needs a network namespace" }
            if !policy.network.allowed.contains(.none) { return "network none is not allowed by policy \(policy.name)" }
        case .host:
            if r.namespaces.contains(.network) { return "network host can't have a network namespace" }
            if !policy.network.allowed.contains(.host) { return "network host is not allowed by policy \(policy.name)" }
        }
        if r.rootfsWritable && !policy.rootfs.allowWritable { return "a writable rootfs is not allowed by policy \(policy.name)" }
        if r.useInit && !policy.process.allowInit { return "an init process is not allowed by policy \(policy.name)" }
        if r.argv.count > policy.process.maxArgs { return "too many arguments (\(r.argv.count) > \(policy.process.maxArgs))" }
        if r.env.count > policy.process.maxEnv { return "too many environment variables (\(r.env.count) > \(policy.process.maxEnv))" }
        if r.hostname.utf8.count > 64 { return "hostname longer than 64 bytes" }
        if !r.rootfs.isEmpty {
            if !r.rootfs.hasPrefix("/") { return "rootfs must be an absolute path" }
            if Files.kind(r.rootfs) != .directory { return "rootfs \(r.rootfs) is not a directory" }
        }
        if stdio.count != 3 { return "create needs exactly 3 stdio descriptors" }
        return nil
    }

    /// `create`: clones the container's first process into fresh namespaces, writes its id maps,
    /// lets it build its root and exec, and reports its pid (or the step that failed).
    func create(_ r: CreateRequest, stdio: [Int32]) -> Outcome {
        defer { for fd in stdio { close(fd) } }
        if let why = policyViolation(r, stdio: stdio) {
            return Outcome(reply: .failed(Failure(errno: EPERM, step: .policy, message: why)),
                           decision: .denied(reason: why), result: "EPERM")
        }
        if let why = CgroupManager.violation(r.limits, policy: policy) {
            return Outcome(reply: .failed(Failure(errno: EPERM, step: .policy, message: why)),
                           decision: .denied(reason: why), result: "EPERM")
        }
        var idMaps: IDMapPlan? = nil
        if r.namespaces.contains(.user) {
            switch IDMapPlan.make(uids: r.uidMappings, gids: r.gidMappings, caller: caller, policy: policy) {
            case .success(let plan): idMaps = plan
            case .failure(let refusal):
                return Outcome(reply: .failed(Failure(errno: EPERM, step: .idMap, message: refusal.reason)),
                               decision: .denied(reason: refusal.reason), result: "EPERM")
            }
        } else if !r.uidMappings.isEmpty || !r.gidMappings.isEmpty {
            let why = "id maps need a user namespace"
            return Outcome(reply: .failed(Failure(errno: EINVAL, step: .idMap, message: why)),
                           decision: .denied(reason: why), result: "EINVAL")
        }

        // A prewarmed child of the same shape only needs its run's details; a cold start builds
        // everything now. Either way the next run of this shape finds one ready.
        let key = warmKey(r)
        if let key { wanted = (key, r, idMaps) }
        step("checks")
        if let key, let member = takeWarm(key) {
            step("prewarmed container ready")
            switch start(member, r, stdio: stdio) {
            case .success(let live):
                step("run sent, exec")
                return created(live, prewarmed: true)
            case .failure(let outcome):
                // The run's own failure (exec, cwd) is its answer; a stale member means a cold start.
                guard case .failed(let f) = outcome.reply, f.step == .go else { return outcome }
            }
        }
        switch spawn(r, stdio: stdio, idMaps: idMaps, prewarm: false) {
        case .failure(let outcome):
            return outcome
        case .success(let spawned):
            step("root built, exec")
            return created(spawned.live, prewarmed: false)
        }
    }

    /// Records a started container and answers `create` with it: the reply, with the pools'
    /// discards since the last one and the helper's steps, and the audit detail.
    func created(_ live: LiveContainer, prewarmed: Bool) -> Outcome {
        containers[live.id] = live
        nextContainerID &+= 1
        let reply = Created(containerID: live.id, pid: live.pid, prewarmed: prewarmed, prewarmedDiscarded: takeDiscardCount(),
                            networkNamespace: live.netnsUse, networkNamespacesDiscarded: netns.takeDiscardCount(), steps: steps)
        let notes = (prewarmed ? ["prewarmed"] : []) + [
            live.netnsUse == .pooledReused ? "network namespace reused from the pool" : nil,
            live.netnsUse == .pooledNew ? "network namespace new to the pool" : nil,
        ].compactMap { $0 }
        return Outcome(reply: .created(reply), decision: .allowed, result: "ok",
                       detail: "container \(live.id) pid \(live.pid)" + (notes.isEmpty ? "" : " (\(notes.joined(separator: ", ")))"))
    }

    /// A started child: live (cold start, exec done) or, prewarmed, cloned and left to the event
    /// loop: its id-map handshake still to do (`syncFD` open), then its root to build.
    struct Spawned {
        var live: LiveContainer
        var errorFD: Int32
        var goFD: Int32
        var syncFD: Int32 = -1
        /// The maps `handshake` writes (nil: no user namespace).
        var idMaps: IDMapPlan? = nil
    }

    /// Clones a container's first process with everything the policy and request say. Cold:
    /// returns once it has exec'd (or says which step failed). Prewarm: returns once it waits
    /// for its run, with its error pipe and go socket still open.
    /// `precreated`: the container's cgroup, made already (a prewarmed member's, in a step of
    /// its own); it is removed if the spawn fails.
    func spawn(_ r: CreateRequest, stdio: [Int32], idMaps: IDMapPlan?, prewarm: Bool, oci: OCIPlan? = nil,
               precreated: ContainerCgroup? = nil) -> Result<Spawned, Outcome> {
        var flags = r.namespaces.cloneFlags

        let searchPath = Self.searchPath(r)
        var strings = CStrings()
        defer { strings.free() }
        let noStdio: [Int32] = [-1, -1, -1]
        let io = stdio.count == 3 ? stdio : noStdio
        var cfg = envyro_container_config(
            clone_flags: flags,
            stdio: (io[0], io[1], io[2]),
            hostname: r.hostname.isEmpty ? nil : strings.string(r.hostname),
            // As given: the child opens it with no symlink allowed on the way (rootfs.c), so
            // a component swapped for a symlink after the checks fails instead of leading
            // elsewhere (CVE-2021-30465 class). Canonicalizing it here would follow the swap.
            rootfs: r.rootfs.isEmpty ? nil : strings.string(r.rootfs),
            rootfs_readonly: r.rootfsWritable ? 0 : 1,
            host_binds: strings.array(defaultHostBinds),
            cwd: strings.string(r.cwd),
            argv: strings.array(r.argv),
            envp: strings.array(r.env),
            search_path: strings.string(searchPath),
            loopback_up: r.network == .none ? 1 : 0,
            use_init: r.useInit ? 1 : 0,
            no_new_privs: policy.process.noNewPrivileges ? 1 : 0,
            cap_keep: 0, cap_ambient: 0, filters: nil, filter_count: 0, masked_paths: nil, readonly_paths: nil,
            prewarm: prewarm ? 1 : 0, cgroup_procs: nil, cgroup_procs_count: 0, oci: nil,
            netns_fd: -1, netns_home_fd: -1)

        // Capabilities: what the policy keeps, narrowed by what the request asks for. (An OCI
        // bundle's sets were checked against the policy already: see ociCreate.)
        let capKeep = policy.capabilities.keepSet.rawValue & (oci.map { $0.request.process.allCapabilities } ?? r.capabilities)
        cfg.cap_keep = capKeep
        cfg.cap_ambient = policy.capabilities.ambient ? 1 : 0
        // Seccomp: the policy's own filter (compiled by this helper), then the request's extra
        // program stacked on it. Stacked filters can only restrict further.
        let policyFilter: SeccompProgram?
        do { policyFilter = try seccomp.filter(capabilities: capKeep) } catch {
            return .failure(failure(EINVAL, step: .seccomp, "policy \(policy.name)'s seccomp profile: \(error)"))
        }
        var programs: [[UInt8]] = []
        var installFlags: [UInt32] = []
        if let f = policyFilter { programs.append(f.bpf); installFlags.append(f.installFlags) }
        if !r.seccomp.isEmpty { programs.append(r.seccomp); installFlags.append(0) }
        if let o = oci, !o.request.process.seccomp.isEmpty { programs.append(o.request.process.seccomp); installFlags.append(0) }
        let filterArray = UnsafeMutablePointer<envyro_bpf>.allocate(capacity: max(programs.count, 1))
        defer { filterArray.deallocate() }
        let filterStorage = programs.map { p -> UnsafeMutableRawPointer in
            let m = UnsafeMutableRawPointer.allocate(byteCount: max(p.count, 8), alignment: 8)
            p.withUnsafeBytes { m.copyMemory(from: $0.baseAddress!, byteCount: p.count) }
            return m
        }
        defer { for m in filterStorage { m.deallocate() } }
        for (i, p) in programs.enumerated() {
            filterArray[i] = envyro_bpf(data: UnsafeRawPointer(filterStorage[i]), length: UInt32(p.count), flags: installFlags[i])
        }
        cfg.filters = UnsafePointer(filterArray)
        cfg.filter_count = Int32(programs.count)
        // The policy's paths and the bundle's, each once.
        func union(_ a: [String], _ b: [String]) -> [String] { a + b.filter { !a.contains($0) } }
        cfg.masked_paths = strings.array(union(policy.mounts.maskedPaths, oci?.request.maskedPaths ?? []))
        cfg.readonly_paths = strings.array(union(policy.mounts.readonlyPaths, oci?.request.readonlyPaths ?? []))
        if let o = oci {
            let p = o.request.process
            cfg.cwd = strings.string(p.cwd)
            cfg.argv = strings.array(p.argv)
            cfg.envp = strings.array(p.env)
            cfg.search_path = strings.string(Self.searchPath(p.env))
            cfg.use_init = 0
            cfg.no_new_privs = (policy.process.noNewPrivileges || p.noNewPrivileges) ? 1 : 0
            cfg.loopback_up = r.namespaces.contains(.network) ? 1 : 0
        }

        // The cgroup exists before the child does; the child joins it before it execs, so every
        // page and task it ever has is charged and limited.
        var cgroup: ContainerCgroup? = nil
        if let o = oci, !o.request.cgroup.isEmpty {
            // An OCI container always gets its named cgroup when the caller has a subtree (for
            // kill --all, pause, update, ps); without one, only limits make that an error.
            var limits = CgroupManager.limits(r.limits)
            // Host root's container without a user namespace has the real root's devices: the
            // device cgroup decides which it may use (a user namespace can't mknod at all).
            if UserNamespace.isHostRoot && !r.namespaces.contains(.user) && !o.request.deviceRules.isEmpty {
                limits.deviceRules = o.request.deviceRules.map { rule in
                    let allow = rule.hasPrefix("allow ")
                    return CgroupLimits.DeviceRule(allow: allow, rule: String(rule.dropFirst(allow ? 6 : 5)))
                }
            }
            let huge = o.request.hugepageLimits.compactMap { h -> CgroupLimits.HugepageLimit? in
                let p = h.split(separator: "=", maxSplits: 1)
                return p.count == 2 ? UInt64(p[1]).map { CgroupLimits.HugepageLimit(pageSize: String(p[0]), limit: $0) } : nil
            }
            if !huge.isEmpty { limits.hugepageLimits = huge }
            let unified = o.request.unified.map { u -> CgroupLimits.UnifiedEntry in
                let p = u.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return CgroupLimits.UnifiedEntry(key: String(p[0]), value: p.count > 1 ? String(p[1]) : "")
            }
            if !unified.isEmpty { limits.unified = unified }
            do { cgroup = try system.createCgroup(cgroups, name: o.request.cgroup, limits: limits) } catch {
                // Without limits a container can do without (rootless without a delegated
                // subtree, or root of another user namespace: rootless podman's).
                if !limits.isEmpty { return .failure(failure(EPERM, step: .cgroup, cgroupAdvice(error))) }
            }
        } else if let pre = precreated {
            cgroup = pre
        } else if !r.limits.isEmpty {
            do { cgroup = try system.createCgroup(cgroups, name: nil, limits: CgroupManager.limits(r.limits)) } catch {
                return .failure(failure(EPERM, step: .cgroup, cgroupAdvice(error)))
            }
        }

        // A cold start's steps are timed for `Created` (a prewarmed member's happen between
        // requests, an OCI create answers with `oci_done`).
        let timed = !prewarm && oci == nil
        if timed { step("seccomp filter, cgroup") }
        // The child joins its cgroup itself, through these (closed here once it is cloned).
        var procs: [Int32] = []
        if let cg = cgroup {
            for dir in cg.directories {
                let fd = envyro_openat2_beneath(dir.fd, "cgroup.procs", O_WRONLY, 0)
                if fd < 0 {
                    let e = SystemError.current("open", dir.path + "/cgroup.procs")
                    for p in procs { close(p) }
                    try? cg.remove()
                    return .failure(failure(e.errno, step: .cgroup, "cannot place the container in its cgroup: \(e)"))
                }
                procs.append(fd)
            }
        }
        defer { for p in procs { close(p) } }
        let procsArray = UnsafeMutablePointer<Int32>.allocate(capacity: max(procs.count, 1))
        defer { procsArray.deallocate() }
        for (i, fd) in procs.enumerated() { procsArray[i] = fd }
        cfg.cgroup_procs = UnsafePointer(procsArray)
        cfg.cgroup_procs_count = Int32(procs.count)

        // The OCI part: mounts, devices, user, rlimits, joined namespaces, start and console.
        var ociStorage: OCIStorage? = nil
        defer { ociStorage?.free() }
        if let o = oci {
            let built: OCIStorage
            switch OCIStorage.build(o, strings: &strings) {
            case .success(let b): built = b
            case .failure(let e):
                try? cgroup?.remove()
                return .failure(failure(e.errno, step: .openNamespace, "cannot open linux.namespaces path: \(e)"))
            }
            ociStorage = built
            cfg.oci = UnsafePointer(built.config)
            // Joined namespaces are not created.
            for (kind, _) in o.request.joinNamespaces { flags &= ~kind.cloneFlags }
            cfg.clone_flags = flags
        }

        // A daemon helper's container with only loopback gets a pooled network namespace
        // (NetnsPool), unless it keeps a capability whose meaning depends on who owns the
        // namespace it is in: it then makes its own, as does any container when there is no pool.
        var pooled: (fd: Int32, flavor: NetnsPool.Flavor, reused: Bool)? = nil
        let kept = CapabilitySet(rawValue: capKeep)
        if oci == nil, prewarming, flags & ENVYRO_CLONE_NEWNET != 0, r.network == .none, kept.isDisjoint(with: [.netAdmin, .netRaw]) {
            let flavor: NetnsPool.Flavor = kept.contains(.netBindService) ? .lowPorts : .plain
            if let got = netns.take(flavor) {
                pooled = (got.fd, flavor, got.reused)
                flags &= ~ENVYRO_CLONE_NEWNET
                cfg.clone_flags = flags
                cfg.loopback_up = 0
                cfg.netns_fd = got.fd
                cfg.netns_home_fd = got.home
            }
        }

        var h = envyro_container_handles()
        h.go_fd = -1
        let e = system.cloneContainer(&cfg, &h)
        if e != 0 {
            if let p = pooled { netns.giveBack(p.fd, p.flavor) }
            try? cgroup?.remove()
            return .failure(failure(e, step: .clone, "cannot create the container's namespaces: \(Errno.describe(e))"))
        }

        if timed { step("clone") }
        var live = LiveContainer(id: nextContainerID, pid: h.pid, pidfd: h.pidfd, cgroup: cgroup)
        if let p = pooled {
            live.netns = p.fd
            live.netnsFlavor = p.flavor
            live.netnsUse = p.reused ? .pooledReused : .pooledNew
        }
        let maps = flags & ENVYRO_CLONE_NEWUSER != 0 ? idMaps : nil
        if prewarm {
            // The rest happens in the background, so the helper's loop is never held up by it:
            // the loop reads its READY record and does the handshake, then it builds its root
            // and says PREPARED.
            return .success(Spawned(live: live, errorFD: h.error_fd, goFD: h.go_fd, syncFD: h.sync_fd, idMaps: maps))
        }
        if let refused = handshake(pid: h.pid, errorFD: h.error_fd, syncFD: h.sync_fd, idMaps: maps, oomScoreAdj: oci?.request.oomScoreAdj) {
            close(h.error_fd)
            if h.go_fd >= 0 { close(h.go_fd) }
            kill(live)
            return .failure(refused)
        }
        if timed { step("id maps") }
        if oci != nil {
            // Held: it reports PREPARED once everything is ready and it waits for `start`.
            var report = envyro_child_error()
            let got = readRecord(h.error_fd, &report)
            close(h.error_fd)
            if got == MemoryLayout<envyro_child_error>.size && report.step == Int32(ENVYRO_STEP_PREPARED.rawValue) {
                return .success(Spawned(live: live, errorFD: -1, goFD: -1))
            }
            kill(live)
            if got == MemoryLayout<envyro_child_error>.size {
                let step = FailureStep(childStep: report.step)
                if report.step == Int32(ENVYRO_STEP_EXEC.rawValue), let o = oci, let program = o.request.process.argv.first {
                    // runc's wording, which engines show: name the program.
                    let why = report.err == ENOENT
                        ? (program.contains("/") ? "stat \(program): no such file or directory" : "executable file not found in $PATH")
                        : Errno.describe(report.err)
                    return .failure(failure(report.err, step: step, "exec: \"\(program)\": \(why)"))
                }
                return .failure(failure(report.err, step: step, "\(step): \(Errno.describe(report.err))"))
            }
            return .failure(failure(EPIPE, step: .prepare, "the container's first process exited before it was ready"))
        }

        var report = envyro_child_error()
        let got = readRecord(h.error_fd, &report)
        // The error pipe is close-on-exec: EOF means the workload's execve succeeded.
        close(h.error_fd)
        if got == MemoryLayout<envyro_child_error>.size {
            kill(live)
            let step = FailureStep(childStep: report.step)
            return .failure(failure(report.err, step: step, "\(step): \(Errno.describe(report.err))"))
        }
        return .success(Spawned(live: live, errorFD: -1, goFD: -1))
    }

    /// The id-map handshake with a child just cloned: its READY record (it made itself dumpable,
    /// so its /proc files are ours), its id maps and oom_score_adj, then the sync byte. Closes
    /// `syncFD`; on failure returns why (the caller kills the child).
    func handshake(pid: pid_t, errorFD: Int32, syncFD: Int32, idMaps: IDMapPlan?, oomScoreAdj: Int32?) -> Outcome? {
        defer { close(syncFD) }
        var ready = envyro_child_error()
        if readRecord(errorFD, &ready) != MemoryLayout<envyro_child_error>.size || ready.step != Int32(ENVYRO_STEP_READY.rawValue) {
            if ready.step != Int32(ENVYRO_STEP_READY.rawValue) && ready.step != 0 {
                let step = FailureStep(childStep: ready.step)
                return failure(ready.err, step: step, "\(step): \(Errno.describe(ready.err))")
            }
            return failure(EPIPE, step: .handshake, "the container's first process exited before its id maps were written")
        }
        if let maps = idMaps {
            do { try system.writeIDMaps(maps, pid: pid) } catch {
                let hint = maps.multiRange && error.errno == EPERM
                    ? " (multi-range maps need the installed envyro-nshelper with cap_setuid,cap_setgid: sudo make install)" : ""
                return failure(error.errno, step: .idMap, "cannot write the id maps: \(error)\(hint)")
            }
        }
        if let adj = oomScoreAdj {
            do { try system.writeOOMScore(adj, pid: pid) } catch {
                let e = error.errno
                return failure(e, step: .oomScore, "cannot set process.oomScoreAdj to \(adj): \(Errno.describe(e)) (lowering it needs CAP_SYS_RESOURCE)")
            }
        }
        var go: UInt8 = 1
        _ = write(syncFD, &go, 1)
        return nil
    }

    static func searchPath(_ r: CreateRequest) -> String { searchPath(r.env) }

    static func searchPath(_ env: [String]) -> String {
        env.last(where: { $0.hasPrefix("PATH=") }).map { String($0.dropFirst(5)) }
            ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    }

    /// What to tell a user whose limits can't be applied.
    func cgroupAdvice(_ error: CgroupError) -> String {
        if case .noSubtree = error {
            let name = IDMapPlan.userName(uid: caller.uid) ?? String(caller.uid)
            return "cgroup limits need a delegated cgroup subtree (\(cgroups.subtreePath)), and there is none: run once, as root, `sudo envyro setup --user \(name)`; or run without limits (\(error))"
        }
        return "cannot apply the cgroup limits: \(error)"
    }

    /// `signal`: delivers a signal to one of this connection's containers, by pidfd.
    func signalContainer(_ r: SignalRequest) -> Outcome {
        guard let c = containers[r.containerID] else {
            return failure(ESRCH, step: .signal, "no container \(r.containerID) on this connection")
        }
        let e = system.signal(pidfd: c.pidfd, r.signal)
        if e != 0 {
            return failure(e, step: .signal, "pidfd_send_signal: \(Errno.describe(e))")
        }
        return Outcome(reply: .signalled(Signalled(containerID: r.containerID)), decision: .allowed,
                       result: "ok", detail: "container \(r.containerID) signal \(r.signal)")
    }

    /// Reads one child record (8 bytes) from the error pipe; returns the bytes read (0 at EOF).
    func readRecord(_ fd: Int32, _ record: inout envyro_child_error) -> Int {
        var got = 0
        while got < MemoryLayout<envyro_child_error>.size {
            let n = withUnsafeMutableBytes(of: &record) { read(fd, $0.baseAddress! + got, $0.count - got) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            got += n
        }
        return got
    }

    func failure(_ e: Int32, step: FailureStep, _ message: String) -> Outcome {
        Outcome(reply: .failed(Failure(errno: e, step: step, message: message)), decision: .allowed,
                result: String(cString: envyro_errno_name(e)), detail: step.name)
    }
}
