import Foundation
import Testing

extension Integration {
/// A host where envyro never ran: no `envyro` cgroup in any hierarchy (issue 14). Cgroup roots
/// are mode 0555, so the subtree must be made while root's helper still holds CAP_DAC_OVERRIDE.
@Suite("a fresh host")
struct FreshHost {
    /// Every hierarchy envyro uses: the v1 controllers' and the v2 one, from
    /// /proc/self/mountinfo (not a named v1 hierarchy such as name=systemd, which has no
    /// controller and where envyro makes nothing).
    static var cgroupMounts: [String] {
        let info = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return info.split(separator: "\n").compactMap { line -> String? in
            let parts = line.components(separatedBy: " - ")
            guard parts.count == 2, let type = parts[1].split(separator: " ").first, type == "cgroup" || type == "cgroup2",
                  !parts[1].contains("name=") else { return nil }
            let fields = parts[0].split(separator: " ")
            return fields.count > 4 ? String(fields[4]) : nil
        }
    }

    /// Removes `envyro` from every hierarchy, deepest first, as tests/fresh-host.sh does; false
    /// when something still uses it (then the host can't be made fresh here).
    static func removeEnvyroCgroups() -> Bool {
        let r = try? Harness.run(["/bin/bash", Harness.repoRoot.appendingPathComponent("tests/fresh-host.sh").path])
        return r?.status == 0 && cgroupMounts.allSatisfy { !FileManager.default.fileExists(atPath: $0 + "/envyro") }
    }

    @Test("root's first envyro run with limits makes the envyro cgroup subtree itself, in every hierarchy",
          .enabled(if: Harness.isRoot, "needs root (it removes and recreates the host's envyro cgroups)"))
    func firstRunMakesTheSubtree() throws {
        guard Self.removeEnvyroCgroups() else {
            print("SKIP: the envyro cgroup subtree is in use by something else; a fresh host can't be made here")
            return
        }
        // The ordinary user's delegation went with it: give it back for the tests after this one.
        defer { if let user = Harness.ordinaryUser { _ = try? Harness.envyro(["setup", "--user", user]) } }
        // The README's first command (make demo): strict, whose limits need a cgroup.
        let r = try Harness.envyro(["run", "--policy", "strict", "--", "sh", "-c", "echo hello from $(cat /proc/sys/kernel/hostname)"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "hello from envyro\n", "\(r.stdout)")
        let missing = Self.cgroupMounts.filter { !FileManager.default.fileExists(atPath: $0 + "/envyro/root") }
        #expect(missing.isEmpty, "no envyro/root in \(missing)")
        // And nothing of the run is left in it.
        let left = Self.cgroupMounts.flatMap { m in
            ((try? FileManager.default.contentsOfDirectory(atPath: m + "/envyro/root")) ?? []).filter { $0.hasPrefix("c-") }
        }
        #expect(left.isEmpty, "container cgroups left: \(left)")
    }
}
}

extension Integration {
/// `envyro run` under a parent that never reaps (a container's or a service's pid 1 that
/// doesn't wait): nothing of envyro's may be left a zombie there (issue 14).
@Suite("no zombies")
struct NoZombies {
    /// Runs `argv` as a child of a child subreaper that never reaps orphans, and returns the
    /// zombies left under it once `argv` has exited.
    static func zombiesLeftBy(_ argv: [String]) throws -> String {
        let script = """
            import ctypes, os, subprocess, sys, time
            ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)   # PR_SET_CHILD_SUBREAPER
            subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
            for pid in os.listdir("/proc"):
                try:
                    comm, rest = open(f"/proc/{pid}/stat").read().rsplit(")", 1)
                    if int(rest.split()[1]) == os.getpid() and rest.split()[0] == "Z": print(comm + ")")
                except (OSError, ValueError): pass
            """
        return try Harness.run(["/usr/bin/python3", "-c", script] + argv).stdout
    }

    @Test("envyro run leaves no zombie under a parent that never reaps", arguments: Integration.RunTests.identities)
    func runReapsItsHelper(who: Harness.Identity) throws {
        var prefix: [String] = []
        if who == .ordinary {
            guard let user = Harness.ordinaryUser else { return }
            prefix = ["/usr/sbin/runuser", "-u", user, "--"]
        }
        for args in [["run", "--", "true"], ["run", "--memory", "64M", "--", "true"], ["run", "--", "false"],
                     ["run", "--", "no-such-command"], ["run", "--log-dir", Harness.scratchDirectory("zombie-logs").path, "--", "echo", "x"]] {
            let zombies = try Self.zombiesLeftBy(prefix + [Harness.envyro] + args)
            #expect(zombies.isEmpty, "\(args): zombies left: \(zombies)")
        }
    }
}
}
