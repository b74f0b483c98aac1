import Foundation
import Testing

extension Integration {
/// Cgroup limits through the helper: applied, metered, enforced, cleaned up; as root and as
/// an ordinary user with a delegated subtree.
@Suite("resource limits")
struct LimitTests {
    static let identities = Harness.Identity.allCases.filter(\.available)

    /// The `--json` object envyro printed as the last line of stderr.
    func result(_ r: Harness.Result) throws -> [String: Any] {
        let line = try #require(r.stderr.split(separator: "\n").last(where: { $0.hasPrefix("{") }), "no JSON in: \(r.stderr)")
        return try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
    }

    /// Container cgroups under the caller's subtree in the memory hierarchy that belong to this
    /// test run's helpers (their names start with the helper's pid; cgroups of helpers running
    /// other binaries on the same machine are not ours to judge).
    static func containerCgroups(uid: String) -> [String] {
        let dir = "/sys/fs/cgroup/memory/envyro/" + (uid == "0" ? "root" : "u\(uid)")
        let bin = Harness.installRoot.appendingPathComponent("bin").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { name in
            guard name.hasPrefix("c-"), let pid = name.split(separator: "-").dropFirst().first else { return false }
            // A dead owner's cgroup counts (it is what garbage collection is for).
            guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe") else { return true }
            return exe.hasPrefix(bin)
        }
    }

    static func uid(_ who: Harness.Identity) -> String { who == .root ? "0" : Harness.ordinaryUID }

    @Test("limits land in the container's cgroup and the result reports what it used", arguments: identities)
    func appliedAndMetered(who: Harness.Identity) throws {
        let r = try Harness.envyro(["run", "--memory", "64M", "--pids-limit", "32", "--cpus", "0.5", "--json", "--",
                                    "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null; echo ok"], as: who)
        #expect(r.status == 0, "\(r.stderr)")
        let j = try result(r)
        #expect(j["exitCode"] as? Int == 0)
        #expect(j["memoryLimitBytes"] as? Int == 64 << 20)
        #expect(j["pidsLimit"] as? Int == 32)
        #expect((j["memoryPeakBytes"] as? Int ?? 0) > 0)
        #expect((j["pidsPeak"] as? Int ?? 0) >= 1)
        #expect(j["oomKills"] as? Int == 0)
        #expect(j["wallMicros"] is Int && j["userCpuMicros"] != nil)
        #expect(Self.containerCgroups(uid: Self.uid(who)).isEmpty, "the container's cgroup was removed")
    }

    @Test("a memory hog is killed by the OOM killer and envyro says so with status 247", arguments: identities)
    func outOfMemory(who: Harness.Identity) throws {
        let r = try Harness.envyro(["run", "--memory", "32M", "--json", "--", "python3", "-c", "x = bytearray(256 << 20)"], as: who)
        #expect(r.status == 247, "\(r.stderr)")
        #expect(r.stderr.contains("envyro: killed: out of memory (limit 32 MiB)"))
        let j = try result(r)
        #expect(j["oomKilled"] as? Bool == true)
        #expect((j["oomKills"] as? Int ?? 0) >= 1)
    }

    @Test("a fork bomb stops at the pids limit and the run still ends", arguments: identities)
    func forkBomb(who: Harness.Identity) throws {
        let before = Harness.snapshot()
        let script = "i=0; while [ $i -lt 200 ]; do (sh -c 'sleep 3' envyro-leak-marker &) 2>/dev/null; i=$((i+1)); done; echo done"
        let r = try Harness.envyro(["run", "--pids-limit", "16", "--json", "--", "sh", "-c", script], as: who)
        // dash either reports "Cannot fork" and carries on or gives up; either way the run ends.
        let j = try result(r)
        #expect((j["pidsPeak"] as? Int ?? 99) <= 16)
        Harness.expectNothingLeaked(since: before)
        #expect(Self.containerCgroups(uid: Self.uid(who)).isEmpty)
    }

    @Test("a CPU quota throttles a busy loop", arguments: identities)
    func cpuQuota(who: Harness.Identity) throws {
        let r = try Harness.envyro(["run", "--cpus", "0.2", "--timeout", "1", "--json", "--", "sh", "-c", "while :; do :; done"], as: who)
        #expect(r.status == 124)
        let j = try result(r)
        let cpu = Double(j["cgroupCpuNanos"] as? Int ?? Int.max) / 1e9
        let wall = Double(j["wallMicros"] as? Int ?? 1) / 1e6
        // 0.2 CPUs for about a second: well under half a CPU even on a busy machine.
        #expect(cpu / wall < 0.45, "used \(cpu) s of CPU in \(wall) s")
        #expect(cpu > 0.05)
    }

    @Test("a request above the policy's maximum is refused, naming both values")
    func aboveMaximum() throws {
        let r = try Harness.envyro(["run", "--policy", "strict", "--memory", "8G", "--", "true"])
        #expect(r.status == 125)
        #expect(r.stderr.contains("--memory 8 GiB exceeds policy strict's maximum of 4 GiB"))
        let p = try Harness.envyro(["run", "--policy", "strict", "--pids-limit", "100000", "--", "true"])
        #expect(p.stderr.contains("--pids-limit 100000 exceeds policy strict's maximum of 4096"))
    }

    @Test("strict gives every run memory and pids limits even when none are asked for")
    func strictDefaults() throws {
        let r = try Harness.envyro(["run", "--policy", "strict", "--json", "--", "true"])
        let j = try result(r)
        #expect(j["memoryLimitBytes"] as? Int == 512 << 20)
        #expect(j["pidsLimit"] as? Int == 256)
    }

    @Test("bad limit flags get clear errors", arguments: [
        (["--memory", "lots"], "lots"),
        (["--cpus=-1"], "-1"),
        (["--pids-limit", "0"], "--pids-limit 0"),
        (["--blkio-weight", "5"], "--blkio-weight 5: expected 10...1000"),
        (["--cpu-shares", "1"], "--cpu-shares 1: expected 2...262144"),
        (["--profile", "huge"], "--profile huge"),
    ])
    func badFlags(flags: [String], message: String) throws {
        let r = try Harness.envyro(["run"] + flags + ["--", "true"])
        #expect(r.status == 125)
        #expect(r.stderr.contains(message), "\(r.stderr)")
    }

    @Test("a user without a delegated subtree runs without limits, and asking for limits says how to get them")
    func noDelegation() throws {
        guard Harness.isRoot else { return }
        if (try? Harness.run(["/usr/bin/id", "-u", "envyrotest2"]))?.status != 0 {
            _ = try Harness.run(["/usr/sbin/useradd", "-m", "-s", "/bin/sh", "envyrotest2"])
        }
        let base = [Harness.installRoot.appendingPathComponent("bin/envyro").path]
        let plain = try Harness.run(["/usr/sbin/runuser", "-u", "envyrotest2", "--"] + base + ["run", "--", "true"])
        #expect(plain.status == 0, "\(plain.stderr)")
        let limited = try Harness.run(["/usr/sbin/runuser", "-u", "envyrotest2", "--"] + base + ["run", "--memory", "64M", "--", "true"])
        #expect(limited.status == 125)
        #expect(limited.stderr.contains("sudo envyro setup --user envyrotest2"), "\(limited.stderr)")
    }

    @Test("under strict, a user without a delegated subtree runs with pids and memory as rlimits, and is told what is and isn't enforced")
    func strictWithoutDelegation() throws {
        guard Harness.isRoot else { return }
        if (try? Harness.run(["/usr/bin/id", "-u", "envyrotest2"]))?.status != 0 {
            _ = try Harness.run(["/usr/sbin/useradd", "-m", "-s", "/bin/sh", "envyrotest2"])
        }
        let uid = try Harness.run(["/usr/bin/id", "-u", "envyrotest2"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !FileManager.default.fileExists(atPath: "/sys/fs/cgroup/pids/envyro/u\(uid)") else {
            print("skipped: envyrotest2 has a delegated cgroup subtree on this host (sudo envyro setup --remove --user envyrotest2)")
            return
        }
        let base = [Harness.installRoot.appendingPathComponent("bin/envyro").path]
        // strict's defaults: 256 pids, 512 MiB; cpu 1 is not enforced without a cgroup.
        let limits = try Harness.run(["/usr/sbin/runuser", "-u", "envyrotest2", "--"] + base
            + ["run", "--policy", "strict", "--", "sh", "-c", "cat /proc/self/limits"])
        #expect(limits.status == 0, "\(limits.stderr)")
        #expect(limits.stdout.contains { _ in true } && limits.stdout.split(separator: "\n").contains { $0.hasPrefix("Max processes") && $0.contains("256") }, "\(limits.stdout)")
        #expect(limits.stdout.split(separator: "\n").contains { $0.hasPrefix("Max data size") && $0.contains("536870912") }, "\(limits.stdout)")
        #expect(limits.stderr.contains("enforced: pids 256"), "\(limits.stderr)")
        #expect(limits.stderr.contains("not in total") && limits.stderr.contains("not enforced: cpu"), "\(limits.stderr)")
        #expect(limits.stderr.contains("sudo envyro setup --user envyrotest2"), "\(limits.stderr)")
        // The pids limit is the container's: a fifth process can't be made under --pids-limit 4.
        let forks = try Harness.run(["/usr/sbin/runuser", "-u", "envyrotest2", "--"] + base
            + ["run", "--policy", "strict", "--pids-limit", "4", "--", "sh", "-c",
               "sleep 2 & sleep 2 & sleep 2 & if sleep 2 & then wait; echo made-all; else echo refused; fi"])
        #expect(forks.stdout.contains("refused") || forks.stderr.contains("fork"), "\(forks.stdout) \(forks.stderr)")
        #expect(!forks.stdout.contains("made-all"), "\(forks.stdout)")
    }

    @Test("another user's subtree is refused and the refusal is audited")
    func notYourSubtree() throws {
        guard Harness.isRoot, Harness.ordinaryUser != nil else { return }
        let uid = Harness.ordinaryUID
        let dir = "/sys/fs/cgroup/pids/envyro/u\(uid)"
        // Hand the user's own pids subtree to someone else for the length of this test.
        _ = try Harness.run(["/bin/chown", "0:0", dir])
        defer { _ = try? Harness.run(["/bin/chown", "\(uid):\(uid)", dir]) }
        let audit = Harness.scratchDirectory("cg-audit")
        defer { try? FileManager.default.removeItem(at: audit) }
        let policy = try PolicyFiles.copy(of: "default", auditPath: audit.appendingPathComponent("audit.jsonl").path, into: audit)
        let r = try Harness.envyro(["run", "--policy", policy, "--pids-limit", "10", "--", "true"], as: .ordinary)
        #expect(r.status == 125)
        #expect(r.stderr.contains("cgroup"), "\(r.stderr)")
        let lines = try String(contentsOfFile: audit.appendingPathComponent("audit.jsonl").path, encoding: .utf8).split(separator: "\n")
        let create = try #require(lines.last(where: { $0.contains("\"verb\":\"create\"") }))
        #expect(create.contains("\"result\":\"EPERM\""))
        #expect(create.contains("cgroup"))
    }

    /// The cgroup path of `pid` in the hierarchy whose /proc/PID/cgroup line starts with `prefix`
    /// (`4:memory:` for v1's memory, `0::` for cgroup2).
    static func cgroupPath(of pid: String, _ prefix: String) -> String? {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").first { $0.hasPrefix(prefix) || $0.contains(":\(prefix):") }
            .map { String($0.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)[2]) }
    }

    @Test("a limited run's container is in its own cgroup in the v1 hierarchies and in cgroup2, which the clone placed it in",
          .enabled(if: Harness.isRoot, "needs root"))
    func clonedIntoCgroup2() throws {
        guard FileManager.default.fileExists(atPath: "/sys/fs/cgroup/unified/cgroup.procs") else {
            print("skipped: no cgroup2 hierarchy at /sys/fs/cgroup/unified on this host"); return
        }
        let p = try Self.startLimitedSleep()
        // SIGKILL: the pid-1 shell ignores SIGTERM; the helper sees envyro go and kills the container.
        defer { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        // The workload: a sleep in one of this run's container cgroups.
        var found: (pid: String, cgroup: String)? = nil
        for _ in 0..<300 where found == nil {
            usleep(10_000)
            for cg in Self.containerCgroups(uid: "0") {
                let procs = (try? String(contentsOfFile: "/sys/fs/cgroup/memory/envyro/root/\(cg)/cgroup.procs", encoding: .utf8)) ?? ""
                if let pid = procs.split(separator: "\n").first(where: {
                    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\($0)/exe"))?.hasSuffix("/sleep") == true
                }) { found = (String(pid), cg) }
            }
        }
        let (pid, cg) = try #require(found, "the workload never showed up in a container cgroup")
        #expect(Self.cgroupPath(of: pid, "memory") == "/envyro/root/\(cg)")
        #expect(Self.cgroupPath(of: pid, "0::") == "/envyro/root/\(cg)", "cgroup2: \(Self.cgroupPath(of: pid, "0::") ?? "none")")
        let v2procs = (try? String(contentsOfFile: "/sys/fs/cgroup/unified/envyro/root/\(cg)/cgroup.procs", encoding: .utf8)) ?? ""
        #expect(v2procs.split(separator: "\n").contains(Substring(pid)))
    }

    /// Starts `envyro run --memory 64M -- sh -c "sleep 300"` (marked for the leak checks) in the
    /// background, as root.
    static func startLimitedSleep() throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Harness.envyro)
        p.arguments = ["run", "--memory", "64M", "--", "sh", "-c", "sleep 300", "envyro-leak-marker"]
        p.standardInput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Starts a limited run, SIGKILLs its helper, and returns once envyro has given up.
    func killHelperMidRun() throws {
        let p = try Self.startLimitedSleep()
        // The helper is envyro's child; wait until the workload has exec'd (its cgroup exists and
        // it shows the marker), so the process killed is the helper and not the container.
        var helper: Int32? = nil
        for _ in 0..<300 where helper == nil {
            usleep(10_000)
            let running = Self.containerCgroups(uid: "0").contains { cg in
                let procs = (try? String(contentsOfFile: "/sys/fs/cgroup/memory/envyro/root/\(cg)/cgroup.procs", encoding: .utf8)) ?? ""
                return procs.split(separator: "\n").contains {
                    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\($0)/exe"))?.hasSuffix("/sleep") == true
                }
            }
            guard running else { continue }
            helper = Harness.children(of: p.processIdentifier).first
        }
        let pid = try #require(helper)
        #expect(!Self.containerCgroups(uid: "0").isEmpty)
        kill(pid, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationStatus == 125)
    }

    @Test("a helper killed mid-run leaves a cgroup that envyro gc and the next run remove")
    func garbageCollection() throws {
        guard Harness.isRoot else { return }
        // The container died with its helper (parent-death signal); its cgroup stayed behind.
        try killHelperMidRun()
        #expect(!Self.containerCgroups(uid: "0").isEmpty)
        let gc = try Harness.envyro(["gc"])
        #expect(gc.status == 0, "\(gc.stderr)")
        #expect(gc.stdout.contains("removed"), "\(gc.stdout)")
        #expect(Self.containerCgroups(uid: "0").isEmpty)

        try killHelperMidRun()
        #expect(!Self.containerCgroups(uid: "0").isEmpty)
        let next = try Harness.envyro(["run", "--memory", "16M", "--", "true"])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(Self.containerCgroups(uid: "0").isEmpty, "the next run collected what was left")
    }
}
}
