import Foundation
import Testing

/// `envyro run` end to end: real helper, real namespaces, as root and as an ordinary user.
/// Everything is in one serialized suite so the leak checks see only their own runs.
/// All integration suites nest here: `.serialized` applies to everything inside, so the leak
/// checks see only their own runs.
@Suite("integration", .serialized,
       .enabled(if: Harness.userNamespacesWork, "user namespaces can't be created on this machine (unshare --user fails)"))
struct Integration {}

extension Integration {
@Suite("envyro run")
struct RunTests {
    static let identities = Harness.Identity.allCases.filter(\.available)

    @Test("the workload is pid 1 and sees only the container's processes in /proc", arguments: identities)
    func pidNamespace(who: Harness.Identity) throws {
        let r = try Harness.envyro(["run", "--", "sh", "-c", "echo $$; ls /proc | grep -E '^[0-9]+$' | wc -l"], as: who)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.first == "1")
        // sh, ls, grep and wc at most.
        #expect((Int(lines.last ?? "99") ?? 99) <= 4)
    }

    @Test("the hostname is the one asked for", arguments: identities)
    func hostname(who: Harness.Identity) throws {
        let r = try Harness.envyro(["run", "--hostname", "box-1", "--", "cat", "/proc/sys/kernel/hostname"], as: who)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "box-1\n")
    }

    @Test("uid 0 inside is the caller's own uid outside (a single-id map)", arguments: identities)
    func identityMap(who: Harness.Identity) throws {
        let r = try Harness.envyro(["run", "--", "sh", "-c", "id -u; cat /proc/self/uid_map"], as: who)
        #expect(r.status == 0, "\(r.stderr)")
        let words = r.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" })
        let outside = who == .root ? "0" : Harness.ordinaryUID
        #expect(words == ["0", "0", Substring(outside), "1"])
    }

    @Test("/usr and /etc are read-only and /tmp is private and writable", arguments: identities)
    func filesystem(who: Harness.Identity) throws {
        let marker = "envyro-host-marker-\(getpid())"
        _ = FileManager.default.createFile(atPath: "/tmp/\(marker)", contents: nil)
        defer { try? FileManager.default.removeItem(atPath: "/tmp/\(marker)") }
        let script = """
            touch /usr/probe 2>/dev/null && echo usr-writable; touch /etc/probe 2>/dev/null && echo etc-writable;
            touch /probe 2>/dev/null && echo root-writable; ls /tmp | grep -c \(marker);
            echo data > /tmp/file && cat /tmp/file; ls /
            """
        let r = try Harness.envyro(["run", "--", "sh", "-c", script], as: who)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(!lines.contains("usr-writable") && !lines.contains("etc-writable") && !lines.contains("root-writable"))
        #expect(lines.contains("0"), "the host's /tmp must not be visible")
        #expect(lines.contains("data"))
        // Nothing of the host but the read-only system directories.
        for entry in lines.dropFirst(2) { #expect(!["home", "root", "work", "var", "opt", "mnt"].contains(entry)) }
    }

    @Test("the network namespace has only lo, and it is up", arguments: identities)
    func network(who: Harness.Identity) throws {
        let r = try Harness.envyro(["run", "--", "sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; ip -o link show lo"], as: who)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.first == "lo")
        #expect(lines.count == 2)
        #expect(r.stdout.contains("UP"))
    }

    @Test("--network host shares the host's interfaces under the default policy")
    func hostNetwork() throws {
        let host = try String(contentsOfFile: "/proc/net/dev", encoding: .utf8).split(separator: "\n").count
        let r = try Harness.envyro(["run", "--network", "host", "--", "cat", "/proc/net/dev"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.split(separator: "\n").count == host)
    }

    @Test("stdin, stdout and stderr pass through", arguments: identities)
    func stdio(who: Harness.Identity) throws {
        let r = try Harness.envyro(["run", "--", "sh", "-c", "tr a-z A-Z; echo oops >&2"], as: who, stdin: "hello\n")
        #expect(r.stdout == "HELLO\n")
        #expect(r.stderr == "oops\n")
    }

    static let statuses: [([String], Int32)] = [
        (["sh", "-c", "exit 3"], 3),
        (["true"], 0),
        (["false"], 1),
        (["--init", "sh", "-c", "kill -9 $$"], 137),
        (["--init", "sh", "-c", "kill -TERM $$"], 143),
    ]

    @Test("the exit status is the workload's, or 128+N for signal N", arguments: statuses)
    func exitStatus(command: [String], expected: Int32) throws {
        var args = ["run"]
        var cmd = command
        if cmd.first == "--init" { args.append("--init"); cmd.removeFirst() }
        let r = try Harness.envyro(args + ["--"] + cmd)
        #expect(r.status == expected, "\(r.stderr)")
    }

    @Test("--init runs the workload as pid 2 under a reaper that forwards its status")
    func initProcess() throws {
        let r = try Harness.envyro(["run", "--init", "--", "sh", "-c", "echo $$; sleep 0.01 & wait; exit 5"])
        #expect(r.stdout == "2\n")
        #expect(r.status == 5)
    }

    @Test("--env, --cwd and the policy's PATH reach the workload", arguments: identities)
    func environment(who: Harness.Identity) throws {
        let r = try Harness.envyro(["run", "--env", "FOO=bar=baz", "--env", "HOME=/tmp", "--cwd", "/usr", "--",
                                    "sh", "-c", "echo $FOO; echo $HOME; pwd; echo $PATH; echo $HOSTNAME"], as: who)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "bar=baz\n/tmp\n/usr\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nenvyro\n")
    }

    @Test("--timeout kills the whole container and exits 124 with a message", arguments: identities)
    func timeout(who: Harness.Identity) throws {
        let before = Harness.snapshot()
        let start = Date()
        let r = try Harness.envyro(["run", "--timeout", "0.5", "--", "sh", "-c", "sleep 30 & sleep 31; wait", "envyro-leak-marker"], as: who)
        #expect(r.status == 124)
        #expect(r.stderr.contains("timed out after 0.5s"))
        #expect(Date().timeIntervalSince(start) < 10)
        Harness.expectNothingLeaked(since: before)
    }

    @Test("--policy strict runs the same workload", arguments: identities)
    func strictPolicy(who: Harness.Identity) throws {
        let r = try Harness.envyro(["run", "--policy", "strict", "--", "sh", "-c", "echo ok"], as: who)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "ok\n")
    }

    @Test("--rootfs DIR becomes / and is read-only unless --rootfs-rw", arguments: identities)
    func rootfs(who: Harness.Identity) throws {
        let dir = try StaticProbe.rootfs()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ro = try Harness.envyro(["run", "--rootfs", dir.path, "--", "/probe"], as: who)
        #expect(ro.status == 0, "\(ro.stderr)")
        #expect(ro.stdout == "entries: dev probe proc tmp\ncreate /new: EROFS\ncreate /tmp/new: ok\n")
        let rw = try Harness.envyro(["run", "--rootfs", dir.path, "--rootfs-rw", "--", "/probe"], as: who)
        #expect(rw.stdout.contains("create /new: ok"), "\(rw.stderr)")
        let strict = try Harness.envyro(["run", "--policy", "strict", "--rootfs", dir.path, "--rootfs-rw", "--", "/probe"], as: who)
        #expect(strict.status == 125)
        #expect(strict.stderr.contains("--rootfs-rw is not allowed by policy strict"))
    }

    @Test("the helper audits every call as one JSON line, and the chain verifies", arguments: identities)
    func auditLog(who: Harness.Identity) throws {
        let dir = Harness.scratchDirectory("audit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let policy = try PolicyFiles.copy(of: "default", auditPath: dir.appendingPathComponent("audit.jsonl").path, into: dir)
        let r = try Harness.envyro(["run", "--policy", policy, "--", "true"], as: who)
        #expect(r.status == 0, "\(r.stderr)")
        let text = try String(contentsOfFile: dir.appendingPathComponent("audit.jsonl").path, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 3)
        let records = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(records.map { $0["verb"] as? String } == ["hello", "create", "exited"])
        let uid = who == .root ? 0 : Int(Harness.ordinaryUID)!
        for (i, rec) in records.enumerated() {
            #expect(rec["seq"] as? Int == i + 1)
            #expect(rec["uid"] as? Int == uid)
            #expect(rec["decision"] as? String == "allowed")
            #expect(rec["result"] as? String == "ok")
            #expect(rec["duration_us"] is Int)
            #expect(rec["time"] is String && rec["pid"] is Int && (rec["args_sha256"] as? String)?.count == 64)
        }
        let verify = try Harness.envyro(["audit", "verify", dir.appendingPathComponent("audit.jsonl").path])
        #expect(verify.stdout.hasPrefix("OK"))
    }

    @Test("killing envyro mid-run leaves no helper and no container behind")
    func supervisorDeath() throws {
        let before = Harness.snapshot()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Harness.envyro)
        p.arguments = Harness.isRoot ? ["run", "--memory", "64M", "--", "sh", "-c", "sleep 300", "envyro-leak-marker"]
                                     : ["run", "--", "sh", "-c", "sleep 300", "envyro-leak-marker"]
        p.standardInput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Wait until the workload has really exec'd.
        var seen = false
        for _ in 0..<300 where !seen {
            usleep(10_000)
            seen = !Harness.processes(exeSuffix: "/sleep", argument: "300").isEmpty
        }
        #expect(seen)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        Harness.expectNothingLeaked(since: before)
        // The helper saw its socket close, killed the container and removed its cgroup.
        for _ in 0..<100 where !LimitTests.containerCgroups(uid: "0").isEmpty { usleep(20_000) }
        #expect(LimitTests.containerCgroups(uid: "0").isEmpty)
    }

    static let statusKeys = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"]

    /// The capability sets and no_new_privs the workload sees, from /proc/self/status.
    func processStatus(_ policy: String, as who: Harness.Identity) throws -> [String: String] {
        let r = try Harness.envyro(["run", "--policy", policy, "--", "cat", "/proc/self/status"], as: who)
        #expect(r.status == 0, "\(r.stderr)")
        var fields: [String: String] = [:]
        for line in r.stdout.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, Self.statusKeys.contains(String(parts[0])) {
                fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return fields
    }

    @Test("under strict the workload has no capability in any set and no_new_privs", arguments: identities)
    func strictCapabilities(who: Harness.Identity) throws {
        let status = try processStatus("strict", as: who)
        for key in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            #expect(status[key] == "0000000000000000", "\(key)")
        }
        #expect(status["NoNewPrivs"] == "1")
    }

    @Test("under default the workload keeps exactly podman's default capabilities", arguments: identities)
    func defaultCapabilities(who: Harness.Identity) throws {
        let status = try processStatus("default", as: who)
        // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE SYS_CHROOT SETFCAP
        let expected = "00000000800405fb"
        #expect(status["CapBnd"] == expected)
        #expect(status["CapPrm"] == expected)
        #expect(status["CapEff"] == expected)
        #expect(status["CapInh"] == "0000000000000000")
        #expect(status["CapAmb"] == "0000000000000000")
        #expect(status["NoNewPrivs"] == "1")
    }

    @Test("masked paths are empty and read-only paths can't be written", arguments: identities)
    func maskedPaths(who: Harness.Identity) throws {
        let r = try Harness.envyro(["run", "--", "sh", "-c",
            "wc -c < /proc/keys; echo x > /proc/sys/kernel/domainname 2>/dev/null && echo sys-writable; echo done"], as: who)
        #expect(r.stdout == "0\ndone\n", "\(r.stderr)")
    }

    @Test("with --init the workload can't reach the helper binary through /proc/1/exe", arguments: identities)
    func initIsNotDumpable(who: Harness.Identity) throws {
        let r = try Harness.envyro(["run", "--init", "--", "sh", "-c",
            "readlink /proc/1/exe >/dev/null 2>&1 && echo exe-visible; cat /proc/1/exe >/dev/null 2>&1 && echo exe-readable; echo done"], as: who)
        #expect(r.stdout == "done\n", "\(r.stderr)")
    }
}
}
