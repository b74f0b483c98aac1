import CEnvyro
import EnvyroCgroup
@testable import EnvyroHelper
import EnvyroProtocol
import EnvyroSystem
import Glibc
import Testing

let ready = envyro_child_error(step: Int32(ENVYRO_STEP_READY.rawValue), err: 0, detail: -1)
let prepared = envyro_child_error(step: Int32(ENVYRO_STEP_PREPARED.rawValue), err: 0, detail: -1)

/// Creates with limits and the OCI verbs, driven through the server against the fake.
@Suite("Creates with limits and the OCI verbs, without root")
struct SpawnServerTests {
    static func limited() -> CreateRequest {
        var r = HelperFixture.create()
        r.limits.memoryMax = 64 << 20
        r.limits.pidsMax = 16
        return r
    }

    @Test("a create with limits makes its cgroup before clone, passes its procs file, and keeps it with the container")
    func createWithLimits() throws {
        let f = try HelperFixture()
        try f.greet()
        f.fake.cgroupsWork = true
        f.fake.cloneScript = .child(pid: 4300, pidfd: 800, records: [ready])
        let (_, reply) = try f.call(.create(Self.limited()), fds: HelperFixture.stdio())
        guard case .created(let created) = reply else { Issue.record("expected created, got \(String(describing: reply))"); return }
        #expect(created.pid == 4300)
        var limits = CgroupLimits()
        limits.memoryMax = 64 << 20
        limits.pidsMax = 16
        #expect(f.fake.calls.first == .createCgroup(name: nil, limits: limits))
        if case .clone = f.fake.calls.dropFirst().first {} else { Issue.record("clone must follow the cgroup: \(f.fake.calls)") }
        #expect(f.server.containers[created.containerID]?.cgroup?.name == f.fake.cgroups.first?.name)
        #expect(f.server.containers[created.containerID]?.cgroup?.name == "c-test-1")
        // The procs file was opened for the child.
        #expect(f.fake.cgroups.first?.procsFDs.count == 1)
        #expect(!f.fake.calls.contains(.removeCgroup("c-test-1")))
        #expect(f.server.steps.map(\.name).contains("seccomp filter, cgroup"))
        close(f.fake.syncReadFD)
    }

    @Test("a create with limits where the caller has no subtree is the cgroup step with the setup advice, and nothing is cloned")
    func limitsWithoutSubtree() throws {
        let f = try HelperFixture()
        try f.greet()
        let (_, reply) = try f.call(.create(Self.limited()), fds: HelperFixture.stdio())
        let failure = try #require(HelperFixture.failure(reply))
        #expect(failure.step == .cgroup && failure.errno == EPERM)
        #expect(failure.message.contains("envyro setup --user"))
        #expect(!f.fake.calls.contains { if case .clone = $0 { true } else { false } })
    }

    @Test("a clone refused after the cgroup was made removes the cgroup")
    func cloneRefusedRemovesCgroup() throws {
        let f = try HelperFixture()
        try f.greet()
        f.fake.cgroupsWork = true
        f.fake.cloneScript = .fail(EAGAIN)
        let (_, reply) = try f.call(.create(Self.limited()), fds: HelperFixture.stdio())
        #expect(HelperFixture.failure(reply)?.step == .clone)
        #expect(f.fake.calls.last == .removeCgroup("c-test-1"))
    }

    @Test("a failed exec kills the child and removes its cgroup")
    func execFailsRemovesCgroup() throws {
        let f = try HelperFixture()
        try f.greet()
        f.fake.cgroupsWork = true
        f.fake.cloneScript = .child(pid: 4301, pidfd: 801, records: [ready, envyro_child_error(step: Int32(ENVYRO_STEP_EXEC.rawValue), err: EACCES, detail: -1)])
        let (_, reply) = try f.call(.create(Self.limited()), fds: HelperFixture.stdio())
        #expect(HelperFixture.failure(reply)?.step == .exec)
        #expect(Array(f.fake.calls.suffix(4)) == [.signal(pidfd: 801, SIGKILL), .wait(pidfd: 801), .close(801), .removeCgroup("c-test-1")])
        close(f.fake.syncReadFD)
    }

    @Test("a daemon helper without pooled network namespaces holds its next member back while the container it just started runs", arguments: [
        (HelloModes.prewarm, true), (HelloModes(), false),
    ] as [(HelloModes, Bool)])
    func memberWaitsForTheRun(_ modes: HelloModes, _ holdsBack: Bool) throws {
        let f = try HelperFixture()
        try f.greet(modes)
        // An ordinary user's helper: it can't make network namespaces, so its members make their own.
        f.server.netns = NetnsPool(limit: 0)
        f.fake.cloneScript = .child(pid: 4310, pidfd: 810, records: [ready])
        let (_, reply) = try f.call(.create(HelperFixture.create()), fds: HelperFixture.stdio())
        guard case .created = reply else { Issue.record("expected created, got \(String(describing: reply))"); return }
        #expect((f.server.replenishNotBefore > 0) == holdsBack)
        close(f.fake.syncReadFD)
        guard holdsBack else { return }
        // While the container runs and the grace lasts, the loop polls with a timeout instead of
        // cloning; once no container runs, at once.
        f.server.replenishNotBefore = Clock.monotonicNanoseconds() + 1_000_000_000
        #expect((1...1000).contains(f.server.replenishWaitMs()))
        f.server.containers.removeAll()
        #expect(f.server.replenishWaitMs() == 0)
    }

    // MARK: - OCI

    static func bundle(_ f: HelperFixture, _ change: (inout OCICreateRequest) -> Void = { _ in }) -> OCICreateRequest {
        var r = SpawnPlanTests.ociRequest { $0.base.rootfs = f.directory; $0.unified = []; $0.deviceRules = []; $0.hugepageLimits = [] }
        change(&r)
        return r
    }

    /// stdio and stand-ins for the start socket and the console (the verb table's five).
    static func ociFDs() -> [Int32] { HelperFixture.stdio() + (0..<2).map { _ in open("/dev/null", O_RDONLY | O_CLOEXEC) } }

    /// stdio and a stand-in for the console (the verb table's four).
    static func execFDs() -> [Int32] { HelperFixture.stdio() + [open("/dev/null", O_RDONLY | O_CLOEXEC)] }

    @Test("OCI creates the policy refuses are denied before anything is done", arguments: [
        ("sysadmin", "CAP_SYS_ADMIN"), ("unified", "governed by policy"), ("badkey", "not a cgroup file name"), ("nouserns", "only root may ask"),
    ])
    func ociCreateRefused(_ what: String, _ expected: String) throws {
        let f = try HelperFixture(policy: "oci", uid: 1000)
        try f.greet([.oci])
        let r = Self.bundle(f) { r in
            switch what {
            case "sysadmin": r.process.capBounding |= CapabilitySet.sysAdmin.rawValue
            case "unified": r.unified = ["memory.max=1"]
            case "badkey": r.unified = [".hidden=1"]
            default: r.base.namespaces.remove(.user)
            }
        }
        let (open, reply) = try f.call(.ociCreate(r), fds: Self.ociFDs())
        #expect(open)
        let failure = try #require(HelperFixture.failure(reply))
        #expect(failure.message.contains(expected))
        #expect(f.fake.calls.isEmpty)
        #expect(f.auditText.contains("denied"))
    }

    @Test("CAP_SYS_ADMIN and the host's uts namespace: granted only to a caller the kernel says is root, under a policy that trusts host root",
          .enabled(if: getuid() == 0 && UserNamespace.isInitial, "needs the host's root"),
          arguments: [("oci", uid_t(0), true), ("oci", uid_t(1000), false), ("oci-restricted", uid_t(0), false)])
    func hostRootTrust(_ policy: String, _ uid: uid_t, _ granted: Bool) throws {
        let f = try HelperFixture(policy: policy, uid: uid)
        try f.greet([.oci])
        #expect(f.server.trustsCallerAsHostRoot == granted)
        f.fake.cgroupsWork = true
        f.fake.cloneScript = .child(pid: 4410, pidfd: 910, records: [ready, prepared])
        let r = Self.bundle(f) { r in
            r.process.capBounding |= CapabilitySet.sysAdmin.rawValue
            r.base.namespaces.remove(.uts)
        }
        let (_, reply) = try f.call(.ociCreate(r), fds: Self.ociFDs())
        if granted {
            #expect(reply == .created(Created(containerID: 0, pid: 4410)))
            close(f.fake.syncReadFD)
        } else {
            #expect(HelperFixture.failure(reply)?.message.contains("CAP_SYS_ADMIN") == true)
        }
        // The plan follows the same decision: the bundle's capabilities whole, no filter or masks of the policy's.
        let plan = SpawnPlan(oci: r, policy: f.server.policy, hostRoot: true, trusted: granted, stdioCount: 3)
        #expect(plan.capabilities.contains(.sysAdmin) == granted)
        #expect(plan.policyFilter == !granted)
        #expect(plan.maskedPaths.contains("/proc/acpi") == !granted, "the policy's own masked path")
    }

    @Test("an OCI create is held: cgroup, clone, id maps, oom_score_adj, then PREPARED answers with its pid; not tracked")
    func ociCreateHeld() throws {
        let f = try HelperFixture(policy: "oci")
        try f.greet([.oci])
        f.fake.cgroupsWork = true
        f.fake.cloneScript = .child(pid: 4400, pidfd: 900, records: [ready, prepared])
        let (_, reply) = try f.call(.ociCreate(Self.bundle(f)), fds: Self.ociFDs())
        #expect(reply == .created(Created(containerID: 0, pid: 4400)))
        #expect(f.fake.calls.first == .createCgroup(name: "oci-c1", limits: CgroupLimits()))
        #expect(f.fake.calls.contains(.writeOOMScore(pid: 4400, 100)))
        #expect(f.fake.calls.last == .close(900))
        #expect(f.server.containers.isEmpty)
        close(f.fake.syncReadFD)
    }

    @Test("an OCI create whose program is missing says so in runc's words, and its cgroup goes")
    func ociCreateExecMissing() throws {
        let f = try HelperFixture(policy: "oci")
        try f.greet([.oci])
        f.fake.cgroupsWork = true
        f.fake.cloneScript = .child(pid: 4401, pidfd: 901, records: [ready, envyro_child_error(step: Int32(ENVYRO_STEP_EXEC.rawValue), err: ENOENT, detail: -1)])
        let (_, reply) = try f.call(.ociCreate(Self.bundle(f)), fds: Self.ociFDs())
        let failure = try #require(HelperFixture.failure(reply))
        #expect(failure.message == "exec: \"sh\": executable file not found in $PATH")
        #expect(f.fake.calls.last == .removeCgroup("oci-c1"))
        close(f.fake.syncReadFD)
    }

    @Test("without a cgroup subtree an OCI create goes on without a cgroup when its limits are the kernel's defaults (containerd's cpu.shares 1024), and is refused with a real limit",
          arguments: [(UInt64(1024), Int64?.none, true), (UInt64(512), Int64?.none, false), (UInt64(1024), Int64?(64 << 20), false)])
    func ociCreateWithoutSubtree(_ shares: UInt64, _ memory: Int64?, _ created: Bool) throws {
        let f = try HelperFixture(policy: "oci")
        try f.greet([.oci])
        f.fake.cgroupsWork = false
        f.fake.cloneScript = .child(pid: 4402, pidfd: 902, records: [ready, prepared])
        var r = Self.bundle(f)
        r.base.limits.cpuShares = shares
        r.base.limits.memoryMax = memory
        let (_, reply) = try f.call(.ociCreate(r), fds: Self.ociFDs())
        if created {
            #expect(reply == .created(Created(containerID: 0, pid: 4402)))
            close(f.fake.syncReadFD)
        } else {
            let failure = try #require(HelperFixture.failure(reply))
            #expect(failure.step == .cgroup && failure.message.contains("cgroup"))
            #expect(!f.fake.calls.contains { if case .clone = $0 { true } else { false } })
        }
    }

    static func process(_ argv: [String] = ["/bin/sh"]) -> WireProcess { WireProcess(argv: argv, env: [], cwd: "/") }

    @Test("oci_exec by a non-root caller without the container's user namespace is refused before any syscall")
    func execWithoutUserNamespace() throws {
        let f = try HelperFixture(policy: "oci", uid: 1000)
        try f.greet([.oci])
        let r = OCIExecRequest(id: "c1", cgroup: "oci-c1", pid: 77, startTime: 5, namespaces: [.pid, .mount], process: Self.process(),
                               detached: false, hasConsole: false)
        let (_, reply) = try f.call(.ociExec(r), fds: Self.execFDs())
        #expect(HelperFixture.failure(reply)?.step == .target)
        #expect(f.fake.calls.isEmpty)
    }

    @Test("oci_exec into a process that is gone, or whose pid names another process now, is the find step", arguments: [nil, 6] as [UInt64?])
    func execTargetGone(_ start: UInt64?) throws {
        let f = try HelperFixture(policy: "oci", uid: 1000)
        try f.greet([.oci])
        if let start { f.fake.processes[77] = (start, "0::/envyro/u1000/oci-c1\n", 2) }
        let r = OCIExecRequest(id: "c1", cgroup: "oci-c1", pid: 77, startTime: 5, namespaces: [.user, .pid], process: Self.process(),
                               detached: false, hasConsole: false)
        let (_, reply) = try f.call(.ociExec(r), fds: Self.execFDs())
        let failure = try #require(HelperFixture.failure(reply))
        #expect(failure.step == .find && failure.errno == ESRCH)
        if start != nil { #expect(f.fake.calls.last == .close(RecordingSyscalls.pidfd(for: 77))) }
        #expect(!f.fake.calls.contains { if case .exec = $0 { true } else { false } })
    }

    @Test("oci_exec into a process outside the caller's containers, or in the host's user namespace, is refused", arguments: [
        ("0::/system.slice/sshd.service\n", UInt64(2), "not in your container cgroup"),
        ("0::/envyro/u1000/oci-other\n", UInt64(2), "not in envyro/u1000/oci-c1"),
        ("0::/envyro/u1000/oci-c1\n", UInt64(1), "host's user namespace"),
    ])
    func execTargetRefused(_ cgroups: String, _ userNamespace: UInt64, _ expected: String) throws {
        let f = try HelperFixture(policy: "oci", uid: 1000)
        try f.greet([.oci])
        f.fake.processes[77] = (5, cgroups, userNamespace)
        let r = OCIExecRequest(id: "c1", cgroup: "oci-c1", pid: 77, startTime: 5, namespaces: [.user, .pid], process: Self.process(),
                               detached: false, hasConsole: false)
        let (_, reply) = try f.call(.ociExec(r), fds: Self.execFDs())
        let failure = try #require(HelperFixture.failure(reply))
        #expect(failure.step == .target && failure.errno == EPERM)
        #expect(failure.message.contains(expected))
        #expect(f.fake.calls.last == .close(RecordingSyscalls.pidfd(for: 77)))
        #expect(!f.fake.calls.contains { if case .exec = $0 { true } else { false } })
    }

    @Test("oci_exec into the caller's container goes through the trampoline with the joined namespaces; its failure names the step")
    func execAllowed() throws {
        let f = try HelperFixture(policy: "oci", uid: 1000)
        try f.greet([.oci])
        f.fake.processes[77] = (5, "0::/envyro/u1000/oci-c1\n", 2)
        let r = OCIExecRequest(id: "c1", cgroup: "", pid: 77, startTime: 5, namespaces: [.user, .pid], process: Self.process(["/bin/ls"]),
                               detached: true, hasConsole: false)
        let (_, reply) = try f.call(.ociExec(r), fds: Self.execFDs())
        #expect(reply == .created(Created(containerID: 0, pid: 5151)))
        #expect(f.fake.calls.contains(.exec(nsFlags: ENVYRO_CLONE_NEWUSER | ENVYRO_CLONE_NEWPID, argv0: "/bin/ls")))
        f.fake.execScript = (EACCES, 0, Int32(ENVYRO_STEP_EXEC.rawValue))
        let (_, again) = try f.call(.ociExec(r), fds: Self.execFDs())
        let failure = try #require(HelperFixture.failure(again))
        #expect(failure.step == .exec && failure.errno == EACCES)
    }

    @Test("oci_control signal: a gone process is the find step; another user's process is refused; the caller's is signalled by pidfd")
    func controlSignal() throws {
        let f = try HelperFixture(policy: "oci", uid: 1000)
        try f.greet([.oci])
        let signal = OCIControlRequest(op: .signal, id: "c1", cgroup: "", pid: 88, startTime: 9, signal: SIGTERM)
        let (_, gone) = try f.call(.ociControl(signal))
        #expect(HelperFixture.failure(gone)?.step == .find)

        f.fake.processes[88] = (9, "0::/user.slice\n", 1)
        let (_, refused) = try f.call(.ociControl(signal))
        #expect(HelperFixture.failure(refused)?.step == .target)
        #expect(!f.fake.calls.contains(.signal(pidfd: RecordingSyscalls.pidfd(for: 88), SIGTERM)))

        f.fake.processes[88] = (9, "0::/envyro/u1000/oci-c1/\n", 2)
        let (_, done) = try f.call(.ociControl(signal))
        #expect(done == .ociDone(OCIDone(op: .signal, processes: 1)))
        #expect(f.fake.calls.contains(.signal(pidfd: RecordingSyscalls.pidfd(for: 88), SIGTERM)))
        #expect(f.fake.calls.last == .close(RecordingSyscalls.pidfd(for: 88)))
    }
}

@Suite("Prewarmed members, without root")
struct WarmPoolTests {
    @Test("a prewarmed member that is gone when its run is sent (the go message fails) is killed, counted, and the run starts cold")
    func goFails() throws {
        let f = try HelperFixture()
        try f.greet(.prewarm)
        let r = HelperFixture.create()
        let key = try #require(f.server.warmKey(r))
        let member = HelperServer.Spawned(live: LiveContainer(id: 0, pid: 4500, pidfd: 950),
                                          errorFD: open("/dev/null", O_RDONLY | O_CLOEXEC), goFD: open("/dev/null", O_RDONLY | O_CLOEXEC))
        f.server.warm.append(WarmMember(spawned: member, key: key, prepared: true))
        f.fake.cloneScript = .fail(EAGAIN)
        let (_, reply) = try f.call(.create(r), fds: HelperFixture.stdio())
        #expect(HelperFixture.failure(reply)?.step == .clone)
        #expect(Array(f.fake.calls.prefix(4)) == [.sendGo(fd: member.goFD), .signal(pidfd: 950, SIGKILL), .wait(pidfd: 950), .close(950)])
        #expect(f.server.warm.isEmpty)
        #expect(f.server.warmDiscarded == 1)
    }
}
