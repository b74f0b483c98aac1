import CEnvyro
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// Prewarmed containers: for a request shape seen before, a child already exists with its
/// namespaces, id maps, cgroup (limits written, the child placed in it) and root filesystem,
/// waiting for only its run's details (hostname, cwd, argv, env, stdio). Starting it is one
/// message; the slow steps (mounts, and a cgroup migration that can wait for an RCU grace
/// period) happened in the background, after the previous reply.
///
/// Only shapes that carry nothing per run beyond those details are pooled: the built-in rootfs,
/// no extra seccomp program. A member is this helper's own child (pidfd), dies with the helper
/// (parent-death signal), and is killed and its cgroup removed when the helper exits.
///
/// A member goes through three states, each ended by a record on its error pipe that the event
/// loop reads: cloned (READY: the loop writes its id maps), preparing (PREPARED), prepared.
struct WarmMember {
    var spawned: HelperServer.Spawned
    var key: String
    /// Its READY record and id maps are still to come (`spawned.syncFD` is open until then).
    var handshakePending: Bool { spawned.syncFD >= 0 }
    /// It reported PREPARED (its root is built and it waits for a run).
    var prepared = false
}

extension HelperServer {
    /// Members kept per shape, and in all (the policy's `pools` section).
    var warmPerKey: Int { policy.pools.prewarmedPerShape }
    var warmTotal: Int { policy.pools.prewarmedTotal }

    /// The shape of `r`, or nil when it can't be prewarmed.
    func warmKey(_ r: CreateRequest) -> String? {
        // init is decided at prepare time too (its workload gets the filter after its fork).
        guard r.rootfs.isEmpty, !r.rootfsWritable, r.seccomp.isEmpty, !r.useInit else { return nil }
        let l = r.limits
        let maps = (r.uidMappings + [IDMapping(containerID: 0, hostID: 0, count: 0)] + r.gidMappings)
            .map { "\($0.containerID):\($0.hostID):\($0.count)" }.joined(separator: ",")
        // Optionals spelled by hand: String(describing:) of an Optional goes through Mirror.
        func o<T: BinaryInteger>(_ v: T?) -> String { v.map { "\($0)" } ?? "-" }
        let limits = [o(l.memoryMax), o(l.memorySwapMax), o(l.pidsMax), o(l.cpuQuotaMicros), o(l.cpuPeriodMicros),
                      o(l.cpuShares), l.cpusetCpus ?? "", l.cpusetMems ?? "", o(l.ioWeight)].joined(separator: ",")
        return "\(r.hostname)|\(r.namespaces.rawValue)|\(r.network.rawValue)|\(r.capabilities)|\(maps)|\(limits)"
    }

    /// Removes and returns a ready member of shape `key`.
    func takeWarm(_ key: String) -> WarmMember? {
        if let i = warm.firstIndex(where: { $0.key == key && $0.prepared }) { return warm.remove(at: i) }
        // One still preparing is finished sooner than a cold start could be (the slow part, the
        // cgroup migration, is the same): wait for it.
        guard let first = warm.firstIndex(where: { $0.key == key }) else { return nil }
        let pid = warm[first].spawned.live.pid
        // Its next record (READY, then PREPARED), as the event loop would read it, until it is
        // prepared or gone.
        while let i = warm.firstIndex(where: { $0.spawned.live.pid == pid }), !warm[i].prepared {
            memberReported(i)
        }
        guard let i = warm.firstIndex(where: { $0.spawned.live.pid == pid }) else { return nil }
        return warm.remove(at: i)
    }

    /// The error pipe of member `i` is readable (or will be: this reads, blocking): READY (its
    /// id-map handshake is done now), PREPARED (ready), or it failed (discarded).
    func memberReported(_ i: Int) {
        if warm[i].handshakePending {
            let s = warm[i].spawned
            warm[i].spawned.syncFD = -1   // the handshake closes it
            if handshake(pid: s.live.pid, errorFD: s.errorFD, syncFD: s.syncFD, idMaps: s.idMaps, oomScoreAdj: nil) != nil {
                discard(warm.remove(at: i))
            }
            return
        }
        var report = envyro_child_error()
        if readRecord(warm[i].spawned.errorFD, &report) == MemoryLayout<envyro_child_error>.size,
           report.step == Int32(ENVYRO_STEP_PREPARED.rawValue) {
            warm[i].prepared = true
        } else {
            discard(warm.remove(at: i))
        }
    }

    /// Sends a member its run and waits for its execve (EOF on the error pipe).
    func start(_ m: WarmMember, _ r: CreateRequest, stdio: [Int32]) -> Result<LiveContainer, Outcome> {
        var live = m.spawned.live
        live.id = nextContainerID
        defer { close(m.spawned.errorFD) }
        // The run's details for the member: useInit, argc, envc (u32 each), then hostname, cwd,
        // PATH, argv and env NUL-terminated. The buffer is sized first (never regrown, so no
        // partial copy is left behind) and zeroed once sent: it holds the run's secrets.
        let path = SpawnPlan.searchPathInside(r.env).map { UnsafeRawBufferPointer(start: $0, count: strlen($0)) }
        var size = 12 + r.hostname.utf8.count + r.cwd.utf8.count + (path?.count ?? SpawnPlan.defaultSearchPath.utf8.count) + 3
        for list in [r.argv, r.env] { for i in 0..<list.count { size += list[i].count + 1 } }
        var packed: [UInt8] = []
        packed.reserveCapacity(size)
        defer { Codec.zero(&packed) }
        func u32(_ v: UInt32) { for s in stride(from: 0, to: 32, by: 8) { packed.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) } }
        func text<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
            packed.append(contentsOf: bytes)
            packed.append(0)
        }
        u32(r.useInit ? 1 : 0)
        u32(UInt32(r.argv.count))
        u32(UInt32(r.env.count))
        text(r.hostname.utf8)
        text(r.cwd.utf8)
        if let path { text(path) } else { text(SpawnPlan.defaultSearchPath.utf8) }
        for list in [r.argv, r.env] { for i in 0..<list.count { text(list[i]) } }
        let e = system.sendGo(fd: m.spawned.goFD, packed: packed, stdio: stdio)
        close(m.spawned.goFD)
        if e != 0 {
            warmDiscarded &+= 1
            kill(live)
            return .failure(failure(e, step: .go, "a prewarmed container was gone"))
        }
        var report = envyro_child_error()
        if readRecord(m.spawned.errorFD, &report) == MemoryLayout<envyro_child_error>.size {
            kill(live)
            let step = FailureStep(childStep: report.step)
            // A failure of the run itself (exec, cwd) is the run's error, not a stale member's.
            return .failure(failure(report.err, step: step, "\(step): \(Errno.describe(report.err))"))
        }
        return .success(live)
    }

    /// When idle after a reply: takes one step towards one more member for the shape just used,
    /// if it has fewer than the policy's number; the loop calls again (polling in between, so a
    /// container that exits meanwhile is reaped at once) until it has them. The steps: make its
    /// cgroup (the mkdirs are the slow part), then clone it. The id-map handshake happens when
    /// its READY record arrives; it joins its cgroup and builds its root on its own, and says
    /// PREPARED.
    func replenish() {
        guard let (key, r, maps) = wanted else { return }
        let perKey = min(warmPerKey, warmTotal)
        guard perKey > 0, warm.filter({ $0.key == key }).count < perKey else {
            wanted = nil
            retirePendingCgroup()
            return
        }
        if !r.limits.isEmpty && pendingCgroup?.key != key {
            retirePendingCgroup()
            do { pendingCgroup = (key, try containerCgroup(CgroupManager.limits(r.limits))) } catch {
                wanted = nil
            }
            return
        }
        // Room is made by dropping the oldest member of another shape.
        if warm.count >= warmTotal, let i = warm.firstIndex(where: { $0.key != key }) {
            discard(warm.remove(at: i))
        }
        let cgroup = pendingCgroup?.cgroup
        pendingCgroup = nil
        guard case .success(let s) = spawn(r, stdio: [], idMaps: maps, prewarm: true, precreated: cgroup) else {
            wanted = nil
            return
        }
        warm.append(WarmMember(spawned: s, key: key))
        if warm.filter({ $0.key == key }).count >= perKey { wanted = nil }
    }

    /// A cgroup made for a member that won't be cloned now (another shape came first) is removed
    /// with the reaped containers' ones.
    func retirePendingCgroup() {
        if let p = pendingCgroup { retiring.append((0, p.cgroup.cgroup)) }
        pendingCgroup = nil
    }

    /// Kills a member that will not be used (counted as a discard).
    func discard(_ m: WarmMember) {
        warmDiscarded &+= 1
        close(m.spawned.errorFD)
        close(m.spawned.goFD)
        if m.spawned.syncFD >= 0 { close(m.spawned.syncFD) }
        kill(m.spawned.live)
    }
}

extension HelperServer {
    /// The discards since the last `Created`, reset to zero (the supervisor sums them).
    func takeDiscardCount() -> UInt32 {
        defer { warmDiscarded = 0 }
        return warmDiscarded
    }
}
