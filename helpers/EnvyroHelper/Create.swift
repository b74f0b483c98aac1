import CEnvyro
import EnvyroCgroup
import EnvyroAudit
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSeccomp
import EnvyroSystem
import Glibc

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

extension HelperServer {
    /// Why a create request is refused by this helper's policy, or nil when it is allowed.
    /// The supervisor checks the same rules first to give a friendly message; this is the
    /// check that counts.
    /// `onlyMountRequired`: a trusted host root's OCI bundle (OCI.swift), which may share the
    /// host's other namespaces as with runc; its root is still built in a mount namespace.
    func policyViolation(_ r: CreateRequest, stdio: [Int32], onlyMountRequired: Bool = false) -> String? {
        var required = NamespaceSet()
        for kind in policy.namespaces where kind != .network { required.formUnion(kind.wire) }
        if onlyMountRequired { required = .mount }
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
        if let key {
            // The shape to prewarm next, without this run's argv and env: the helper keeps no
            // reference to them past this request (members get a run's at start).
            var shape = r
            shape.argv = SecretStrings()
            shape.env = SecretStrings()
            wanted = (key, shape, idMaps)
        }
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
                            networkNamespace: live.netnsUse, networkNamespacesDiscarded: netns.takeDiscardCount(), steps: steps,
                            limitNote: limitNote)
        defer { limitNote = "" }
        let notes = (prewarmed ? ["prewarmed"] : []) + [
            live.netnsUse == .pooledReused ? "network namespace reused from the pool" : nil,
            live.netnsUse == .pooledNew ? "network namespace new to the pool" : nil,
            live.cgroupReused ? "cgroup reused from an earlier run" : nil,
            limitNote.isEmpty ? nil : limitNote,
        ].compactMap { $0 }
        return Outcome(reply: .created(reply), decision: .allowed, result: "ok",
                       detail: "container \(live.id) pid \(live.pid)" + (notes.isEmpty ? "" : " (\(notes.joined(separator: ", ")))"))
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

    func failure(_ e: Int32, step: FailureStep, _ message: String) -> Outcome {
        Outcome(reply: .failed(Failure(errno: e, step: step, message: message)), decision: .allowed,
                result: String(cString: envyro_errno_name(e)), detail: step.name)
    }
}
