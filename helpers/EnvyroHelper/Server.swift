import CEnvyro
import EnvyroCgroup
import EnvyroAudit
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// The supervisor at the other end of the socket, by kernel credentials.
package struct Caller {
    /// Its uid (SO_PEERCRED).
    package var uid: uid_t
    /// Its gid.
    package var gid: gid_t
    /// Its pid.
    package var pid: pid_t

    /// Memberwise initialiser.
    package init(uid: uid_t, gid: gid_t, pid: pid_t) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
    }
}

/// A container this helper created and has not reaped yet.
struct LiveContainer {
    var id: UInt32
    var pid: pid_t
    var pidfd: Int32
    /// Its cgroup, when it has limits.
    var cgroup: (any ContainerCgroupHandle)? = nil
    /// The limits its cgroup was made with, when it may be reused after the run (a generated
    /// cgroup; never an OCI container's named one).
    var reusableLimits: CgroupLimits? = nil
    /// Its cgroup came from the pool of reaped containers' cgroups (CgroupPool).
    var cgroupReused = false
    /// Its pooled network namespace (NetnsPool), given back when it has ended; -1: none.
    var netns: Int32 = -1
    var netnsFlavor = NetnsPool.Flavor.plain
    /// How it got its network namespace, for `Created`.
    var netnsUse = NetworkNamespaceUse.own
}

/// What a handler decided, for the audit line and the reply. (An `Error` so a step can return
/// `Result<_, Outcome>`.)
struct Outcome: Error {
    var reply: Message
    var decision: AuditDecision
    var result: String
    var detail: String?
}

/// The helper's event loop: one socket, plus one pidfd per live container.
///
/// Phases, as in OpenSSH's monitor: `greeting` permits only `hello`; `ready` permits the
/// policy's verbs except `hello`; the rules are the rows of `VerbTable`. Anything unknown,
/// unpermitted or malformed is audited and closes the connection (which kills everything this
/// helper created).
package final class HelperServer {

    let socket: SeqPacketSocket
    let policy: Policy
    let audit: AuditLog
    let caller: Caller
    let seccomp: SeccompCache
    let cgroups: CgroupManager
    let maxFrame: Int
    /// The kernel, or a test's recording fake (Syscalls.swift).
    let system: any HelperSyscalls
    /// The verbs the policy lists (`helper.verbs`), by name.
    let policyVerbs: [String]
    var phase = HelperPhases.greeting
    /// The once-only verbs served on this connection (MON_ONCE).
    var served: Set<Verb> = []
    var containers: [UInt32: LiveContainer] = [:]
    /// Prewarmed containers waiting for a run (WarmPool.swift), and the shape to prepare next.
    var warm: [WarmMember] = []
    /// Prewarmed members thrown away since the last `Created` went out (reported in it).
    var warmDiscarded: UInt32 = 0
    var wanted: (String, CreateRequest, IDMapPlan?)? = nil
    /// The cgroup made for the next member of shape `key`, which the next idle step clones.
    var pendingCgroup: (key: String, cgroup: PooledCgroup)? = nil
    /// Prepare containers ahead of runs (the daemon's helpers only).
    var prewarming = false
    /// `hello` said `.oneShot`: exit once the first container's `exited` is out and none is left.
    var oneShot = false
    /// Before this time (monotonic ns) the next member is not cloned while a container is
    /// running (see `replenishWaitMs`).
    var replenishNotBefore: UInt64 = 0
    /// Cgroups of reaped containers, removed when the helper is idle (or at shutdown).
    var retiring: [(UInt32, any ContainerCgroupHandle)] = []
    /// Network namespaces reused across containers (daemon helpers only).
    var netns: NetnsPool
    /// Reaped containers' cgroups kept for the next run with the same limits (daemon helpers).
    var cgroupPool: CgroupPool
    /// The current request's steps and their durations, for `Created` (`--timings`).
    var steps: [HelperStep] = []
    /// What the current create's limits came to without a cgroup (RlimitFallback), for `Created`.
    var limitNote = ""
    private var stepStart: UInt64 = 0

    /// Ends the current step as `name` and starts the next.
    func step(_ name: String) {
        let now = Clock.monotonicNanoseconds()
        steps.append(HelperStep(name: name, micros: UInt32(clamping: (now &- stepStart) / 1000)))
        stepStart = now
    }

    /// Removes the cgroups of reaped containers (the oldest `atMost`, or all).
    func removeRetired(atMost: Int = .max) {
        let n = min(atMost, retiring.count)
        for (id, cg) in retiring.prefix(n) where (try? cg.remove()) == nil {
            let warn = "envyro-nshelper: container \(id)'s cgroup was not removed (envyro gc removes it)\n"
            _ = warn.withCString { write(2, $0, strlen($0)) }
        }
        retiring.removeFirst(n)
    }
    var nextContainerID: UInt32 = 1

    /// A server for one supervisor on `socket`, under `policy`.
    package init(socket: SeqPacketSocket, policy: Policy, audit: AuditLog, caller: Caller, seccomp: SeccompCache,
                 cgroupHierarchy: CgroupHierarchy? = nil, system: any HelperSyscalls = LinuxSyscalls.shared) {
        self.system = system
        self.seccomp = seccomp
        self.cgroups = CgroupManager(caller: caller, hierarchy: cgroupHierarchy)
        self.socket = socket
        self.policy = policy
        self.audit = audit
        self.caller = caller
        self.maxFrame = min(policy.helper.maxFrameBytes, ProtocolLimits.absoluteMaxFrameBytes)
        self.policyVerbs = policy.helper.verbs.map(\.rawValue)
        self.netns = NetnsPool(limit: policy.pools.networkNamespaces)
        self.cgroupPool = CgroupPool(limit: policy.pools.cgroups)
    }

    /// Runs until the supervisor goes away; returns the exit status.
    package func serve() -> Int32 {
        while true {
            let live = containers.values.sorted { $0.id < $1.id }
            let preparing = warm.indices.filter { !warm[$0].prepared }
            let fds = [socket.fd] + live.map(\.pidfd) + preparing.map { warm[$0].spawned.errorFD }
            let ready: [Int]
            let timeout = wanted == nil && retiring.isEmpty ? -1 : (wanted != nil ? replenishWaitMs() : 0)
            do { ready = try Poll.readable(fds, timeoutMs: timeout) } catch {
                shutdown()
                return 1
            }
            // Idle: prepare the next container of the last shape, then remove reaped
            // containers' cgroups, one per pass. Requests and exits come first: the loop polls
            // again between steps, so a container that exits meanwhile is reaped at once.
            if ready.isEmpty && (wanted != nil || !retiring.isEmpty) {
                if wanted != nil { replenish() } else { removeRetired(atMost: 1) }
                continue
            }
            for index in ready where index > 0 && index <= live.count {
                reap(live[index - 1])
            }
            // One-shot (`envyro run` without a daemon): its container is gone and its `exited`
            // sent: clean up and exit now, while the client prints its result, instead of after
            // the client closes the socket and waits.
            if oneShot && containers.isEmpty && !live.isEmpty {
                removeRetired(atMost: retiring.count)
                shutdown()
                return 0
            }
            // Members that finished (or failed) preparing; highest index first, as failures remove.
            for index in ready.filter({ $0 > live.count }).sorted(by: >) {
                memberReported(preparing[index - 1 - live.count])
            }
            if ready.contains(0) {
                if !handleSocket() {
                    shutdown()
                    return 0
                }
            }
        }
    }

    /// Reads and answers one frame; false when the connection must close.
    func handleSocket() -> Bool {
        var packet: SeqPacketSocket.Packet
        do {
            // One byte more than the cap, so an oversized packet shows as truncated.
            // The most any verb takes: oci_create's five and the --preserve-fds after them.
            guard let p = try socket.receive(capacity: maxFrame + 1, maxFDs: 5 + Int(WireProcessExtras.maxPreservedFDs)) else { return false }
            packet = p
        } catch {
            return false
        }
        // A create's packet holds the run's argv and env: zeroed once it has been handled (the
        // container spawned; the decoded request, zeroed as it goes, is gone by then too).
        defer { Codec.zero(&packet.bytes) }
        return handle(packet)
    }

    /// Frames refused (each closes the connection) since start.
    private(set) var rejections = 0

    /// Decodes, checks and answers one packet; false when the connection must close.
    func handle(_ packet: SeqPacketSocket.Packet) -> Bool {
        let start = Clock.monotonicNanoseconds()
        steps.removeAll(keepingCapacity: true)
        stepStart = start
        let digest = Digest.sha256(packet.bytes.count > ProtocolLimits.headerSize ? packet.bytes[ProtocolLimits.headerSize...] : [])

        func reject(_ verb: String, _ reason: String, errno: Int32 = EPROTO) -> Bool {
            for fd in packet.fds { close(fd) }
            let record = AuditRecord(
                verb: verb, callerUID: caller.uid, callerPID: caller.pid, argumentDigest: digest,
                decision: .denied(reason: reason), result: String(cString: envyro_errno_name(errno)),
                durationMicros: (Clock.monotonicNanoseconds() - start) / 1000)
            _ = try? audit.append(record)
            rejections += 1
            return false
        }

        if packet.truncated || packet.bytes.count > maxFrame {
            return reject("invalid", "oversized: frame larger than \(maxFrame) bytes")
        }
        if packet.controlTruncated || packet.tooManyFDs {
            return reject("invalid", "too many file descriptors")
        }
        let frame: Frame
        do {
            frame = try Codec.decode(packet.bytes, fileDescriptorCount: packet.fds.count, maxFrameBytes: maxFrame, expecting: .request)
        } catch {
            let verbName = (try? FrameHeader.decode(packet.bytes)).flatMap { Verb(rawValue: $0.verb)?.name } ?? "invalid"
            return reject(verbName, "\(error.reason): \(error)")
        }
        let verb = frame.verb
        // The permit table for this phase.
        if let why = VerbTable.refusal(verb, phase: phase, served: served, policyVerbs: policyVerbs, policyName: policy.name) {
            return reject(verb.name, why)
        }
        if verb.row.once { served.insert(verb) }

        // A fail-closed policy records a state-changing call, synced to disk, before carrying it
        // out; if that record can't be written, the call is refused.
        if policy.audit.failClosed && verb != .hello {
            let intent = AuditRecord(
                verb: verb.name, callerUID: caller.uid, callerPID: caller.pid, argumentDigest: digest,
                decision: .allowed, result: "pending", durationMicros: 0, detail: "about to carry out")
            defer { step("audit intent (synced)") }
            do { try audit.append(intent, sync: true) } catch {
                for fd in packet.fds { close(fd) }
                let refusal = Failure(errno: error.errno, step: .audit,
                                      message: "the audit log could not be written (\(error)); policy \(policy.name) fails closed, so nothing was done")
                do { try socket.send(Codec.encode(.failed(refusal), requestID: frame.requestID)) } catch { return false }
                return true
            }
        }

        // The handler is the helper's column of the verb table (HelperVerbs.swift).
        guard let outcome = verb.handler?(self, frame.message, packet.fds) else {
            return reject(verb.name, "not a request")
        }

        // The audit line is written before the reply; under a fail-closed policy a lost line
        // undoes the call.
        let record = AuditRecord(
            verb: verb.name, callerUID: caller.uid, callerPID: caller.pid, argumentDigest: digest,
            decision: outcome.decision, result: outcome.result,
            durationMicros: (Clock.monotonicNanoseconds() - start) / 1000, detail: outcome.detail)
        var reply = outcome.reply
        do {
            try audit.append(record, sync: policy.audit.fsync && !policy.audit.failClosed)
        } catch {
            if policy.audit.failClosed {
                if case .created(let c) = reply, let live = containers.removeValue(forKey: c.containerID) {
                    kill(live)
                }
                reply = .failed(Failure(errno: error.errno, step: .audit, message: "the audit log could not be written (\(error)); policy \(policy.name) fails closed"))
            } else {
                let warn = "envyro-nshelper: warning: audit log not written: \(error)\n"
                _ = warn.withCString { write(2, $0, strlen($0)) }
            }
        }
        do { try socket.send(Codec.encode(reply, requestID: frame.requestID)) } catch { return false }
        // The reply is out. The next container of this shape is prepared when the helper is idle.
        if !prewarming { wanted = nil }
        // A member that makes its own network namespace (no pool: an ordinary user's helper)
        // is cloned once the container just started has exited, or after a short grace: made
        // right away, its namespace (the costliest part of a member, 0.3-0.6 ms of CPU) competed
        // with that container's start and exit on a small machine.
        if prewarming, !netns.pooling, case .created = reply {
            replenishNotBefore = Clock.monotonicNanoseconds() + Self.replenishGraceNanos
        }
        return true
    }

    /// How long a member that makes its own network namespace waits for the container started
    /// before it (see `handle`).
    static let replenishGraceNanos: UInt64 = 3_000_000

    /// The poll timeout while a member is wanted: 0 (prepare it now) unless a container is
    /// running and the grace after its start has not run out.
    func replenishWaitMs() -> Int32 {
        guard !containers.isEmpty else { return 0 }
        let now = Clock.monotonicNanoseconds()
        guard now < replenishNotBefore else { return 0 }
        return Int32((replenishNotBefore - now + 999_999) / 1_000_000)
    }

    /// Sends the `exited` event for a container whose pidfd became readable, with what it used;
    /// its cgroup is emptied and removed first.
    func reap(_ c: LiveContainer) {
        let start = Clock.monotonicNanoseconds()
        guard let exit = system.reap(pidfd: c.pidfd) else { return }
        let code = exit.code, status = exit.status
        system.close(c.pidfd)
        containers.removeValue(forKey: c.id)
        var usage = ResourceUsage()
        usage.userCPUMicros = exit.userMicros
        usage.systemCPUMicros = exit.systemMicros
        usage.maxRSSKiB = exit.maxRSSKiB
        var st = CgroupStats()
        if let cg = c.cgroup {
            st = cg.stats()
            usage.memoryPeakBytes = st.memoryPeakBytes ?? -1
            usage.memoryLimitBytes = st.memoryLimit ?? -1
            usage.oomKills = st.oomKills.map { Int64($0) } ?? -1
            usage.pidsPeak = st.pidsPeak ?? -1
            usage.cpuUsageNanos = st.cpuUsageNanos.map { Int64($0) } ?? -1
        }
        let killed = code == CLD_KILLED || code == CLD_DUMPED
        let event = Exited(
            containerID: c.id, exitCode: killed ? 128 + status : status,
            signal: killed ? status : 0, coreDumped: code == CLD_DUMPED, usage: usage)
        let detail = (killed ? "container \(c.id) pid \(c.pid) killed by signal \(status)" : "container \(c.id) pid \(c.pid) exited \(status)")
            + (usage.oomKills > 0 ? " (out of memory)" : "")
        _ = try? audit.append(AuditRecord(
            verb: "exited", callerUID: caller.uid, callerPID: caller.pid, argumentDigest: Digest.sha256([]),
            decision: .allowed, result: "ok", durationMicros: (Clock.monotonicNanoseconds() - start) / 1000, detail: detail), sync: false)
        try? socket.send(Codec.encode(.exited(event), requestID: 0))
        // After the event, not before: checking the namespace is not on the run's path.
        netns.giveBack(c.netns, c.netnsFlavor)
        // The cgroup is kept for the next run with the same limits when it can be reset
        // exactly (CgroupPool); otherwise it goes when the helper is idle: neither the
        // supervisor nor the next request waits for the rmdirs. (A helper killed in between
        // leaves it to garbage collection.)
        if let cg = c.cgroup {
            let kept = prewarming && c.reusableLimits.map { cgroupPool.keep(cg, limits: $0, after: st) } == true
            if !kept { retiring.append((c.id, cg)) }
        }
    }

    /// SIGKILLs and reaps a container, and removes its cgroup.
    func kill(_ c: LiveContainer) {
        _ = system.signal(pidfd: c.pidfd, SIGKILL)
        system.wait(pidfd: c.pidfd)
        system.close(c.pidfd)
        netns.giveBack(c.netns, c.netnsFlavor)
        if let cg = c.cgroup { try? cg.remove() }
    }

    /// `collect`: removes container cgroups whose helper is gone.
    func collect(_ r: CollectRequest) -> Outcome {
        do {
            let removed = try cgroups.collect(dryRun: r.dryRun)
            return Outcome(reply: .collected(Collected(removed: removed)), decision: .allowed, result: "ok",
                           detail: removed.isEmpty ? "nothing to remove" : "removed \(removed.count): \(removed.joined(separator: " "))")
        } catch {
            return failure(EIO, step: .cgroup, "\(error)")
        }
    }

    /// The supervisor is gone: nothing this helper created may outlive it.
    func shutdown() {
        retirePendingCgroup()
        retiring += cgroupPool.drain().map { (0, $0) }
        removeRetired()
        for m in warm { discard(m) }
        warm.removeAll()
        for c in containers.values { kill(c) }
        containers.removeAll()
        netns.closeAll()
        socket.close()
    }
}
