import Foundation
import Testing

extension Integration {
/// Seccomp, file descriptors, fail-closed auditing and policy trust, end to end.
@Suite("security")
struct SecurityTests {
    static let identities = Harness.Identity.allCases.filter(\.available)

    @Test("strict's seccomp filter kills a workload that tries to make namespaces or trace", arguments: identities)
    func strictKills(who: Harness.Identity) throws {
        for cmd in [["unshare", "-U", "true"], ["python3", "-c", "import ctypes; ctypes.CDLL(None).syscall(101, 0, 0, 0, 0)"]] {
            let r = try Harness.envyro(["run", "--policy", "strict", "--"] + cmd, as: who)
            #expect(r.status == 128 + 31, "\(cmd): \(r.stderr)")   // SIGSYS
        }
        let ok = try Harness.envyro(["run", "--policy", "strict", "--", "sh", "-c", "ls / >/dev/null && echo fine"], as: who)
        #expect(ok.stdout == "fine\n", "\(ok.stderr)")
    }

    @Test("default's filter refuses namespace creation with EPERM and unknown syscalls with ENOSYS")
    func defaultRefuses() throws {
        let r = try Harness.envyro(["run", "--", "sh", "-c", "unshare -U true; echo rc=$?"])
        #expect(r.stdout == "rc=1\n")
        #expect(r.stderr.contains("Operation not permitted"))
        let n = try Harness.envyro(["run", "--", "python3", "-c", "import ctypes, os; r = ctypes.CDLL(None, use_errno=True).syscall(999); print(r, ctypes.get_errno())"])
        #expect(n.stdout == "-1 38\n", "\(n.stderr)")
    }

    @Test("--seccomp FILE stacks a profile that can only restrict further", arguments: identities)
    func extraProfile(who: Harness.Identity) throws {
        let dir = Harness.scratchDirectory("seccomp")
        defer { try? FileManager.default.removeItem(at: dir) }
        let deny = dir.appendingPathComponent("deny-mkdir.json").path
        try #"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#
            .write(toFile: deny, atomically: false, encoding: .utf8)
        let allowAll = dir.appendingPathComponent("allow-all.json").path
        try #"{"defaultAction": "SCMP_ACT_ALLOW"}"#.write(toFile: allowAll, atomically: false, encoding: .utf8)
        _ = try Harness.run(["/bin/chmod", "a+r", deny, allowAll])

        let r = try Harness.envyro(["run", "--seccomp", deny, "--", "sh", "-c", "mkdir /tmp/x 2>/dev/null || echo denied; grep Seccomp_filters /proc/self/status"], as: who)
        #expect(r.stdout == "denied\nSeccomp_filters:\t2\n", "\(r.stderr)")
        // An allow-everything profile does not loosen strict: unshare still dies.
        let s = try Harness.envyro(["run", "--policy", "strict", "--seccomp", allowAll, "--", "unshare", "-U", "true"], as: who)
        #expect(s.status == 128 + 31)
    }

    @Test("a broken seccomp profile is an error naming the file and the entry", arguments: [
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["opne"], "action": "SCMP_ACT_KILL"}]}"#, "syscalls[0].names[0]: unknown syscall 'opne'"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["open"], "action": "SCMP_ACT_FOO"}]}"#, "syscalls[0].action"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["open"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}]}"#, "syscalls[0].args[0].op"),
        (#"{"defaultAction": "#, "invalid JSON"),
    ])
    func brokenProfile(text: String, message: String) throws {
        let dir = Harness.scratchDirectory("bad-seccomp")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bad.json").path
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        let r = try Harness.envyro(["run", "--seccomp", path, "--", "true"])
        #expect(r.status == 125)
        #expect(r.stderr.contains(path), "\(r.stderr)")
        #expect(r.stderr.lowercased().contains(message.lowercased()), "\(r.stderr)")
    }

    @Test("every descriptor but stdio is closed in the workload", arguments: identities)
    func onlyStdio(who: Harness.Identity) throws {
        // ls opens /proc/self/fd itself, as fd 3.
        let r = try Harness.envyro(["run", "--", "ls", "/proc/self/fd"], as: who)
        #expect(r.stdout == "0\n1\n2\n3\n", "\(r.stderr)")
    }

    /// Runs envyro with a file-size limit below the audit log's size, so every audit write fails
    /// (EFBIG) as it would on a full disk.
    func runWithFullAuditLog(policy name: String) throws -> Harness.Result {
        let dir = Harness.scratchDirectory("full-audit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("audit.jsonl").path
        try String(repeating: "x", count: 1 << 20).write(toFile: log, atomically: false, encoding: .utf8)
        let policy = try PolicyFiles.copy(of: name, auditPath: log, into: dir)
        // 768 KiB: room for the supervisor's 512 KiB buffer memfd, none for the log.
        return try Harness.run(["/usr/bin/prlimit", "--fsize=786432", Harness.envyro, "run", "--policy", policy, "--", "sh", "-c", "echo ran"])
    }

    @Test("with the audit log unwritable, strict refuses the run and default warns and runs it")
    func auditFailClosed() throws {
        let strict = try runWithFullAuditLog(policy: "strict")
        #expect(strict.status == 125, "\(strict.stderr)")
        #expect(strict.stdout.isEmpty, "nothing ran")
        #expect(strict.stderr.contains("fails closed"), "\(strict.stderr)")
        let lenient = try runWithFullAuditLog(policy: "default")
        #expect(lenient.status == 0, "\(lenient.stderr)")
        #expect(lenient.stdout == "ran\n")
        #expect(lenient.stderr.contains("warning: audit log not written"))
    }

    @Test("an installed (privileged) helper refuses a policy file that is not root-owned")
    func untrustedPolicy() throws {
        guard let envyro = IDMapTests.cappedEnvyro else { return }
        let dir = Harness.scratchDirectory("user-policy")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("mine.json").path
        try FileManager.default.copyItem(atPath: Harness.installRoot.appendingPathComponent("policy/default.json").path, toPath: path)
        _ = try Harness.run(["/bin/chown", "envyrotest", path])
        let r = try Harness.run(["/usr/sbin/runuser", "-u", "envyrotest", "--", envyro, "run", "--policy", path, "--", "true"])
        #expect(r.status == 125)
        // A capped helper takes policies only by name from its fixed directories (issue 13, item 6).
        #expect(r.stderr.contains("reads policies only by name"), "\(r.stderr)")
    }
}
}
