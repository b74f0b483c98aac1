import CEnvyro
import EnvyroCgroup
@testable import EnvyroHelper
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem
import Glibc
import Testing

/// One row of the plan table: a request and what its plan must say.
struct PlanCase: CustomTestStringConvertible, Sendable {
    var name: String
    var policy = "default"
    var request: CreateRequest
    var prewarm = false
    var prewarming = false
    var precreated = false
    var stdioCount = 3
    var flags: UInt64
    var pooled: NetnsPool.Flavor?
    var cgroup: SpawnPlan.CgroupSource = .none
    var loopback = true
    var testDescription: String { name }
}

let everyNamespace = ENVYRO_CLONE_NEWUSER | ENVYRO_CLONE_NEWPID | ENVYRO_CLONE_NEWNS | ENVYRO_CLONE_NEWUTS
    | ENVYRO_CLONE_NEWIPC | ENVYRO_CLONE_NEWCGROUP | ENVYRO_CLONE_NEWNET

func request(_ change: (inout CreateRequest) -> Void = { _ in }) -> CreateRequest {
    var r = HelperFixture.create()
    change(&r)
    return r
}

func loadPolicy(_ name: String) throws -> Policy {
    try PolicyLoader.load(name, searchDirectories: [HelperFixture.policyDirectory])
}

@Suite("The spawn plan: requests to flags, capabilities, paths and resources, without a syscall")
struct SpawnPlanTests {
    static let cases: [PlanCase] = [
        PlanCase(name: "a cold create with every namespace clones them all and makes no cgroup",
                 request: request(), flags: everyNamespace),
        PlanCase(name: "host networking clones no network namespace and brings up no loopback",
                 request: request { $0.namespaces.remove(.network); $0.network = .host },
                 flags: everyNamespace & ~ENVYRO_CLONE_NEWNET, loopback: false),
        PlanCase(name: "limits make a generated cgroup with them",
                 request: request { $0.limits.memoryMax = 64 << 20; $0.limits.pidsMax = 32 }, flags: everyNamespace,
                 cgroup: .generated({ var l = CgroupLimits(); l.memoryMax = 64 << 20; l.pidsMax = 32; return l }())),
        PlanCase(name: "a daemon helper's container keeping CAP_NET_BIND_SERVICE may take a low-ports pooled namespace",
                 request: request(), prewarming: true, flags: everyNamespace, pooled: .lowPorts),
        PlanCase(name: "a daemon helper's container without capabilities may take a plain pooled namespace",
                 request: request { $0.capabilities = 0 }, prewarming: true, flags: everyNamespace, pooled: .plain),
        PlanCase(name: "CAP_NET_RAW that the policy drops does not stop pooling",
                 request: request { $0.capabilities = CapabilitySet.netRaw.rawValue }, prewarming: true,
                 flags: everyNamespace, pooled: .plain),
        PlanCase(name: "CAP_NET_RAW that the policy keeps means a network namespace of its own",
                 policy: "oci", request: request { $0.capabilities = CapabilitySet.netRaw.rawValue }, prewarming: true,
                 flags: everyNamespace, pooled: nil),
        PlanCase(name: "a one-run helper never pools network namespaces",
                 request: request(), flags: everyNamespace, pooled: nil),
        PlanCase(name: "a prewarmed member uses its precreated cgroup and no stdio",
                 request: request { $0.limits.pidsMax = 8 }, prewarm: true, prewarming: true, precreated: true, stdioCount: 0,
                 flags: everyNamespace, pooled: .lowPorts, cgroup: .precreated),
    ]

    @Test("a request's plan", arguments: cases)
    func plan(_ c: PlanCase) throws {
        let policy = try loadPolicy(c.policy)
        let plan = SpawnPlan(run: c.request, policy: policy, prewarm: c.prewarm, prewarming: c.prewarming,
                             precreated: c.precreated, stdioCount: c.stdioCount)
        #expect(plan.cloneFlags == c.flags)
        #expect(plan.pooledNetns == c.pooled)
        #expect(plan.cgroup == c.cgroup)
        #expect(plan.loopbackUp == c.loopback)
        #expect(plan.prewarm == c.prewarm)
        #expect(plan.timed == !c.prewarm)
        #expect(plan.usesStdio == (c.stdioCount == 3))
        #expect(!plan.held && plan.oomScoreAdj == nil)
        #expect(plan.maskedPaths == policy.mounts.maskedPaths)
        #expect(plan.readonlyPaths == policy.mounts.readonlyPaths)
    }

    @Test("capabilities are the policy's keep list narrowed by the request's", arguments: [
        (UInt64.max, "default"), (0, "default"), (CapabilitySet.chown.rawValue | CapabilitySet.sysAdmin.rawValue, "default"),
    ] as [(UInt64, String)])
    func capabilities(_ asked: UInt64, _ policyName: String) throws {
        let policy = try loadPolicy(policyName)
        let plan = SpawnPlan(run: request { $0.capabilities = asked }, policy: policy, prewarm: false, prewarming: false,
                             precreated: false, stdioCount: 3)
        #expect(plan.capabilities.rawValue == policy.capabilities.keepSet.rawValue & asked)
        #expect(!plan.capabilities.contains(.sysAdmin))
        #expect(plan.ambient == policy.capabilities.ambient)
        #expect(plan.noNewPrivileges == policy.process.noNewPrivileges)
    }

    @Test("the request's own seccomp program is stacked after the policy's, and its PATH finds argv[0]")
    func filtersAndPath() throws {
        let r = request { $0.seccomp = [1, 2, 3, 4, 5, 6, 7, 8]; $0.env = ["PATH=/opt/bin", "A=1"]; $0.rootfsWritable = true }
        let plan = SpawnPlan(run: r, policy: try loadPolicy("default"), prewarm: false, prewarming: false, precreated: false, stdioCount: 3)
        #expect(plan.extraFilters == [[1, 2, 3, 4, 5, 6, 7, 8]])
        #expect(plan.searchPath == "/opt/bin")
        #expect(!plan.rootfsReadonly)
        #expect(plan.rootfs == nil && plan.hostname == "t")
        let bare = SpawnPlan(run: request { $0.env = []; $0.hostname = "" }, policy: try loadPolicy("default"),
                             prewarm: false, prewarming: false, precreated: false, stdioCount: 3)
        #expect(bare.searchPath == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        #expect(bare.hostname == nil)
    }

    static func ociRequest(_ change: (inout OCICreateRequest) -> Void = { _ in }) -> OCICreateRequest {
        let process = WireProcess(argv: ["sh", "-c", "true"], env: ["PATH=/bundle/bin"], cwd: "/work",
                                  capBounding: CapabilitySet.chown.rawValue, noNewPrivileges: true, seccomp: [9, 9, 9, 9, 9, 9, 9, 9])
        var r = OCICreateRequest(base: request { $0.rootfs = "/bundle/rootfs"; $0.seccomp = [1, 1, 1, 1, 1, 1, 1, 1] },
                                 id: "c1", cgroup: "oci-c1", process: process, maskedPaths: ["/proc/kcore", "/proc/extra"],
                                 oomScoreAdj: 100, deviceRules: ["allow c 1:3 rwm"], hugepageLimits: ["2MB=1048576"],
                                 unified: ["hugetlb.1GB.rsvd.max=0"])
        change(&r)
        return r
    }

    @Test("an OCI bundle's plan: its process, its joined namespaces left out of clone, the caller's child, held, its named cgroup")
    func ociPlan() throws {
        let policy = try loadPolicy("oci")
        let o = Self.ociRequest { $0.joinNamespaces = [(.network, "/run/netns/x"), (.ipc, "/run/ipc/x")] }
        let plan = SpawnPlan(oci: o, policy: policy, hostRoot: false, stdioCount: 3)
        #expect(plan.cloneFlags == everyNamespace & ~(ENVYRO_CLONE_NEWNET | ENVYRO_CLONE_NEWIPC) | ENVYRO_CLONE_PARENT)
        #expect(plan.argv == ["sh", "-c", "true"] && plan.cwd == "/work" && plan.searchPath == "/bundle/bin")
        #expect(plan.held && plan.oomScoreAdj == 100 && !plan.timed && !plan.useInit)
        #expect(plan.noNewPrivileges)
        #expect(plan.loopbackUp)   // the request's namespaces, not what is cloned, decide
        #expect(plan.capabilities == .chown)
        #expect(plan.extraFilters == [[1, 1, 1, 1, 1, 1, 1, 1], [9, 9, 9, 9, 9, 9, 9, 9]])
        #expect(plan.maskedPaths.filter { $0 == "/proc/kcore" }.count == 1)
        #expect(plan.maskedPaths.last == "/proc/extra")
        guard case .named(let name, let limits) = plan.cgroup else { Issue.record("expected a named cgroup"); return }
        #expect(name == "oci-c1")
        #expect(limits.hugepageLimits == [CgroupLimits.HugepageLimit(pageSize: "2MB", limit: 1_048_576)])
        #expect(limits.unified == [CgroupLimits.UnifiedEntry(key: "hugetlb.1GB.rsvd.max", value: "0")])
        #expect(limits.deviceRules == nil || limits.deviceRules?.isEmpty == true)   // a user namespace: no device rules
        #expect(plan.pooledNetns == nil)
    }

    @Test("device cgroup rules apply only to host root's container without a user namespace", arguments: [
        (true, false, true), (true, true, false), (false, false, false),
    ] as [(Bool, Bool, Bool)])
    func deviceRules(_ hostRoot: Bool, _ userNamespace: Bool, _ expected: Bool) {
        let o = Self.ociRequest { if !userNamespace { $0.base.namespaces.remove(.user) } }
        let limits = SpawnPlan.ociLimits(o, hostRoot: hostRoot)
        #expect((limits.deviceRules?.isEmpty == false) == expected)
        if expected { #expect(limits.deviceRules == [CgroupLimits.DeviceRule(allow: true, rule: "c 1:3 rwm")]) }
    }

    @Test("an OCI bundle without a cgroup name gets no cgroup")
    func ociWithoutCgroup() throws {
        let plan = SpawnPlan(oci: Self.ociRequest { $0.cgroup = "" }, policy: try loadPolicy("oci"), hostRoot: false, stdioCount: 3)
        #expect(plan.cgroup == .none)
    }
}

@Suite("The container config builder owns the C memory it builds")
struct ContainerConfigBuilderTests {
    static func strings(_ p: UnsafePointer<UnsafePointer<CChar>?>?) -> [String] {
        guard let p else { return [] }
        var out: [String] = [], i = 0
        while let s = p[i] { out.append(String(cString: s)); i += 1 }
        return out
    }

    @Test("the config says what the plan says")
    func lowers() throws {
        let r = request { $0.argv = ["/bin/echo", "hi"]; $0.env = ["PATH=/bin", "X=y"]; $0.cwd = "/tmp" }
        let plan = SpawnPlan(run: r, policy: try loadPolicy("default"), prewarm: false, prewarming: false, precreated: false, stdioCount: 3)
        let b = ContainerConfigBuilder(plan, stdio: [5, 6, 7])
        let c = b.config
        #expect(c.clone_flags == plan.cloneFlags)
        #expect(c.stdio.0 == 5 && c.stdio.1 == 6 && c.stdio.2 == 7)
        #expect(Self.strings(c.argv) == ["/bin/echo", "hi"])
        #expect(Self.strings(c.envp) == ["PATH=/bin", "X=y"])
        #expect(String(cString: c.cwd) == "/tmp" && String(cString: c.search_path) == "/bin")
        #expect(c.hostname.map { String(cString: $0) } == "t" && c.rootfs == nil && c.rootfs_readonly == 1)
        #expect(Self.strings(c.host_binds) == defaultHostBinds)
        #expect(Self.strings(c.masked_paths) == plan.maskedPaths)
        #expect(c.cap_keep == plan.capabilities.rawValue)
        #expect(c.filters == nil && c.oci == nil && c.netns_fd == -1)
        b.setFilters(policy: nil, plan)
        #expect(b.config.filter_count == 0)
        b.usePooledNetns(40, home: 41)
        #expect(b.config.clone_flags & ENVYRO_CLONE_NEWNET == 0 && b.config.loopback_up == 0 && b.config.netns_fd == 40)
    }

    @Test("a prewarmed member's config has no stdio")
    func noStdio() throws {
        let plan = SpawnPlan(run: request(), policy: try loadPolicy("default"), prewarm: true, prewarming: true, precreated: false, stdioCount: 0)
        let c = ContainerConfigBuilder(plan, stdio: []).config
        #expect(c.stdio.0 == -1 && c.stdio.1 == -1 && c.stdio.2 == -1 && c.prewarm == 1)
    }

    @Test("every block it allocated is freed when it goes, for a run's config and for an OCI one", arguments: [false, true])
    func freesWhatItAllocates(_ oci: Bool) throws {
        var allocated = 0, freed = -1
        do {
            let plan: SpawnPlan
            if oci {
                plan = SpawnPlan(oci: SpawnPlanTests.ociRequest(), policy: try loadPolicy("oci"), hostRoot: false, stdioCount: 3)
            } else {
                plan = SpawnPlan(run: request { $0.seccomp = [1, 2, 3, 4, 5, 6, 7, 8] }, policy: try loadPolicy("default"),
                                 prewarm: false, prewarming: false, precreated: false, stdioCount: 3)
            }
            let b = ContainerConfigBuilder(plan, stdio: [0, 1, 2])
            b.setFilters(policy: SeccompProgram(bpf: [0, 0, 0, 0, 0, 0, 0, 0], installFlags: 1), plan)
            #expect(b.config.filter_count == Int32(1 + plan.extraFilters.count))
            #expect(b.config.filters?[0].flags == 1)
            if oci {
                b.setOCI(OCIPlan(request: SpawnPlanTests.ociRequest(), startFD: 9, consoleFD: -1), joinFDs: [])
                #expect(b.config.oci?.pointee.start_fd == 9)
                #expect(b.config.oci?.pointee.detached == 1)
            }
            allocated = b.memory.allocations
            b.memory.onRelease = { freed = $0 }
        }
        #expect(allocated > 10)
        #expect(freed == allocated)
    }
}
