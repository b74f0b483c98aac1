import Foundation
import Testing

extension Integration {
/// `envyro-supervisor`: the same runs through the daemon as embedded, warm helpers, ps, stats,
/// kill, SIGHUP, SIGTERM, and what a SIGKILL leaves (nothing).
@Suite("envyro-supervisor")
struct DaemonTests {
    /// A daemon on a private socket, stopped (SIGTERM) when released.
    final class Daemon {
        let process = Process()
        let dir: URL
        let socket: String
        let log: Pipe = Pipe()

        /// `user`: run it as that user (setpriv execs, so `process` is the daemon itself).
        init(policy: String = "default", as user: String? = nil) throws {
            dir = Harness.installRoot.appendingPathComponent("daemon-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            socket = dir.appendingPathComponent("supervisor.sock").path
            let bin = Harness.installRoot.appendingPathComponent("bin/envyro-supervisor").path
            let args = ["--policy", policy, "--socket", socket, "--pool", "2"]
            if let user {
                _ = try Harness.run(["/bin/chown", user, dir.path])
                process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
                process.arguments = ["--reuid", user, "--regid", user, "--init-groups", "--reset-env", "--", bin] + args
            } else {
                process.executableURL = URL(fileURLWithPath: bin)
                process.arguments = args
            }
            process.standardError = log
            process.standardInput = FileHandle.nullDevice
            try process.run()
            for _ in 0..<500 where !FileManager.default.fileExists(atPath: socket) { usleep(10_000) }
        }

        func stop() -> String {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            process.waitUntilExit()
            let text = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            try? FileManager.default.removeItem(at: dir)
            return text
        }
    }

    /// Through the daemon, `envyro run` takes its fast path (its own flag parser); these also
    /// show that parser reads every form of flag as the full one does.
    static let commands: [([String], Int32)] = [
        (["--", "sh", "-c", "echo out; echo err >&2; exit 3"], 3),
        (["--", "no-such-command-xyz"], 127),
        (["/etc/passwd"], 126),
        (["--env", "A=1", "--env=B=2", "--hostname", "hx", "--cwd=/tmp", "--", "sh", "-c", "echo $A$B; hostname; pwd"], 0),
        (["--init", "--executor", "shell", "--", "echo $$"], 0),
        (["--network=host", "--timeout", "5", "--json", "--", "true"], 0),
        (["--memory", "64M", "--pids-limit=20", "--cpus", "0.5", "--", "sh", "-c", "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || echo nopids"], 0),
        (["--pids-limit", "x", "--", "true"], 64),
        (["--env", "NOEQUALS", "--", "true"], 125),
        (["--bogus-flag", "--", "true"], 64),
    ]

    @Test("a run through the daemon behaves exactly like an embedded one", arguments: commands)
    func sameAsEmbedded(command: [String], status: Int32) throws {
        let d = try Daemon()
        defer { _ = d.stop() }
        let through = try Harness.envyro(["run", "--supervisor", d.socket] + command)
        let embedded = try Harness.envyro(["run", "--supervisor", "never"] + command)
        #expect(through.status == status, "\(through.stderr)")
        #expect(through.status == embedded.status)
        #expect(through.stdout == embedded.stdout)
        // --json carries per-run figures (times, pids); compare its keys, everything else exactly.
        if command.contains("--json") {
            #expect(through.stderr.contains("\"exitCode\":0") && embedded.stderr.contains("\"exitCode\":0"))
        } else {
            #expect(through.stderr == embedded.stderr)
        }
    }

    @Test("--timings breaks the helper's part down by step: a cold start's, then a prewarmed one's")
    func helperStepTimings() throws {
        let d = try Daemon()
        defer { _ = d.stop() }
        let cold = try Harness.envyro(["run", "--supervisor", d.socket, "--timings", "--", "true"])
        for step in ["create (helper round trip)", "helper: checks", "helper: clone", "helper: id maps", "helper: root built, exec", "workload"] {
            #expect(cold.stderr.contains(step), "\(step) in \(cold.stderr)")
        }
        // The helper prepares the next one when idle; on a loaded machine a run may still come
        // first and start cold, so up to three tries.
        var warm = cold
        for _ in 0..<3 where !warm.stderr.contains("helper: run sent, exec") {
            usleep(100_000)
            warm = try Harness.envyro(["run", "--supervisor", d.socket, "--timings", "--", "true"])
        }
        #expect(warm.stderr.contains("helper: run sent, exec"), "\(warm.stderr)")
        #expect(!warm.stderr.contains("helper: clone"), "\(warm.stderr)")
        let embedded = try Harness.envyro(["run", "--supervisor", "never", "--policy", "strict", "--timings", "--", "true"])
        #expect(embedded.stderr.contains("helper: audit intent (synced)"), "strict syncs its intent record: \(embedded.stderr)")
    }

    @Test("timeouts, limits and --json work through the daemon")
    func limitsAndTimeouts() throws {
        let d = try Daemon()
        defer { _ = d.stop() }
        let t = try Harness.envyro(["run", "--supervisor", d.socket, "--timeout", "0.3", "--", "sleep", "10"])
        #expect(t.status == 124)
        #expect(t.stderr.contains("timed out after 0.3s"))
        if Harness.isRoot {
            let j = try Harness.envyro(["run", "--supervisor", d.socket, "--memory", "32M", "--json", "--", "true"])
            #expect(j.status == 0, "\(j.stderr)")
            #expect(j.stderr.contains("\"memoryLimitBytes\":33554432"), "\(j.stderr)")
        }
    }

    @Test("ps lists a run, kill ends it, stats count it and the helper pool")
    func psKillStats() throws {
        let d = try Daemon()
        defer { _ = d.stop() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Harness.envyro)
        p.arguments = ["run", "--supervisor", d.socket, "--", "sleep", "300"]
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        var id: String? = nil
        for _ in 0..<300 where id == nil {
            usleep(10_000)
            let ps = try Harness.envyro(["ps", "--supervisor", d.socket])
            id = ps.stdout.split(separator: "\n").dropFirst().first { $0.hasSuffix("sleep 300") }.map { String($0.split(separator: "\t")[0]) }
        }
        let run = try #require(id)
        let k = try Harness.envyro(["kill", "--supervisor", d.socket, run, "KILL"])
        #expect(k.status == 0, "\(k.stderr)")
        p.waitUntilExit()
        #expect(p.terminationStatus == 137)
        let stats = try Harness.envyro(["stats", "--supervisor", d.socket, "--json"])
        let fields = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as! [String: Any]
        #expect((fields["runs_started"] as? Int ?? 0) >= 1)
        #expect(fields["helper_pool_ready"] != nil && fields["starts_per_second"] != nil && fields["namespace_cache_hits"] != nil)
        let unknown = try Harness.envyro(["kill", "--supervisor", d.socket, "999999"])
        #expect(unknown.status == 125)
        #expect(unknown.stderr.contains("no run 999999"))
    }

    @Test("a second run reuses a warm helper and a cached template")
    func warm() throws {
        let d = try Daemon()
        defer { _ = d.stop() }
        for _ in 0..<3 { _ = try Harness.envyro(["run", "--supervisor", d.socket, "--", "true"]) }
        let stats = try Harness.envyro(["stats", "--supervisor", d.socket, "--json"])
        let f = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as! [String: Any]
        #expect((f["helper_pool_hits"] as? Int ?? 0) >= 2, "\(f)")
        #expect((f["namespace_cache_hits"] as? Int ?? 0) >= 2, "\(f)")
    }

    @Test("asking a daemon for a different policy is refused with advice")
    func otherPolicy() throws {
        let d = try Daemon(policy: "default")
        defer { _ = d.stop() }
        let r = try Harness.envyro(["run", "--supervisor", d.socket, "--policy", "strict", "--", "true"])
        #expect(r.status == 125)
        #expect(r.stderr.contains("use --supervisor never"), "\(r.stderr)")
    }

    @Test("SIGTERM lets a run in flight finish, then the daemon exits and removes its socket")
    func drain() throws {
        let d = try Daemon()
        let r = Process()
        r.executableURL = URL(fileURLWithPath: Harness.envyro)
        r.arguments = ["run", "--supervisor", d.socket, "--", "sh", "-c", "sleep 0.5; echo done"]
        let out = Pipe()
        r.standardOutput = out
        r.standardInput = FileHandle.nullDevice
        try r.run()
        usleep(200_000)
        kill(d.process.processIdentifier, SIGTERM)
        r.waitUntilExit()
        #expect(r.terminationStatus == 0)
        #expect(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "done\n")
        let log = d.stop()
        #expect(log.contains("drained"))
        #expect(!FileManager.default.fileExists(atPath: d.socket))
    }

    @Test("SIGHUP with a broken policy keeps the old one and says why")
    func reload() throws {
        let dir = Harness.installRoot.appendingPathComponent("reload-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let policy = try PolicyFiles.copy(of: "default", auditPath: dir.appendingPathComponent("audit.jsonl").path, into: dir)
        let d = try Daemon(policy: policy)
        try "{ broken".write(toFile: policy, atomically: false, encoding: .utf8)
        kill(d.process.processIdentifier, SIGHUP)
        usleep(300_000)
        let r = try Harness.envyro(["run", "--supervisor", d.socket, "--", "true"])
        #expect(r.status == 0, "\(r.stderr)")
        let log = d.stop()
        #expect(log.contains("SIGHUP: keeping the old policy"), "\(log)")
    }

    @Test("SIGKILL to the daemon: its helpers exit, its containers die, the next start takes over the socket")
    func crash() throws {
        let d = try Daemon()
        let r = Process()
        r.executableURL = URL(fileURLWithPath: Harness.envyro)
        r.arguments = ["run", "--supervisor", d.socket, "--", "sh", "-c", "sleep 300", "envyro-leak-marker"]
        r.standardInput = FileHandle.nullDevice
        r.standardError = FileHandle.nullDevice
        try r.run()
        for _ in 0..<300 where Harness.processes(exeSuffix: "/sleep", argument: "300").isEmpty { usleep(10_000) }
        #expect(!Harness.processes(exeSuffix: "/sleep", argument: "300").isEmpty)
        kill(d.process.processIdentifier, SIGKILL)
        d.process.waitUntilExit()
        r.waitUntilExit()
        #expect(r.terminationStatus == 125)
        for _ in 0..<200 where !(Harness.processes(exeSuffix: "/sleep", argument: "300").isEmpty
                                 && Harness.processes(exeSuffix: Harness.installRoot.path + "/bin/envyro-nshelper", argument: "--policy").isEmpty) { usleep(10_000) }
        #expect(Harness.processes(exeSuffix: "/sleep", argument: "300").isEmpty, "the container died with its helper")
        #expect(Harness.processes(exeSuffix: Harness.installRoot.path + "/bin/envyro-nshelper", argument: "--policy").isEmpty, "every helper exited")
        // The stale socket file is taken over by the next daemon, and its policy snapshot removed.
        #expect(FileManager.default.fileExists(atPath: d.socket))
        let snapshot = d.dir.appendingPathComponent("policy-\(d.process.processIdentifier).json").path
        #expect(FileManager.default.fileExists(atPath: snapshot), "a SIGKILLed daemon leaves its policy snapshot")
        let again = Process()
        again.executableURL = d.process.executableURL
        again.arguments = ["--socket", d.socket]
        again.standardError = FileHandle.nullDevice
        try again.run()
        usleep(300_000)
        let ok = try Harness.envyro(["run", "--supervisor", d.socket, "--", "true"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(!FileManager.default.fileExists(atPath: snapshot), "the next daemon removed it")
        kill(again.processIdentifier, SIGTERM)
        again.waitUntilExit()
        try? FileManager.default.removeItem(at: d.dir)
    }

    @Test("envyro gc removes a SIGKILLed daemon's socket and policy snapshot, and leaves a live daemon's alone")
    func gcAfterCrash() throws {
        let live = try Daemon()
        defer { _ = live.stop() }
        let d = try Daemon()
        _ = try Harness.envyro(["run", "--supervisor", d.socket, "--", "true"])
        kill(d.process.processIdentifier, SIGKILL)
        d.process.waitUntilExit()
        defer { try? FileManager.default.removeItem(at: d.dir) }
        let snapshot = d.dir.appendingPathComponent("policy-\(d.process.processIdentifier).json").path
        #expect(FileManager.default.fileExists(atPath: d.socket) && FileManager.default.fileExists(atPath: snapshot))
        let gc = try Harness.envyro(["gc", "--supervisor", d.socket])
        #expect(gc.status == 0, "\(gc.stderr)")
        #expect(gc.stdout.contains("removed \(d.socket)") && gc.stdout.contains("removed \(snapshot)"), "\(gc.stdout)")
        #expect(!FileManager.default.fileExists(atPath: d.socket) && !FileManager.default.fileExists(atPath: snapshot))
        let untouched = try Harness.envyro(["gc", "--supervisor", live.socket])
        #expect(!untouched.stdout.contains(live.socket), "\(untouched.stdout)")
        #expect(try Harness.envyro(["run", "--supervisor", live.socket, "--", "true"]).status == 0)
    }

    @Test("a socket in a directory that isn't private is refused with advice, and nothing is written there")
    func sharedDirectoryRefused() throws {
        let dir = Harness.installRoot.appendingPathComponent("shared-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        defer { try? FileManager.default.removeItem(at: dir) }
        let bin = Harness.installRoot.appendingPathComponent("bin/envyro-supervisor").path
        let r = try Harness.run([bin, "--policy", "default", "--socket", dir.appendingPathComponent("s.sock").path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("must belong to you and be private (mode 0700)"), "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "no policy snapshot, no socket")
    }

    @Test("another user can't use the daemon's socket")
    func otherUser() throws {
        guard Harness.isRoot, let user = Harness.ordinaryUser else { return }
        let d = try Daemon()
        defer { _ = d.stop() }
        _ = try Harness.run(["/bin/chmod", "0755", d.dir.path])
        let r = try Harness.run(["/usr/sbin/runuser", "-u", user, "--", Harness.envyro, "run", "--supervisor", d.socket, "--", "true"])
        #expect(r.status == 125)
        // The client refuses another user's directory before connecting (issue 13, item 4).
        #expect(r.stderr.contains("not using the supervisor socket \(d.socket)") && r.stderr.contains("belongs to uid 0 (root)"), "\(r.stderr)")
    }

    @Test("after a shape's first run, its next runs start prewarmed containers")
    func prewarmed() throws {
        let d = try Daemon()
        defer { _ = d.stop() }
        for _ in 0..<4 {
            let r = try Harness.envyro(["run", "--supervisor", d.socket, "--hostname", "w", "--", "sh", "-c", "hostname; pwd"])
            #expect(r.stdout == "w\n/\n", "\(r.stderr)")
            usleep(100_000)   // the helper prepares the next one when idle
        }
        let stats = try Harness.envyro(["stats", "--supervisor", d.socket, "--json"])
        let f = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as! [String: Any]
        #expect((f["prewarmed_hits"] as? Int ?? 0) >= 2, "\(f)")
    }

    @Test("a pool with room for one prewarmed container discards the other shape's, and stats count it")
    func prewarmedDiscards() throws {
        // Beside the installed policies: its seccomp profile path is relative to the file.
        let path = Harness.installRoot.appendingPathComponent("policy/one-member-pool.json").path
        var text = try String(contentsOf: Harness.repoRoot.appendingPathComponent("policy/default.json"), encoding: .utf8)
        text = text.replacingOccurrences(of: "\"prewarmedTotal\": 4", with: "\"prewarmedTotal\": 1")
        #expect(text.contains("\"prewarmedTotal\": 1"))
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        let d = try Daemon(policy: path)
        defer { _ = d.stop() }
        // Three shapes in turn over the daemon's two helpers: whichever helper a run lands on,
        // a helper soon sees a second shape, whose member evicts the first's.
        for name in ["a", "b", "c", "a", "b", "c", "a", "b"] {
            let r = try Harness.envyro(["run", "--supervisor", d.socket, "--hostname", name, "--", "hostname"])
            #expect(r.stdout == "\(name)\n", "\(r.stderr)")
            usleep(100_000)
        }
        let stats = try Harness.envyro(["stats", "--supervisor", d.socket, "--json"])
        let f = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as! [String: Any]
        #expect((f["prewarmed_discards"] as? Int ?? 0) >= 1, "\(f)")
        let plain = try Harness.envyro(["stats", "--supervisor", d.socket])
        #expect(plain.stdout.contains("prewarmed_containers: hits="), "\(plain.stdout)")
        #expect(plain.stdout.contains(" discards="), "\(plain.stdout)")
    }

    /// `readlink /proc/self/ns/net` in a run, and the run's stderr.
    static func networkNamespace(_ d: Daemon, as who: Harness.Identity = .root, _ script: String = "") throws -> (String, String) {
        let r = try Harness.envyro(["run", "--supervisor", d.socket, "--", "bash", "-c", "readlink /proc/self/ns/net; " + script], as: who)
        return (r.stdout.split(separator: "\n").first.map(String.init) ?? "", r.stderr)
    }

    static func statsFields(_ d: Daemon, as who: Harness.Identity = .root) throws -> [String: Any] {
        let stats = try Harness.envyro(["stats", "--supervisor", d.socket, "--json"], as: who)
        return try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as! [String: Any]
    }

    static let python3Available = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")

    @Test("a root daemon's runs reuse network namespaces: private, loopback up, counted in stats",
          .enabled(if: Harness.isRoot, "needs root: only a root helper may make and enter network namespaces"))
    func networkNamespacePool() throws {
        let dir = Harness.installRoot.appendingPathComponent("netns-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let audit = dir.appendingPathComponent("audit.jsonl").path
        let d = try Daemon(policy: try PolicyFiles.copy(of: "default", auditPath: audit, into: dir))
        defer { _ = d.stop() }
        let host = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        for _ in 0..<5 {
            // bash's /dev/tcp: "Connection refused" when lo is up, "Network is unreachable" if not.
            let (ns, err) = try Self.networkNamespace(d, "exec 3<>/dev/tcp/127.0.0.1/9")
            #expect(ns.hasPrefix("net:["), "\(err)")
            #expect(ns != host, "a run never gets the host's network namespace")
            #expect(err.contains("Connection refused"), "lo is up: \(err)")
            usleep(50_000)
        }
        // (Not by inode number: the kernel reuses a freed namespace's number at once.)
        let f = try Self.statsFields(d)
        #expect((f["netns_pool_hits"] as? Int ?? 0) >= 1, "\(f)")
        #expect((f["netns_pool_misses"] as? Int ?? 0) >= 1, "\(f)")
        let plain = try Harness.envyro(["stats", "--supervisor", d.socket])
        #expect(plain.stdout.contains("netns_pool: hits="), "\(plain.stdout)")
        let lines = try String(contentsOfFile: audit, encoding: .utf8)
        #expect(lines.contains("network namespace reused from the pool"), "the audit line says so")
    }

    @Test("a network namespace a socket outlived its run in (TIME_WAIT) is never given to another run",
          .enabled(if: Harness.isRoot && DaemonTests.python3Available, "needs root and /usr/bin/python3"))
    func networkNamespaceWithSocketIsDiscarded() throws {
        let d = try Daemon()
        defer { _ = d.stop() }
        // The client closes first, so its end stays in TIME_WAIT (60 s) after the run has ended.
        let script = "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); c=socket.create_connection(s.getsockname()); a,_=s.accept(); c.close(); a.close()"
        let dirty = try Harness.envyro(["run", "--supervisor", d.socket, "--", "bash", "-c", "python3 -c \"\(script)\"; grep ^TCP: /proc/net/sockstat"])
        #expect(dirty.stdout.contains(" tw 1 "), "the run left a socket in TIME_WAIT: \(dirty.stdout) \(dirty.stderr)")
        usleep(50_000)
        for _ in 0..<6 {
            // A run that got that namespace would see its TIME_WAIT entry.
            let r = try Harness.envyro(["run", "--supervisor", d.socket, "--", "grep", "-E", "^(sockets|TCP):", "/proc/net/sockstat"])
            #expect(r.stdout.contains("sockets: used 0") && r.stdout.contains(" tw 0 "), "an earlier run's socket is visible: \(r.stdout)")
            usleep(50_000)
        }
        let f = try Self.statsFields(d)
        #expect((f["netns_pool_discards"] as? Int ?? 0) >= 1, "\(f)")
    }

    @Test("in a pooled network namespace a run that keeps CAP_NET_BIND_SERVICE (default policy) binds port 80",
          .enabled(if: Harness.isRoot && DaemonTests.python3Available, "needs root and /usr/bin/python3"))
    func pooledNamespaceLowPorts() throws {
        let d = try Daemon()
        defer { _ = d.stop() }
        for _ in 0..<3 {
            let r = try Harness.envyro(["run", "--supervisor", d.socket, "--", "python3", "-c",
                                        "import socket; s=socket.socket(); s.bind(('127.0.0.1', 80)); print('bound')"])
            #expect(r.stdout == "bound\n", "\(r.stderr)")
            usleep(50_000)
        }
        #expect((try Self.statsFields(d)["netns_pool_hits"] as? Int ?? 0) >= 1)
    }

    @Test("an ordinary user's daemon can't pool network namespaces: each run makes its own",
          .enabled(if: Harness.isRoot && Harness.ordinaryUser != nil && Harness.userNamespacesWork, "needs root (to run a daemon as envyrotest) and user namespaces"))
    func rootlessDaemonMakesOwnNamespaces() throws {
        let user = try #require(Harness.ordinaryUser)
        let d = try Daemon(as: user)
        defer { _ = d.stop() }
        let host = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        for _ in 0..<3 {
            let (ns, err) = try Self.networkNamespace(d, as: .ordinary, "exec 3<>/dev/tcp/127.0.0.1/9")
            #expect(ns.hasPrefix("net:[") && ns != host, "\(ns) \(err)")
            #expect(err.contains("Connection refused"), "lo is up: \(err)")
            usleep(50_000)
        }
        let f = try Self.statsFields(d, as: .ordinary)
        #expect((f["netns_pool_hits"] as? Int ?? -1) == 0 && (f["netns_pool_misses"] as? Int ?? -1) == 0, "\(f)")
    }

    static func helpers(of daemon: Int32) -> [Int32] {
        Harness.children(of: daemon).filter {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\($0)/exe"))?.hasSuffix("envyro-nshelper") == true
        }
    }

    @Test("SIGKILL to an idle daemon: its helpers and prewarmed containers go too")
    func crashIdle() throws {
        let d = try Daemon()
        _ = try Harness.envyro(["run", "--supervisor", d.socket, "--", "true"])
        usleep(200_000)
        let helpers = Self.helpers(of: d.process.processIdentifier)
        #expect(!helpers.isEmpty)
        kill(d.process.processIdentifier, SIGKILL)
        d.process.waitUntilExit()
        for _ in 0..<200 where helpers.contains(where: { kill($0, 0) == 0 }) { usleep(10_000) }
        #expect(!helpers.contains(where: { kill($0, 0) == 0 }), "every helper exited")
        #expect(Harness.processes(exeSuffix: Harness.installRoot.path + "/bin/envyro-nshelper", argument: "--policy").isEmpty)
        try? FileManager.default.removeItem(at: d.dir)
    }

    @Test("a helper killed during a daemon run fails that run clearly; the next run works")
    func helperDiesMidRun() throws {
        let d = try Daemon()
        defer { _ = d.stop() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Harness.envyro)
        p.arguments = ["run", "--supervisor", d.socket, "--", "sleep", "300"]
        let err = Pipe()
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        var victim: Int32? = nil
        for _ in 0..<300 where victim == nil {
            usleep(10_000)
            guard let sleeper = Harness.processes(exeSuffix: "/sleep", argument: "300").first else { continue }
            victim = Self.helpers(of: d.process.processIdentifier).first { Harness.children(of: $0).contains(sleeper) }
        }
        let helper = try #require(victim)
        kill(helper, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationStatus == 125)
        #expect(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("helper"))
        for _ in 0..<200 where !Harness.processes(exeSuffix: "/sleep", argument: "300").isEmpty { usleep(10_000) }
        #expect(Harness.processes(exeSuffix: "/sleep", argument: "300").isEmpty, "the container died with its helper")
        let next = try Harness.envyro(["run", "--supervisor", d.socket, "--", "echo", "again"])
        #expect(next.stdout == "again\n", "\(next.stderr)")
    }
}
}
