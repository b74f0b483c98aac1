import Foundation
import Testing

extension Integration {
/// Multi-range id maps through the installed-style helper (cap_setuid,cap_setgid+ep), checked
/// exactly as newuidmap/newgidmap check them, for two ordinary users.
@Suite("multi-user id maps")
struct IDMapTests {
    /// <install root>/capped/bin: envyro and a copy of the helper with file capabilities.
    static let cappedEnvyro: String? = {
        guard Harness.isRoot, Harness.ordinaryUser != nil else { return nil }
        let bin = Harness.installRoot.appendingPathComponent("capped/bin")
        try? FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        for name in ["envyro", "envyro-cli", "envyro-nshelper"] {
            try? FileManager.default.copyItem(at: Harness.installRoot.appendingPathComponent("bin/\(name)"), to: bin.appendingPathComponent(name))
        }
        _ = try? Harness.run(["/bin/chmod", "-R", "a+rX", Harness.installRoot.appendingPathComponent("capped").path])
        guard (try? Harness.run(["/usr/sbin/setcap", "cap_setuid,cap_setgid+ep", bin.appendingPathComponent("envyro-nshelper").path]))?.status == 0 else { return nil }
        return bin.appendingPathComponent("envyro").path
    }()

    /// Makes `user` exist with a subordinate range; returns its uid.
    static func user(_ name: String) throws -> String {
        if (try? Harness.run(["/usr/bin/id", "-u", name]))?.status != 0 {
            _ = try Harness.run(["/usr/sbin/useradd", "-m", "-s", "/bin/sh", name])
        }
        return try Harness.run(["/usr/bin/id", "-u", name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `name`'s first subordinate range from a subordinate-id file.
    static func range(_ name: String, _ file: String = "/etc/subuid") -> (start: Int, count: Int)? {
        for line in ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n") {
            let f = line.split(separator: ":")
            if f.count == 3, f[0] == name, let s = Int(f[1]), let c = Int(f[2]) { return (s, c) }
        }
        return nil
    }

    static func run(_ user: String, _ args: [String]) throws -> Harness.Result {
        try Harness.run(["/usr/sbin/runuser", "-u", user, "--", "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "ENVYRO_AUTO_SUPERVISOR=0", cappedEnvyro!] + args)
    }

    /// The last `create` record in `user`'s audit log.
    static func lastCreate(_ user: String) throws -> String? {
        let home = try Harness.run(["/usr/bin/getent", "passwd", user]).stdout.split(separator: ":", omittingEmptySubsequences: false)[5]
        let log = "\(home)/.local/state/envyro/audit.jsonl"
        return try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").last { $0.contains("\"verb\":\"create\"") }.map(String.init)
    }

    @Test("--userns auto maps container root to the user and 1... to the user's subordinate range",
          .enabled(if: IDMapTests.cappedEnvyro != nil, "needs root (to create users and set file capabilities)"))
    func auto() throws {
        let uid = try Self.user("envyrotest")
        let sub = try #require(Self.range("envyrotest"), "envyrotest has no /etc/subuid range")
        let r = try Self.run("envyrotest", ["run", "--userns", "auto", "--", "sh", "-c", "id -u; cat /proc/self/uid_map"])
        #expect(r.status == 0, "\(r.stderr)")
        let words = r.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        #expect(words == ["0", "0", uid, "1", "1", String(sub.start), String(min(sub.count, 65536))])
    }

    @Test("a container whose root is a subordinate uid still dies with its helper (the uid change cleared its parent-death signal)",
          .enabled(if: IDMapTests.cappedEnvyro != nil, "needs root (to create users and set file capabilities)"))
    func parentDeathAfterUIDChange() throws {
        _ = try Self.user("envyrotest")
        let sub = try #require(Self.range("envyrotest"), "envyrotest has no /etc/subuid range")
        let subg = try #require(Self.range("envyrotest", "/etc/subgid"), "envyrotest has no /etc/subgid range")
        let marker = "envyro-pdeath-\(getpid())"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
        p.arguments = ["-u", "envyrotest", "--", "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "ENVYRO_AUTO_SUPERVISOR=0", Self.cappedEnvyro!, "run",
                       "--uidmap", "0:\(sub.start):1000", "--gidmap", "0:\(subg.start):1000", "--", "sh", "-c", "sleep 300", marker]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { p.terminate() }; p.waitUntilExit() }
        // The container: the process whose command line carries the marker; its parent is the helper.
        func container() -> Int32? {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                guard let pid = Int32(name),
                      let cmd = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
                      cmd.contains(marker), cmd.hasPrefix("sh") || cmd.hasPrefix("sleep") else { continue }
                return pid
            }
            return nil
        }
        var found: Int32? = nil
        for _ in 0..<300 where found == nil { usleep(10_000); found = container() }
        let pid = try #require(found, "the container never started")
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        let helper = try #require(Int32(fields[1]))
        #expect(try String(contentsOfFile: "/proc/\(helper)/comm", encoding: .utf8).hasPrefix("envyro-nshelp"))
        kill(helper, SIGKILL)
        var gone = false
        for _ in 0..<200 where !gone {
            usleep(10_000)
            let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)).map { $0[$0.index(after: $0.lastIndex(of: ")")!)...].split(separator: " ").first } ?? nil
            gone = state == nil || state == "Z"
        }
        #expect(gone, "the container outlived its helper")
        if !gone { kill(pid, SIGKILL) }
    }

    static let refusals: [(String, [String], String)] = [
        ("another user's range", ["--uidmap", "0:OWN:1", "--uidmap", "1:OTHER:100", "--gidmap", "0:OWNG:1"], "are not yours"),
        ("host root", ["--uidmap", "0:0:1", "--gidmap", "0:0:1"], "host uids 0-0 are not yours"),
        ("an overlapping map", ["--uidmap", "0:OWN:1", "--uidmap", "0:SUB:10", "--gidmap", "0:OWNG:1"], "overlaps"),
        ("too many extents", ["--uidmap", "0:SUB:1", "--uidmap", "1:SUB1:1", "--uidmap", "2:SUB2:1", "--uidmap", "3:SUB3:1",
                              "--uidmap", "4:SUB4:1", "--uidmap", "5:SUB5:1", "--gidmap", "0:OWNG:1"], "exceed policy default's limit of 5"),
    ]

    @Test("a map outside the caller's own ids is refused, audited, and nothing is created", arguments: refusals)
    func refused(name: String, template: [String], message: String) throws {
        guard Self.cappedEnvyro != nil else { return }
        let uid = try Self.user("envyrotest")
        _ = try Self.user("envyrotest2")
        let mine = try #require(Self.range("envyrotest"))
        let theirs = try #require(Self.range("envyrotest2"))
        let gid = try Harness.run(["/usr/bin/id", "-g", "envyrotest"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let args = template.map {
            $0.replacingOccurrences(of: "OWNG", with: gid).replacingOccurrences(of: "OWN", with: uid)
                .replacingOccurrences(of: "OTHER", with: String(theirs.start))
                .replacingOccurrences(of: "SUB1", with: String(mine.start + 1)).replacingOccurrences(of: "SUB2", with: String(mine.start + 2))
                .replacingOccurrences(of: "SUB3", with: String(mine.start + 3)).replacingOccurrences(of: "SUB4", with: String(mine.start + 4))
                .replacingOccurrences(of: "SUB5", with: String(mine.start + 5)).replacingOccurrences(of: "SUB", with: String(mine.start))
        }
        let before = Harness.snapshot()
        let r = try Self.run("envyrotest", ["run"] + args + ["--", "sleep", "5"])
        #expect(r.status == 125, "\(name): \(r.stderr)")
        #expect(r.stderr.contains(message), "\(name): \(r.stderr)")
        let record = try #require(try Self.lastCreate("envyrotest"))
        #expect(record.contains("\"decision\":\"denied\""), "\(record)")
        #expect(record.contains("\"result\":\"EPERM\""))
        #expect(Harness.processes(exeSuffix: "/sleep", argument: "5").isEmpty, "no container was started")
        Harness.expectNothingLeaked(since: before)
    }

    @Test("an overflowing count is refused before anything reaches the helper")
    func overflow() throws {
        guard Self.cappedEnvyro != nil else { return }
        let r = try Self.run("envyrotest", ["run", "--uidmap", "0:4294967000:1000", "--gidmap", "0:1:1", "--", "true"])
        #expect(r.status == 125)
        #expect(r.stderr.contains("the range overflows"))
    }

    @Test("without the capability, a multi-range map fails with a message saying how to get it")
    func needsInstalledHelper() throws {
        guard Harness.ordinaryUser != nil, Self.range("envyrotest") != nil else { return }
        let r = try Harness.envyro(["run", "--userns", "auto", "--", "true"], as: .ordinary)
        #expect(r.status == 125)
        #expect(r.stderr.contains("sudo make install"), "\(r.stderr)")
    }
}
}
