// The create sequence after the checks, in steps of its own: a pure plan (SpawnPlan), its C
// config (ContainerConfigBuilder), the resources only a syscall can give (the policy's compiled
// filter, the cgroup, its procs files, a pooled network namespace), clone, the id-map
// handshake, and waiting for the child's exec. A `create` and a prewarmed member come through
// `spawn`; an OCI bundle through `spawnOCI` (OCISpawn.swift), which shares every step but its
// own (joined namespaces, the OCI config, the hold before `start`).
import CEnvyro
import EnvyroCgroup
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem
import Glibc

extension HelperServer {
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

    /// Clones a `create`'s first process with everything the policy and request say. Cold:
    /// returns once it has exec'd (or says which step failed). Prewarm: returns once it is
    /// cloned, with its error pipe, sync fd and go socket open (the event loop does the rest).
    /// `precreated`: a prewarmed member's cgroup, made (or taken from the pool) in a step of its own.
    func spawn(_ r: CreateRequest, stdio: [Int32], idMaps: IDMapPlan?, prewarm: Bool,
               precreated: PooledCgroup? = nil) -> Result<Spawned, Outcome> {
        let plan = SpawnPlan(run: r, policy: policy, prewarm: prewarm, prewarming: prewarming,
                             precreated: precreated != nil, stdioCount: stdio.count)
        let builder = ContainerConfigBuilder(plan, stdio: stdio)
        let made: PooledCgroup?
        switch prepare(plan, builder, precreated: precreated) {
        case .failure(let outcome): return .failure(outcome)
        case .success(let got): made = got
        }
        let cgroup = made?.cgroup
        // A pooled network namespace instead of a new one, when the plan allows one and the pool
        // has one (a daemon helper's; see NetnsPool).
        var pooled: (fd: Int32, flavor: NetnsPool.Flavor, reused: Bool)? = nil
        if let flavor = plan.pooledNetns, let got = netns.take(flavor) {
            pooled = (got.fd, flavor, got.reused)
            builder.usePooledNetns(got.fd, home: got.home)
        }
        let h: envyro_container_handles
        switch cloneChild(builder) {
        case .failure(let outcome):
            if let p = pooled { netns.giveBack(p.fd, p.flavor) }
            try? cgroup?.remove()
            return .failure(outcome)
        case .success(let handles): h = handles
        }
        if plan.timed { step("clone") }
        var live = LiveContainer(id: nextContainerID, pid: h.pid, pidfd: h.pidfd, cgroup: cgroup)
        // Its cgroup may serve another run after this one (CgroupPool): a generated one.
        live.reusableLimits = made?.reusableLimits
        live.cgroupReused = made?.reused ?? false
        if let p = pooled {
            live.netns = p.fd
            live.netnsFlavor = p.flavor
            live.netnsUse = p.reused ? .pooledReused : .pooledNew
        }
        let maps = plan.newUserNamespace ? idMaps : nil
        if plan.prewarm {
            // The rest happens in the background, so the helper's loop is never held up by it:
            // the loop reads its READY record and does the handshake, then it builds its root
            // and says PREPARED.
            return .success(Spawned(live: live, errorFD: h.error_fd, goFD: h.go_fd, syncFD: h.sync_fd, idMaps: maps))
        }
        if let refused = handshakeOrKill(h, live, plan: plan, idMaps: maps) { return .failure(refused) }
        if plan.timed { step("id maps") }
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

    /// The steps between the plan and clone that need the kernel: the policy's seccomp filter
    /// (compiled once per capability set), the container's cgroup and the procs files the child
    /// joins it through. Returns the cgroup (nil: none); on failure, whatever was made is gone.
    func prepare(_ plan: SpawnPlan, _ builder: ContainerConfigBuilder,
                 precreated: PooledCgroup?) -> Result<PooledCgroup?, Outcome> {
        let policyFilter: SeccompProgram?
        do { policyFilter = plan.policyFilter ? try seccomp.filter(capabilities: plan.capabilities.rawValue) : nil } catch {
            return .failure(failure(EINVAL, step: .seccomp, "policy \(policy.name)'s seccomp profile: \(error)"))
        }
        builder.setFilters(policy: policyFilter, plan)

        // The cgroup exists before the child does; the child joins it before it execs, so every
        // page and task it ever has is charged and limited.
        var cgroup: PooledCgroup? = nil
        switch plan.cgroup {
        case .none: break
        case .precreated: cgroup = precreated
        case .generated(let limits):
            do { cgroup = try containerCgroup(limits) } catch {
                // A user the host gave no cgroup subtree: under `limits.withoutCgroup: "rlimits"`
                // the run goes ahead with what rlimits carry, and is told what that is.
                guard case .noSubtree = error, policy.limits.withoutCgroup == .rlimits else {
                    return .failure(failure(EPERM, step: .cgroup, cgroupAdvice(error)))
                }
                let name = IDMapPlan.userName(uid: caller.uid) ?? String(caller.uid)
                let fallback = RlimitFallback(limits, setupHint: "`sudo envyro setup --user \(name)`")
                builder.setRlimits(fallback.rlimits)
                limitNote = fallback.note
            }
        case .named(let name, let limits):
            // An OCI container always gets its named cgroup when the caller has a subtree (for
            // kill --all, pause, update, ps); without one, only limits make that an error
            // (rootless without a delegated subtree, or root of another user namespace: rootless
            // podman's, rootless containerd's). Limits that are the kernel's defaults restrict
            // nothing and are not missed (OCISpawn.swift).
            do { cgroup = PooledCgroup(cgroup: try system.createCgroup(cgroups, name: name, limits: limits), reused: false, reusableLimits: nil) } catch {
                if !limits.restrictsNothing { return .failure(failure(EPERM, step: .cgroup, cgroupAdvice(error))) }
            }
        }
        if plan.timed { step("seccomp filter, cgroup") }
        // The child joins its cgroup itself, through these (closed with the builder, after clone).
        if let cg = cgroup?.cgroup {
            do { builder.setCgroupJoin(try cg.openJoinFiles()) } catch {
                try? cg.remove()
                return .failure(failure(error.errno, step: .cgroup, "cannot place the container in its cgroup: \(error)"))
            }
        }
        return .success(cgroup)
    }

    /// A generated cgroup with `limits`: one a reaped container left in the pool, or a new one.
    func containerCgroup(_ limits: CgroupLimits) throws(CgroupError) -> PooledCgroup {
        while let cg = cgroupPool.take(limits) {
            if cg.resetCounters() { return PooledCgroup(cgroup: cg, reused: true, reusableLimits: limits) }
            retiring.append((0, cg))
        }
        return PooledCgroup(cgroup: try system.createCgroup(cgroups, name: nil, limits: limits), reused: false, reusableLimits: limits)
    }

    /// clone3 with the builder's config; the child's handles, or the clone step's failure (the
    /// caller removes what it made for the child).
    func cloneChild(_ builder: ContainerConfigBuilder) -> Result<envyro_container_handles, Outcome> {
        var h = envyro_container_handles()
        h.go_fd = -1
        let e = system.cloneContainer(&builder.config, &h)
        if e != 0 {
            return .failure(failure(e, step: .clone, "cannot create the container's namespaces: \(Errno.describe(e))"))
        }
        return .success(h)
    }

    /// The handshake of a child waited for now (not a prewarmed member's): on failure its error
    /// pipe and go socket are closed, it is killed, and the reason returned.
    func handshakeOrKill(_ h: envyro_container_handles, _ live: LiveContainer, plan: SpawnPlan, idMaps: IDMapPlan?) -> Outcome? {
        guard let refused = handshake(pid: h.pid, errorFD: h.error_fd, syncFD: h.sync_fd, idMaps: idMaps,
                                      oomScoreAdj: plan.oomScoreAdj) else { return nil }
        close(h.error_fd)
        if h.go_fd >= 0 { close(h.go_fd) }
        kill(live)
        return refused
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
}
