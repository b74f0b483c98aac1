import EnvyroSeccomp
import Testing

@Suite("Compiling seccomp profiles to BPF")
struct CompilerTests {
    @Test("The shipped profiles compile to whole, non-empty BPF programs", arguments: ["strict", "default"])
    func shippedCompile(name: String) throws {
        let filter = try SeccompCompiler.compile(try Fixtures.shipped(name), capabilities: [])
        #expect(filter.bpf.count % 8 == 0)
        #expect(filter.instructionCount == filter.bpf.count / 8)
        #expect(filter.instructionCount > 10)
        #expect(filter.instructionCount <= SeccompCompiler.maxInstructions)
        // libseccomp's filters start by loading the architecture: BPF_LD|BPF_W|BPF_ABS, k = 4.
        let code = UInt16(filter.bpf[0]) | UInt16(filter.bpf[1]) << 8
        let k = UInt32(filter.bpf[4]) | UInt32(filter.bpf[5]) << 8 | UInt32(filter.bpf[6]) << 16 | UInt32(filter.bpf[7]) << 24
        #expect(code == 0x20)
        #expect(k == 4)
    }

    @Test("Compiling the same profile twice gives identical bytes", arguments: ["strict", "default"])
    func deterministic(name: String) throws {
        let profile = try Fixtures.shipped(name)
        let first = try SeccompCompiler.compile(profile, capabilities: ["CAP_NET_RAW"])
        let second = try SeccompCompiler.compile(try Fixtures.shipped(name), capabilities: ["CAP_NET_RAW"])
        #expect(first == second)
        #expect(profile.digest == (try Fixtures.shipped(name)).digest)
    }

    @Test("Capability-conditional rules appear only with the capability", arguments: [
        ("default", "CAP_SYS_ADMIN", true), ("moby", "CAP_SYS_BOOT", true), ("moby", "CAP_SYS_ADMIN", true),
        ("moby", "CAP_AUDIT_WRITE", true),
        // These swap an EPERM rule for an ALLOW rule: same length, different program.
        ("default", "CAP_SYS_MODULE", false), ("default", "CAP_BPF", false), ("default", "CAP_SYS_TIME", false),
    ])
    func capabilityRules(profileName: String, capability: String, changesLength: Bool) throws {
        let profile = profileName == "moby"
            ? try Fixtures.parse(Fixtures.mobyStyle, path: "fixtures/moby.json")
            : try Fixtures.shipped(profileName)
        let without = try SeccompCompiler.compile(profile, capabilities: [])
        let with = try SeccompCompiler.compile(profile, capabilities: [capability])
        #expect(without.bpf != with.bpf)
        #expect((without.instructionCount != with.instructionCount) == changesLength)
    }

    @Test("A capability the profile doesn't mention changes nothing")
    func irrelevantCapability() throws {
        let profile = try Fixtures.shipped("strict")
        let without = try SeccompCompiler.compile(profile, capabilities: [])
        let with = try SeccompCompiler.compile(profile, capabilities: ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"])
        #expect(without.bpf == with.bpf)
    }

    @Test("minKernel rules follow the kernel release")
    func minKernel() throws {
        let profile = try Fixtures.parse(Fixtures.mobyStyle, path: "fixtures/moby.json")
        let old = try SeccompCompiler.compile(profile, capabilities: [], kernel: KernelVersion(4, 4))
        let new = try SeccompCompiler.compile(profile, capabilities: [], kernel: KernelVersion(6, 1))
        #expect(new.instructionCount > old.instructionCount)
    }

    @Test("System calls libseccomp doesn't know are skipped with a warning naming file and entry")
    func newerSyscallsWarn() throws {
        let profile = try Fixtures.parse(Fixtures.mobyStyle, path: "fixtures/moby.json")
        let filter = try SeccompCompiler.compile(profile, capabilities: [])
        let version = SeccompCompiler.libseccompVersion
        #expect(filter.warnings.contains(
            "fixtures/moby.json: syscalls[0].names[6]: skipped 'mseal': a Linux system call libseccomp \(version) doesn't know"))
        #expect(filter.warnings.contains {
            $0.hasPrefix("fixtures/moby.json: syscalls[0].names[7]: skipped 'lsm_list_modules'")
        })
    }

    @Test("The shipped default profile names newer system calls and warns about them")
    func defaultWarns() throws {
        let filter = try SeccompCompiler.compile(try Fixtures.shipped("default"), capabilities: [])
        #expect(filter.warnings.contains { $0.contains("skipped 'mseal'") })
        #expect(filter.warnings.allSatisfy { $0.hasPrefix(Fixtures.shippedPath("default") + ": syscalls[") })
    }

    @Test("Architecture conditions match the native architecture under its Go and libseccomp names")
    func architectures() {
        let native = SeccompArchitecture.native
        let x86_64 = SeccompArchitecture.token(for: "SCMP_ARCH_X86_64")
        #expect(SeccompArchitecture.token(for: "amd64") == x86_64)
        #expect(SeccompArchitecture.token(for: "x86_64") == x86_64)
        #expect(SeccompArchitecture.token(for: "arm64") == SeccompArchitecture.token(for: "SCMP_ARCH_AARCH64"))
        #expect(SeccompArchitecture.token(for: "SCMP_ARCH_Z80") == nil)
        let goName = native == x86_64 ? "amd64" : "arm64"
        let other = native == x86_64 ? "arm64" : "amd64"
        let includesNative = SeccompRule(names: ["read"], action: .allow, includes: SeccompCondition(arches: [goName, "x32"]))
        let includesOther = SeccompRule(names: ["read"], action: .allow, includes: SeccompCondition(arches: [other]))
        let excludesNative = SeccompRule(names: ["read"], action: .allow, excludes: SeccompCondition(arches: [goName]))
        #expect(includesNative.applies(capabilities: [], nativeArchitecture: native, kernel: nil))
        #expect(!includesOther.applies(capabilities: [], nativeArchitecture: native, kernel: nil))
        #expect(!excludesNative.applies(capabilities: [], nativeArchitecture: native, kernel: nil))
    }

    @Test("Includes need every capability; excludes drop the rule on any one", arguments: [
        ([String](), false, true),
        (["CAP_SYS_ADMIN"], false, true),
        (["CAP_SYS_ADMIN", "CAP_NET_ADMIN"], true, true),
        (["CAP_NET_RAW"], false, false),
    ] as [([String], Bool, Bool)])
    func capabilityConditions(held: [String], includesApplies: Bool, excludesApplies: Bool) {
        let native = SeccompArchitecture.native
        let includes = SeccompRule(names: ["read"], action: .allow,
                                   includes: SeccompCondition(caps: ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]))
        let excludes = SeccompRule(names: ["read"], action: .allow,
                                   excludes: SeccompCondition(caps: ["CAP_NET_RAW", "CAP_MKNOD"]))
        #expect(includes.applies(capabilities: Set(held), nativeArchitecture: native, kernel: nil) == includesApplies)
        #expect(excludes.applies(capabilities: Set(held), nativeArchitecture: native, kernel: nil) == excludesApplies)
    }

    @Test("A rule with the default action is left out instead of failing")
    func ruleLikeDefault() throws {
        let profile = try Fixtures.parse("""
        {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
         "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}, {"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
        """)
        let filter = try SeccompCompiler.compile(profile, capabilities: [])
        let bare = try SeccompCompiler.compile(try Fixtures.parse("""
        {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
        """), capabilities: [])
        #expect(filter.bpf == bare.bpf)
    }

    @Test("A rule libseccomp refuses is reported with the file and entry")
    func refusedRule() throws {
        let profile = try Fixtures.parse("""
        {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
          {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22, "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"}]},
          {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"}]}
        ]}
        """)
        do {
            _ = try SeccompCompiler.compile(profile, capabilities: [])
            Issue.record("expected libseccomp to refuse the conflicting rule")
        } catch {
            #expect(error.description == "policy/seccomp/x.json: syscalls[1].names[0]: libseccomp refused the rule for 'socket' (SCMP_ACT_ALLOW): File exists")
        }
    }

    @Test("An unknown capability in the container's set is an error")
    func unknownCapability() throws {
        let profile = try Fixtures.shipped("strict")
        #expect(throws: SeccompError.self) { try SeccompCompiler.compile(profile, capabilities: ["CAP_SUPERPOWER"]) }
    }

    @Test("Profile flags become the seccomp(2) flags")
    func flags() throws {
        let profile = try Fixtures.parse("""
        {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
         "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]}
        """)
        #expect(try SeccompCompiler.compile(profile, capabilities: []).installFlags == 6)
    }

    @Test("The archMap adds the native architecture's sub-architectures")
    func archMap() throws {
        let withMap = try Fixtures.parse(Fixtures.mobyStyle, path: "fixtures/moby.json")
        var withoutMap = withMap
        withoutMap.archMap = []
        let a = try SeccompCompiler.compile(withMap, capabilities: [])
        let b = try SeccompCompiler.compile(withoutMap, capabilities: [])
        #expect(a.instructionCount > b.instructionCount)
    }
}
