import Foundation
import Testing

extension Hostile {
/// Issue 13, item 6 (a privileged program reading a file its caller chooses: TOCTOU symlink
/// swap, CWE-367, and untrusted search path, CWE-426): the helper read its policy by path and
/// checked its owner afterwards with stat().
@Suite("the privileged helper's policy files", .serialized,
       .enabled(if: Harness.isRoot && Harness.ordinaryUser != nil, "needs root and an ordinary user (envyrotest)"))
struct PolicyTrust {
    /// Flips `link` between `a` and `b` (atomically, by rename) until killed; writes READY PID.
    static let flipper = """
        import os, sys
        link, a, b, log = sys.argv[1:5]
        open(log, "ab", 0).write(b"READY %d\\n" % os.getpid())
        i = 0
        while True:
            tmp = link + ".tmp"
            try: os.unlink(tmp)
            except OSError: pass
            os.symlink(a if i % 2 else b, tmp)
            os.rename(tmp, link)
            i += 1
        """

    /// A directory of envyrotest's own, inside a scratch directory.
    static func userDirectory(_ scratch: URL, _ name: String) throws -> String {
        let dir = scratch.appendingPathComponent(name).path
        try HostileSupport.run(as: Harness.ordinaryUser!, ["/bin/mkdir", "-m", "0755", dir])
        return dir
    }

    /// Writes `text` to `path` as envyrotest.
    static func write(_ text: String, to path: String) throws {
        let r = try HostileSupport.run(as: Harness.ordinaryUser!, ["/usr/bin/python3", "-c", "import sys; open(sys.argv[1], 'w').write(sys.argv[2])", path, text])
        try #require(r.status == 0, "\(r.stderr)")
    }

    @Test("an ordinary user can't make the capped helper read a policy of theirs by swapping a symlink to a root-owned one",
          .enabled(if: HostileSupport.cappedBin != nil, "setcap failed"))
    func cappedSymlinkSwap() throws {
        let bin = try #require(HostileSupport.cappedBin)
        let scratch = Harness.scratchDirectory("policy-swap")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let mine = try Self.userDirectory(scratch, "mine")
        let evilAudit = mine + "/evil-audit.jsonl"
        try Self.write(try HostileSupport.policyText(HostileSupport.audit(evilAudit)), to: mine + "/evil.json")
        let rootOwned = Harness.installRoot.appendingPathComponent("policy/default.json").path
        let link = mine + "/link.json"
        let log = scratch.appendingPathComponent("flipper.log").path
        let p = try HostileSupport.start(as: Harness.ordinaryUser!, ["/usr/bin/python3", "-c", Self.flipper, link, rootOwned, mine + "/evil.json", log])
        let pid = HostileSupport.readyPID(log)
        defer { HostileSupport.stop(pid, p) }
        // Whenever the helper opens the link while it points at the user's file, it must refuse;
        // while it points at root's file in the fixed directory, it may serve root's policy.
        var refusals = 0
        for i in 0..<40 {
            let r = try HostileSupport.run(as: Harness.ordinaryUser!, [bin.appendingPathComponent("envyro").path, "run", "--policy", link, "--", "true"])
            if r.status != 0 {
                refusals += 1
                #expect(r.stderr.contains("reads policies only by name") || r.stderr.contains("No such file"), "try \(i): \(r.stderr)")
            }
        }
        #expect(refusals > 0, "the user's policy was never refused")
        #expect(!FileManager.default.fileExists(atPath: evilAudit), "the helper loaded the user's policy (it wrote the audit log that policy names)")
    }

    @Test("root's helper refuses a root-owned policy below a directory others can write, while a user swaps it for theirs")
    func rootWritableComponent() throws {
        let scratch = Harness.scratchDirectory("policy-component")   // mode 0777, not sticky
        defer { try? FileManager.default.removeItem(at: scratch) }
        // Root's policy in root's directory `sub`, below the world-writable scratch directory.
        let sub = scratch.appendingPathComponent("sub")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        let goodAudit = scratch.appendingPathComponent("root-audit.jsonl").path
        try HostileSupport.policyText(HostileSupport.audit(goodAudit)).write(toFile: sub.appendingPathComponent("p.json").path, atomically: false, encoding: .utf8)
        // The user's own `evil/p.json`, and a loop renaming `sub` away and a symlink to theirs in.
        let evil = try Self.userDirectory(scratch, "evil")
        let evilAudit = evil + "/evil-audit.jsonl"
        try Self.write(try HostileSupport.policyText(HostileSupport.audit(evilAudit)), to: evil + "/p.json")
        let swapper = """
            import os, sys
            base, log = sys.argv[1], sys.argv[2]
            open(log, "ab", 0).write(b"READY %d\\n" % os.getpid())
            while True:
                try:
                    os.rename(base + "/sub", base + "/sub.root")
                    os.symlink(base + "/evil", base + "/sub")
                    os.unlink(base + "/sub")
                    os.rename(base + "/sub.root", base + "/sub")
                except OSError:
                    pass
            """
        let log = scratch.appendingPathComponent("swapper.log").path
        let p = try HostileSupport.start(as: Harness.ordinaryUser!, ["/usr/bin/python3", "-c", swapper, scratch.path, log])
        let pid = HostileSupport.readyPID(log)
        defer { HostileSupport.stop(pid, p) }
        for i in 0..<40 {
            let r = try Harness.envyro(["run", "--policy", sub.appendingPathComponent("p.json").path, "--", "true"])
            #expect(r.status != 0, "try \(i): root's helper served a policy below a world-writable directory")
            if r.status == 0 { break }
            // Refused either for the writable directory or, when the swap lands mid-check, for
            // the path changing under the check: both are refusals, neither loaded it.
            if !r.stderr.contains("No such file") {
                #expect(r.stderr.contains("\(scratch.path) is writable by group or others (mode 0777) and not sticky")
                        || r.stderr.contains("changed into a symlink or something else while it was being checked"), "try \(i): \(r.stderr)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: evilAudit), "root's helper loaded the user's policy")
    }

    @Test("a root-owned policy naming a seccomp profile an ordinary user can replace is refused, naming the profile")
    func userProfile() throws {
        let scratch = Harness.scratchDirectory("policy-profile")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let mine = try Self.userDirectory(scratch, "mine")
        let profile = mine + "/allow-all.json"
        try Self.write(#"{"defaultAction": "SCMP_ACT_ALLOW"}"#, to: profile)
        // The policy itself is root's, in a root-owned 0755 directory (as PolicyFiles makes them).
        let dir = Harness.installRoot.appendingPathComponent("hostile-policy-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(at: dir) }
        let policy = dir.appendingPathComponent("p.json").path
        try HostileSupport.policyText { json in
            HostileSupport.audit(scratch.appendingPathComponent("audit.jsonl").path)(&json)
            json["seccomp"] = ["profile": profile]
        }.write(toFile: policy, atomically: false, encoding: .utf8)
        let r = try Harness.envyro(["run", "--policy", policy, "--", "unshare", "-U", "true"])
        #expect(r.status == 125, "\(r.stderr)")
        #expect(r.stderr.contains("seccomp profile \(profile) is not trusted by a privileged helper"), "\(r.stderr)")
        #expect(r.stderr.contains("is writable by group or others") || r.stderr.contains("is owned by uid \(Harness.ordinaryUID), not root"), "\(r.stderr)")
    }

    @Test("the capped helper takes no policy by path outside its fixed directories, even a root-owned one; by name it works",
          .enabled(if: HostileSupport.cappedBin != nil, "setcap failed"))
    func cappedOnlyFixedDirectories() throws {
        let bin = try #require(HostileSupport.cappedBin)
        let scratch = Harness.scratchDirectory("policy-capped")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let policy = try PolicyFiles.copy(of: "default", auditPath: scratch.appendingPathComponent("audit.jsonl").path, into: scratch)
        let r = try HostileSupport.run(as: Harness.ordinaryUser!, [bin.appendingPathComponent("envyro").path, "run", "--policy", policy, "--", "true"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("reads policies only by name from"), "\(r.stderr)")
        let ok = try HostileSupport.run(as: Harness.ordinaryUser!, [bin.appendingPathComponent("envyro").path, "run", "--", "true"])
        #expect(ok.status == 0, "\(ok.stderr)")
        // $ENVYRO_POLICY_DIR is ignored by the capped helper.
        let env = try HostileSupport.run(as: Harness.ordinaryUser!, [bin.appendingPathComponent("envyro").path, "run", "--", "true"],
                                         env: ["ENVYRO_POLICY_DIR": scratch.path])
        #expect(env.status == 0, "\(env.stderr)")
    }
}
}
