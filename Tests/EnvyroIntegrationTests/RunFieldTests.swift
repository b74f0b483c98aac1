import EnvyroProtocol
import Foundation
import Testing

extension Integration {
/// Issue 15, item 1: every run flag is described once (EnvyroProtocol's `RunField.all`), the
/// two other declarations (ArgumentParser's `Run`, front.c's `flags_table`) agree with it, and
/// every flag reaches the container, embedded and through a daemon.
@Suite("one run description")
struct RunFieldTests {
    /// The long options `envyro run`'s help lists (`--name`, without the dashes).
    static func helpOptions() throws -> Set<String> {
        let r = try Harness.run([Harness.installRoot.appendingPathComponent("bin/envyro-cli").path, "help", "run"])
        let names = r.stdout.split(separator: "\n").compactMap { line -> String? in
            let t = line.drop { $0 == " " }
            guard line.hasPrefix("  --"), let name = t.dropFirst(2).split(separator: " ").first else { return nil }
            return String(name)
        }
        return Set(names).subtracting(["help"])
    }

    @Test("envyro run --help lists exactly the table's flags, with the table's help text")
    func argumentParserMatchesTable() throws {
        let options = try Self.helpOptions()
        let table = Set(RunField.all.map(\.flag))
        #expect(options.subtracting(table).isEmpty, "options missing from RunField.all: \(options.subtracting(table).sorted())")
        #expect(table.subtracting(options).isEmpty, "RunField rows missing from Run: \(table.subtracting(options).sorted())")
        let help = try Harness.run([Harness.installRoot.appendingPathComponent("bin/envyro-cli").path, "help", "run"]).stdout
        let flat = help.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for field in RunField.all {
            let words = field.help.split(separator: " ").prefix(4).joined(separator: " ")
            #expect(flat.contains(words), "--\(field.flag)'s help is not the table's")
        }
    }

    @Test("front.c's flag table is the table's rows marked front, with the same keys and kinds")
    func frontMatchesTable() throws {
        let r = try Harness.run([Harness.envyro, "--list-run-flags"])
        #expect(r.status == 0, "\(r.stderr)")
        let front = r.stdout.split(separator: "\n").map(String.init)
        let expected = RunField.all.filter(\.front).map { "\($0.flag) \($0.key ?? "-") \($0.kind.frontName)" }
        #expect(front == expected)
    }

    /// Which way a run goes.
    enum Path: String, CaseIterable { case embedded, daemon }

    /// One flag's probe: the arguments (given a private scratch directory) and what must be
    /// seen; `check` returns nil when the effect is there, else what was wrong.
    struct Probe {
        var flag: String
        var args: (URL) throws -> [String]
        /// Reads the container's cgroup file `controller/file` on the host while it runs.
        var cgroupFile: (controller: String, file: String)? = nil
        var check: (Path, Harness.Result, String?) -> String?
    }

    /// The `--json` object on the last line of stderr.
    static func json(_ r: Harness.Result) -> [String: Any] {
        guard let line = r.stderr.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
              let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return [:] }
        return o
    }

    static func expect(_ ok: Bool, _ r: Harness.Result) -> String? {
        ok ? nil : "status \(r.status), stdout \(r.stdout.debugDescription), stderr \(r.stderr.debugDescription)"
    }

    static let seccompProfile = #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#

    /// One probe per row of `RunField.all`.
    nonisolated(unsafe) static let probes: [Probe] = [
        Probe(flag: "policy", args: { _ in ["--policy", "strict", "--json", "--", "/bin/true"] }) { path, r, _ in
            // Strict gives every run a memory limit; a daemon runs only its own policy.
            path == .embedded ? expect(r.status == 0 && json(r)["memoryLimitBytes"] is Int, r)
                : expect(r.status == 125 && r.stderr.contains("this supervisor runs policy default, not strict"), r)
        },
        Probe(flag: "supervisor", args: { _ in ["--timings", "--", "/bin/true"] }) { path, r, _ in
            expect(r.status == 0 && r.stderr.contains(path == .daemon ? "timings (supervisor):" : "timings:\n"), r)
        },
        Probe(flag: "rootfs", args: { _ in ["--rootfs", try StaticProbe.rootfs().path, "--", "/probe"] }) { _, r, _ in
            expect(r.status == 0 && r.stdout.hasPrefix("entries:") && r.stdout.contains(" probe ") && r.stdout.contains("create /new: EROFS"), r)
        },
        Probe(flag: "rootfs-rw", args: { _ in ["--rootfs", try StaticProbe.rootfs().path, "--rootfs-rw", "--", "/probe"] }) { _, r, _ in
            expect(r.status == 0 && r.stdout.contains("create /new: ok"), r)
        },
        Probe(flag: "hostname", args: { _ in ["--hostname", "flagged", "--", "cat", "/proc/sys/kernel/hostname"] }) { _, r, _ in
            expect(r.stdout == "flagged\n", r)
        },
        Probe(flag: "env", args: { _ in ["--env", "A=1", "--env=B=2", "--", "sh", "-c", "echo $A$B"] }) { _, r, _ in
            expect(r.stdout == "12\n", r)
        },
        Probe(flag: "cwd", args: { _ in ["--cwd", "/tmp", "--", "pwd"] }) { _, r, _ in expect(r.stdout == "/tmp\n", r) },
        Probe(flag: "network", args: { _ in ["--network", "host", "--", "cat", "/proc/net/dev"] }) { _, r, _ in
            // Only lo in a new network namespace (2 header lines + lo); the host has more.
            expect(r.status == 0 && r.stdout.split(separator: "\n").count > 3, r)
        },
        Probe(flag: "timeout", args: { _ in ["--timeout", "0.3", "--", "sleep", "5"] }) { _, r, _ in
            expect(r.status == 124 && r.stderr.contains("timed out after 0.3s"), r)
        },
        Probe(flag: "init", args: { _ in ["--init", "--", "sh", "-c", "echo $$"] }) { _, r, _ in
            expect(r.stdout == "2\n", r)   // the tiny init is pid 1
        },
        Probe(flag: "userns", args: { _ in ["--userns", "auto", "--", "cat", "/proc/self/uid_map"] }) { _, r, _ in
            // Where the user has subordinate ids, a multi-range map; else the planner's refusal.
            expect((r.status == 0 && r.stdout.split(separator: "\n").count >= 2) || r.stderr.contains("subuid"), r)
        },
        Probe(flag: "uidmap", args: { _ in ["--uidmap", "0:0:1", "--gidmap", "0:0:1", "--", "cat", "/proc/self/uid_map"] }) { _, r, _ in
            expect(r.stdout.split(whereSeparator: \.isWhitespace) == ["0", "0", "1"], r)
        },
        Probe(flag: "gidmap", args: { _ in ["--uidmap", "0:0:1", "--gidmap", "0:0:1", "--", "cat", "/proc/self/gid_map"] }) { _, r, _ in
            expect(r.stdout.split(whereSeparator: \.isWhitespace) == ["0", "0", "1"], r)
        },
        Probe(flag: "executor", args: { _ in ["--executor", "shell", "--", "echo $((6*7))"] }) { _, r, _ in
            expect(r.stdout == "42\n", r)
        },
        Probe(flag: "seccomp", args: { dir in
            let file = dir.appendingPathComponent("no-mkdir.json")
            try seccompProfile.write(to: file, atomically: false, encoding: .utf8)
            return ["--seccomp", file.path, "--", "sh", "-c", "mkdir /tmp/x 2>/dev/null && echo made || echo refused"]
        }) { _, r, _ in expect(r.stdout == "refused\n", r) },
        Probe(flag: "memory", args: { _ in ["--memory", "48M", "--json", "--", "sleep", "0.5"] },
              cgroupFile: ("memory", "memory.limit_in_bytes")) { _, r, seen in
            expect(json(r)["memoryLimitBytes"] as? Int == 48 << 20 && seen == String(48 << 20), r)
        },
        Probe(flag: "memory-swap", args: { _ in ["--memory", "48M", "--memory-swap", "96M", "--", "sleep", "0.5"] },
              cgroupFile: ("memory", "memory.memsw.limit_in_bytes")) { _, r, seen in
            expect(r.status == 0 && seen == String(96 << 20), r)
        },
        Probe(flag: "pids-limit", args: { _ in ["--pids-limit", "33", "--json", "--", "sleep", "0.5"] },
              cgroupFile: ("pids", "pids.max")) { _, r, seen in
            expect(json(r)["pidsLimit"] as? Int == 33 && seen == "33", r)
        },
        Probe(flag: "cpus", args: { _ in ["--cpus", "0.5", "--", "sleep", "0.5"] }, cgroupFile: ("cpu", "cpu.cfs_quota_us")) { _, r, seen in
            expect(r.status == 0 && seen == "50000", r)
        },
        Probe(flag: "cpu-shares", args: { _ in ["--cpu-shares", "512", "--", "sleep", "0.5"] }, cgroupFile: ("cpu", "cpu.shares")) { _, r, seen in
            // Through the v2 weight scale and back: within a rounding step of 512.
            expect(r.status == 0 && abs((Int(seen ?? "") ?? 0) - 512) < 30, r)
        },
        Probe(flag: "cpuset-cpus", args: { _ in ["--cpuset-cpus", "0", "--", "grep", "Cpus_allowed_list", "/proc/self/status"] }) { _, r, _ in
            expect(r.stdout.hasSuffix("\t0\n"), r)
        },
        Probe(flag: "blkio-weight", args: { _ in ["--blkio-weight", "5", "--", "/bin/true"] }) { _, r, _ in
            // This machine's blkio hierarchy has no weight file: the flag is seen by the planner.
            expect(r.status == 125 && r.stderr.contains("--blkio-weight 5: expected 10...1000"), r)
        },
        Probe(flag: "profile", args: { _ in ["--profile", "standard", "--json", "--", "/bin/true"] }) { _, r, _ in
            // Every profile sets a block I/O weight: where the scheduler has none, the helper
            // refuses the profile's batch by that field (which only the profile set).
            expect((json(r)["memoryLimitBytes"] as? Int == 512 << 20 && json(r)["pidsLimit"] as? Int == 512)
                   || (r.status == 125 && r.stderr.contains("so ioWeight can't be enforced")), r)
        },
        Probe(flag: "log-dir", args: { dir in ["--log-dir", dir.path, "--json", "--", "echo", "logged"] }) { _, r, _ in
            expect(r.status == 0 && r.stdout.isEmpty && json(r)["stdoutBytes"] as? Int == 7, r)
        },
        Probe(flag: "log-limit", args: { dir in ["--log-dir", dir.path, "--log-limit", "4", "--json", "--", "echo", "0123456789"] }) { _, r, _ in
            expect(json(r)["stdoutTruncated"] as? Bool == true, r)
        },
        Probe(flag: "log-tee", args: { dir in ["--log-dir", dir.path, "--log-tee", "--", "echo", "teed"] }) { _, r, _ in
            expect(r.stdout == "teed\n", r)
        },
        Probe(flag: "json", args: { _ in ["--json", "--", "sh", "-c", "exit 3"] }) { _, r, _ in
            expect(r.status == 3 && json(r)["exitCode"] as? Int == 3, r)
        },
        Probe(flag: "timings", args: { _ in ["--timings", "--", "/bin/true"] }) { _, r, _ in
            expect(r.stderr.contains("create (helper round trip)"), r)
        },
        Probe(flag: "stats", args: { _ in ["--stats", "--", "/bin/true"] }) { path, r, _ in
            // Embedded: this process's pools; through a daemon, `envyro stats` asks it instead.
            expect(r.status == 0 && (path == .daemon || r.stderr.contains("context_pool")), r)
        },
    ]

    @Test("every row of the table has a probe here, and every probe a row")
    func everyFlagProbed() {
        #expect(Self.probes.map(\.flag) == RunField.all.map(\.flag))
    }

    /// Runs `envyro run ARGS` as root; with `cgroupFile`, reads that file of the container's
    /// cgroup on the host while the container runs.
    static func run(_ args: [String], cgroupFile: (controller: String, file: String)?) throws -> (Harness.Result, String?) {
        guard let cg = cgroupFile else { return (try Harness.envyro(["run"] + args), nil) }
        let dir = "/sys/fs/cgroup/\(cg.controller)/envyro/root"
        let before = Set((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
        nonisolated(unsafe) var result: Harness.Result? = nil
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            result = try? Harness.envyro(["run"] + args)
            done.signal()
        }
        // The cgroup is made before its limits are written: the last value read while the
        // container runs is the one it ran under.
        var seen: String? = nil
        while done.wait(timeout: .now() + .milliseconds(2)) == .timedOut {
            let now = Set((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).subtracting(before)
            if let c = now.first(where: { $0.hasPrefix("c-") }),
               let text = try? String(contentsOfFile: "\(dir)/\(c)/\(cg.file)", encoding: .utf8) {
                seen = text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        return (result ?? Harness.Result(status: -1, stdout: "", stderr: "envyro did not run"), seen)
    }

    @Test("every run flag reaches the container, embedded and through a daemon", .enabled(if: Harness.isRoot && Harness.userNamespacesWork, "needs root (cgroup files) and user namespaces"),
          arguments: Path.allCases)
    func everyFlagReachesTheContainer(path: Path) throws {
        let daemon = path == .daemon ? try DaemonTests.Daemon() : nil
        defer { _ = daemon?.stop() }
        let way = daemon.map { ["--supervisor", $0.socket] } ?? ["--supervisor", "never"]
        for probe in Self.probes {
            let dir = Harness.scratchDirectory("flag-\(probe.flag)")
            defer { try? FileManager.default.removeItem(at: dir) }
            let (r, seen) = try Self.run(way + probe.args(dir), cgroupFile: probe.cgroupFile)
            // (--log-tee through a daemon once went to the daemon's own stdout: this test found it.)
            guard let wrong = probe.check(path, r, seen) else { continue }
            Issue.record("--\(probe.flag) (\(path)): \(wrong)\(probe.cgroupFile != nil ? ", cgroup file: \(seen ?? "not seen")" : "")")
        }
    }
}
}
