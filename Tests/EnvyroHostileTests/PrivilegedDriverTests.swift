import Foundation
import Testing

extension Hostile {
/// Issue 13, item 9 (test code in a privileged binary; predictable temporary files, CWE-377):
/// `envyro-nshelper --bench` honoured ENVYRO_POLICY_DIR and wrote /tmp/.envyro-bench-PID-*.bpf
/// as root without O_EXCL|O_NOFOLLOW, so a planted symlink redirected root's write.
@Suite("benchmark and fuzz drivers outside the privileged helper", .serialized)
struct PrivilegedDrivers {
    static var bin: URL { Harness.installRoot.appendingPathComponent("bin") }

    @Test("root's envyro-nshelper refuses --bench and --fuzz, naming envyro-helper-bench, and follows no symlink planted for its pid",
          .enabled(if: Harness.isRoot && Harness.ordinaryUser != nil, "needs root and an ordinary user (envyrotest)"))
    func helperRefusesDrivers() throws {
        // The attack: the user plants /tmp/.envyro-bench-PID-{strict,default}.bpf for the next
        // pids, pointing at a file of root's.
        let scratch = Harness.scratchDirectory("bench-plant")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let target = scratch.appendingPathComponent("roots-file").path
        try "root's data\n".write(toFile: target, atomically: false, encoding: .utf8)
        chmod(target, 0o644)
        let next = Int((try String(contentsOfFile: "/proc/sys/kernel/ns_last_pid", encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let planter = """
            import os, sys
            t, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
            for pid in range(lo, hi):
                for n in ("strict", "default"):
                    try: os.symlink(t, "/tmp/.envyro-bench-%d-%s.bpf" % (pid, n))
                    except OSError: pass
            """
        try HostileSupport.run(as: Harness.ordinaryUser!, ["/usr/bin/python3", "-c", planter, target, String(next), String(next + 300)])
        defer {
            for pid in next..<(next + 300) { for n in ["strict", "default"] { unlink("/tmp/.envyro-bench-\(pid)-\(n).bpf") } }
        }
        for args in [["--bench", "5"], ["--fuzz", "10", "--seed", "1"]] {
            let r = try Harness.run([Self.bin.appendingPathComponent("envyro-nshelper").path] + args,
                                    environment: ["PATH": "/usr/bin:/bin", "ENVYRO_POLICY_DIR": scratch.path])
            #expect(r.status == 64, "\(args): \(r.stderr)")
            #expect(r.stderr.contains("use envyro-helper-bench \(args[0]) N"), "\(args): \(r.stderr)")
        }
        // The unprivileged driver measures through a real helper and writes only in its own
        // mkdtemp directory, never through a planted name.
        let b = try Harness.run([Self.bin.appendingPathComponent("envyro-helper-bench").path, "--bench", "5"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(b.status == 0, "\(b.stderr)")
        #expect(b.stdout.contains("helper_start_hello_us"), "\(b.stdout)")
        #expect(b.stdout.contains("seccomp_default_compile_us"), "\(b.stdout)")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "root's data\n", "root's file was written through a planted symlink")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { $0.hasPrefix("envyro-helper-bench-") }.isEmpty,
                "the driver left its private directory behind")
    }

    @Test("envyro-helper-bench refuses to run with file capabilities",
          .enabled(if: Harness.isRoot && Harness.ordinaryUser != nil, "needs root (setcap) and an ordinary user"))
    func driverRefusesCapabilities() throws {
        let dir = Harness.installRoot.appendingPathComponent("hostile-bench-capped-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = dir.appendingPathComponent("envyro-helper-bench").path
        try FileManager.default.copyItem(atPath: Self.bin.appendingPathComponent("envyro-helper-bench").path, toPath: copy)
        _ = try Harness.run(["/bin/chmod", "-R", "a+rX", dir.path])
        try #require(try Harness.run(["/usr/sbin/setcap", "cap_setuid,cap_setgid+ep", copy]).status == 0)
        let r = try HostileSupport.run(as: Harness.ordinaryUser!, [copy, "--bench", "5"])
        #expect(r.status == 77, "\(r.stderr)")
        #expect(r.stderr.contains("refusing to run with file capabilities"), "\(r.stderr)")
    }
}
}
