import EnvyroSeccomp
import Testing

/// One malformed profile and the exact error it must produce.
struct BadProfile: CustomStringConvertible, Sendable {
    let what: String
    let json: String
    let expected: String
    var description: String { what }
}

private func allow(_ names: String, extra: String = "") -> String {
    """
    {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["write"], "action": "SCMP_ACT_ALLOW"},
      {"names": [\(names)], "action": "SCMP_ACT_ALLOW"\(extra)}
    ]}
    """
}

private let badProfiles: [BadProfile] = [
    BadProfile(what: "broken JSON", json: "{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [}",
               expected: "policy/seccomp/x.json: invalid JSON: line 2, column 16: unexpected '}', expected a value"),
    BadProfile(what: "a profile that is not an object", json: "[]",
               expected: "policy/seccomp/x.json: expected an object, found array"),
    BadProfile(what: "a misspelled system call", json: allow("\"open\", \"opne\""),
               expected: "policy/seccomp/x.json: syscalls[2].names[1]: unknown syscall 'opne' (did you mean 'open'?)"),
    BadProfile(what: "a made-up system call", json: allow("\"frobnicate_the_kernel\""),
               expected: "policy/seccomp/x.json: syscalls[2].names[0]: unknown syscall 'frobnicate_the_kernel'"),
    BadProfile(what: "a misspelled legacy name",
               json: #"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "getpdi", "action": "SCMP_ACT_ALLOW"}]}"#,
               expected: "policy/seccomp/x.json: syscalls[0].name: unknown syscall 'getpdi' (did you mean 'getpid'?)"),
    BadProfile(what: "an unknown action",
               json: #"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["write"], "action": "SCMP_ACT_FOO"}]}"#,
               expected: "policy/seccomp/x.json: syscalls[2].action: unknown action 'SCMP_ACT_FOO' (expected one of SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_TRACE, SCMP_ACT_LOG)"),
    BadProfile(what: "an unknown default action", json: #"{"defaultAction": "SCMP_ACT_DENY"}"#,
               expected: "policy/seccomp/x.json: defaultAction: unknown action 'SCMP_ACT_DENY' (expected one of SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_TRACE, SCMP_ACT_LOG)"),
    BadProfile(what: "a missing default action", json: #"{"syscalls": []}"#,
               expected: "policy/seccomp/x.json: defaultAction: missing"),
    BadProfile(what: "an unknown operator",
               json: allow("\"socket\"", extra: #", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 1, "op": "SCMP_CMP_EQUALS"}]"#),
               expected: "policy/seccomp/x.json: syscalls[2].args[1].op: unknown operator 'SCMP_CMP_EQUALS' (expected one of SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ)"),
    BadProfile(what: "an argument index above 5",
               json: allow("\"socket\"", extra: #", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]"#),
               expected: "policy/seccomp/x.json: syscalls[2].args[0].index: 6 is out of range (system calls have arguments 0-5)"),
    BadProfile(what: "a negative argument value",
               json: allow("\"socket\"", extra: #", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]"#),
               expected: "policy/seccomp/x.json: syscalls[2].args[0].value: -1 is negative; argument values are unsigned"),
    BadProfile(what: "an argument without op",
               json: allow("\"socket\"", extra: #", "args": [{"index": 0, "value": 1}]"#),
               expected: "policy/seccomp/x.json: syscalls[2].args[0].op: missing"),
    BadProfile(what: "a listener path", json: #"{"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/seccomp.sock"}"#,
               expected: "policy/seccomp/x.json: listenerPath: seccomp user notification (a listener) is not supported"),
    BadProfile(what: "the notify action",
               json: #"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}]}"#,
               expected: "policy/seccomp/x.json: syscalls[0].action: SCMP_ACT_NOTIFY is not supported (Envyro has no seccomp user-notification listener)"),
    BadProfile(what: "the new-listener flag",
               json: #"{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_NEW_LISTENER"]}"#,
               expected: "policy/seccomp/x.json: flags[1]: SECCOMP_FILTER_FLAG_NEW_LISTENER is not supported (no seccomp user-notification listener)"),
    BadProfile(what: "an unknown key in an entry",
               json: allow("\"read\"", extra: #", "actoin": "SCMP_ACT_ERRNO""#),
               expected: "policy/seccomp/x.json: syscalls[2]: unknown key 'actoin' (expected action, args, errnoRet, excludes, includes, name, names)"),
    BadProfile(what: "an unknown key at the top", json: #"{"defaultAction": "SCMP_ACT_ERRNO", "syscall": []}"#,
               expected: "policy/seccomp/x.json: unknown key 'syscall' (expected archMap, architectures, defaultAction, defaultErrnoRet, flags, listenerMetadata, listenerPath, syscalls)"),
    BadProfile(what: "an unknown key in an argument",
               json: allow("\"socket\"", extra: #", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ", "mask": 3}]"#),
               expected: "policy/seccomp/x.json: syscalls[2].args[0]: unknown key 'mask' (expected index, op, value, valueTwo)"),
    BadProfile(what: "an unknown capability in includes",
               json: allow("\"mount\"", extra: #", "includes": {"caps": ["CAP_SYS_ADMN"]}"#),
               expected: "policy/seccomp/x.json: syscalls[2].includes.caps[0]: unknown capability 'CAP_SYS_ADMN'"),
    BadProfile(what: "a bad minKernel",
               json: allow("\"ptrace\"", extra: #", "excludes": {"minKernel": "four"}"#),
               expected: "policy/seccomp/x.json: syscalls[2].excludes.minKernel: 'four' is not a kernel version like \"4.8\""),
    BadProfile(what: "an unknown architecture", json: #"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"]}"#,
               expected: "policy/seccomp/x.json: architectures[1]: unknown architecture 'SCMP_ARCH_Z80'"),
    BadProfile(what: "errnoRet on an allow rule",
               json: allow("\"read\"", extra: #", "errnoRet": 1"#),
               expected: "policy/seccomp/x.json: syscalls[2].errnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno value, not SCMP_ACT_ALLOW"),
    BadProfile(what: "an errno out of range",
               json: #"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}"#,
               expected: "policy/seccomp/x.json: defaultErrnoRet: 70000 is out of range (0-4095)"),
    BadProfile(what: "an entry without names",
               json: #"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]}"#,
               expected: "policy/seccomp/x.json: syscalls[0]: no system call names (give 'names')"),
    BadProfile(what: "names that are not strings",
               json: #"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", 3], "action": "SCMP_ACT_ALLOW"}]}"#,
               expected: "policy/seccomp/x.json: syscalls[0].names[1]: expected a string, found integer"),
]

@Suite("Parsing seccomp profiles")
struct ProfileParsingTests {
    @Test("A bad profile is rejected with an error naming the file and the entry", arguments: badProfiles)
    func rejects(_ bad: BadProfile) {
        let error = Fixtures.parseError(bad.json)
        #expect(error?.description == bad.expected)
    }

    @Test("A missing file is reported with its path")
    func missingFile() {
        #expect(throws: SeccompError.self) { try SeccompProfile.load(path: "/nonexistent/envyro/x.json") }
        do {
            _ = try SeccompProfile.load(path: "/nonexistent/envyro/x.json")
        } catch {
            #expect(error.description.hasPrefix("/nonexistent/envyro/x.json: can't read the profile: open("))
        }
    }

    @Test("A hand-written moby-style profile loads with every field understood")
    func mobyStyle() throws {
        let profile = try Fixtures.parse(Fixtures.mobyStyle, path: "fixtures/moby.json")
        #expect(profile.defaultAction == .errno(1))
        #expect(profile.archMap.count == 3)
        #expect(profile.archMap[0] == SeccompArchMapEntry(architecture: "SCMP_ARCH_X86_64",
                                                          subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]))
        #expect(profile.archMap[2].subArchitectures.isEmpty)
        #expect(profile.syscalls.count == 15)
        #expect(profile.syscalls[1].names == ["getpid"])
        #expect(profile.syscalls[2].includes.minKernel == KernelVersion(4, 8))
        #expect(profile.syscalls[3].args == [
            SeccompArgument(index: 0, value: 0, valueTwo: 0, op: .equal),
            SeccompArgument(index: 0, value: 4_294_967_295, valueTwo: 0, op: .equal),
        ])
        #expect(profile.syscalls[4].includes.arches == ["amd64", "x32"])
        #expect(profile.syscalls[6].action == .errno(22))
        #expect(profile.syscalls[6].excludes.caps == ["CAP_AUDIT_WRITE"])
        #expect(profile.syscalls[10].args == [SeccompArgument(index: 0, value: 2_114_060_288, op: .maskedEqual)])
        #expect(profile.syscalls[11].comment == "s390 parameter ordering for clone is different")
        #expect(profile.syscalls[12].action == .errno(38))
    }

    @Test("Actions parse to their libseccomp values", arguments: [
        ("SCMP_ACT_ALLOW", nil, UInt32(0x7fff_0000)),
        ("SCMP_ACT_ERRNO", 38, 0x0005_0026),
        ("SCMP_ACT_ERRNO", nil, 0x0005_0001),
        ("SCMP_ACT_KILL_PROCESS", nil, 0x8000_0000),
        ("SCMP_ACT_KILL", nil, 0),
        ("SCMP_ACT_KILL_THREAD", nil, 0),
        ("SCMP_ACT_TRAP", nil, 0x0003_0000),
        ("SCMP_ACT_TRACE", 7, 0x7ff0_0007),
        ("SCMP_ACT_LOG", nil, 0x7ffc_0000),
    ] as [(String, Int?, UInt32)])
    func actions(name: String, errno: Int?, raw: UInt32) throws {
        let errnoPart = errno.map { ", \"defaultErrnoRet\": \($0)" } ?? ""
        let profile = try Fixtures.parse("{\"defaultAction\": \"\(name)\"\(errnoPart)}")
        #expect(profile.defaultAction.rawValue == raw)
    }

    @Test("Documentation keys are accepted at the top, in entries and in arguments")
    func documentationKeys() throws {
        let profile = try Fixtures.parse("""
        {"comment": "top", "description": "d", "defaultAction": "SCMP_ACT_ERRNO",
         "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ALLOW", "comment": "why",
                       "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ", "comment": "AF_UNIX"}]}]}
        """)
        #expect(profile.syscalls[0].comment == "why")
    }

    @Test("System calls newer than libseccomp 2.5.4 are accepted, typos are not", arguments: [
        ("mseal", true), ("lsm_get_self_attr", true), ("listmount", true), ("statmount", true),
        ("uretprobe", true), ("setxattrat", true), ("landlock_create_ruleset", true), ("cachestat", true),
        ("read", true), ("chown32", true), ("socketcall", true), ("opne", false), ("mseals", false), ("", false),
    ])
    func knownSyscalls(name: String, known: Bool) {
        #expect(SeccompProfile.isKnownSyscall(name) == known)
    }

    @Test("Unusual names from Docker's and podman's published profiles are accepted", arguments: [
        "epoll_ctl_old", "epoll_wait_old", "get_thread_area", "set_thread_area", "_newselect", "recv", "send",
        "ugetrlimit", "waitpid", "sigreturn", "stime", "umount", "query_module", "bdflush", "oldolduname",
        "pciconfig_iobase", "sgetmask", "swapcontext", "sysfs", "uselib", "ustat", "vm86old", "readdir", "nice",
        "s390_pci_mmio_read", "s390_runtime_instr", "riscv_flush_icache", "arm_fadvise64_64", "arm_sync_file_range",
        "sync_file_range2", "breakpoint", "cacheflush", "set_tls", "socketcall", "ipc", "chown32", "_llseek",
        "process_mrelease", "set_mempolicy_home_node", "futex_waitv", "memfd_secret", "io_pgetevents_time64",
        "fchmodat2", "map_shadow_stack", "futex_wake", "futex_wait", "futex_requeue", "riscv_hwprobe",
    ])
    func publishedProfileNames(name: String) throws {
        let profile = try Fixtures.parse("""
        {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["\(name)"], "action": "SCMP_ACT_ALLOW"}]}
        """)
        _ = try SeccompCompiler.compile(profile, capabilities: [])
    }

    @Test("The shipped profiles load", arguments: ["strict", "default"])
    func shippedLoad(name: String) throws {
        let profile = try Fixtures.shipped(name)
        #expect(!profile.syscalls.isEmpty)
    }

    @Test("The canonical digest ignores formatting and comments but not meaning")
    func digest() throws {
        let a = try Fixtures.parse(#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#)
        let b = try Fixtures.parse("""
        {
          "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
          "syscalls": [ { "comment": "x", "name": "read", "action": "SCMP_ACT_ALLOW", "args": null } ]
        }
        """, path: "elsewhere.json")
        let c = try Fixtures.parse(#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["write"], "action": "SCMP_ACT_ALLOW"}]}"#)
        #expect(a.digest == b.digest)
        #expect(a.digest != c.digest)
        #expect(a.digest.count == 64)
    }

    @Test("Capability names map to their numbers", arguments: [
        ("CAP_CHOWN", Int32(0)), ("CAP_SYS_ADMIN", 21), ("cap_sys_admin", 21), ("SYS_PTRACE", 19),
        ("CAP_BPF", 39), ("CAP_CHECKPOINT_RESTORE", 40),
    ])
    func capabilityNumbers(name: String, number: Int32) {
        #expect(Capabilities.number(of: name) == number)
    }

    @Test("Unknown capability names have no number, and all 41 are listed")
    func capabilityTable() {
        #expect(Capabilities.number(of: "CAP_SYS_ADMN") == nil)
        #expect(Capabilities.allNames.count == 41)
        #expect(Set(Capabilities.allNames).count == 41)
        for (i, name) in Capabilities.allNames.enumerated() {
            #expect(Capabilities.number(of: name) == Int32(i))
        }
    }

    @Test("Kernel versions parse from profiles and from uname", arguments: [
        ("4.8", KernelVersion(4, 8) as KernelVersion?), ("5.15.2", KernelVersion(5, 15, 2)), ("4", nil), ("4.x", nil), ("", nil),
    ])
    func kernelVersions(text: String, version: KernelVersion?) {
        #expect(KernelVersion(text) == version)
    }

    @Test("uname releases with suffixes parse to their leading numbers")
    func unameReleases() {
        #expect(KernelVersion.parseRelease("6.18.44-fc-v657") == KernelVersion(6, 18, 44))
        #expect(KernelVersion.parseRelease("5.10.0-28-amd64") == KernelVersion(5, 10, 0))
        #expect(KernelVersion.parseRelease("6.1") == KernelVersion(6, 1))
        #expect(KernelVersion.parseRelease("linux") == nil)
        #expect(KernelVersion.running != nil)
    }
}
