import Foundation
import Testing

extension Integration {
/// The real engines drive an OCI runtime: podman (with conmon), rootful and rootless, and
/// containerd (ctr with the io.containerd.runc.v2 shim) as root and rootless (in rootlesskit),
/// and through its CRI plugin as the kubelet does. Each test runs one scenario group of
/// `tests/engines/engines.sh` with envyro as the runtime, and with crun as the baseline that
/// proves the harness itself works on this machine.
@Suite("real engines (podman, containerd)")
struct EngineTests {
    /// The runtime the engines are given.
    enum Runtime: String, CaseIterable, CustomStringConvertible, Sendable {
        case envyro, crun
        var description: String { rawValue }
        var path: String { self == .envyro ? Harness.installRoot.appendingPathComponent("bin/envyro-runc").path : "/usr/bin/crun" }
        var available: Bool { FileManager.default.isExecutableFile(atPath: path) || self == .envyro }
    }

    static let script = Harness.repoRoot.appendingPathComponent("tests/engines/engines.sh").path

    static func installed(_ names: String...) -> Bool {
        names.allSatisfy { name in
            ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"].contains {
                FileManager.default.isExecutableFile(atPath: "\($0)/\(name)")
            }
        }
    }

    static let canDrivePodman = Harness.isRoot && installed("podman", "conmon")
    static let canDriveContainerd = Harness.isRoot && installed("containerd", "ctr", "containerd-shim-runc-v2", "podman")
    static let canDriveRootlessContainerd = canDriveContainerd && installed("rootlesskit", "newuidmap", "newgidmap")
    static let canDriveCRI = canDriveContainerd && FileManager.default.isExecutableFile(atPath: "/usr/lib/cni/loopback")
        && (try? Harness.run(["/usr/bin/python3", "-c", "import grpc"]))?.status == 0
    /// `ENVYRO_ENGINE_RUNTIMES=crun` (a comma-separated list) runs only those.
    static let runtimes = Runtime.allCases.filter(\.available).filter { runtime in
        guard let only = ProcessInfo.processInfo.environment["ENVYRO_ENGINE_RUNTIMES"] else { return true }
        return only.split(separator: ",").contains(Substring(runtime.rawValue))
    }

    /// What the script must not leave behind: its temporary directories, its cgroups, the engines'
    /// files in /tmp (conmon's console sockets ignore TMPDIR). Other /tmp entries are not judged:
    /// other work on the machine makes them.
    static func leftovers() -> [String] {
        let fm = FileManager.default
        var out = ((try? fm.contentsOfDirectory(atPath: "/var/tmp")) ?? []).filter { $0.hasPrefix("envyro-engines.") }.map { "/var/tmp/" + $0 }
        out += ((try? fm.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { name in
            ["conmon-term.", "runc-process", "podman", "libpod", "containerd", "envyro-engines", "rootlesskit"].contains { name.hasPrefix($0) }
        }.map { "/tmp/" + $0 }
        for controller in ["memory", "pids", "cpu", "systemd", "unified"] {
            let dir = "/sys/fs/cgroup/" + controller
            out += ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("envyro-engines-") }.map { dir + "/" + $0 }
        }
        return out
    }

    /// Runs the group with the runtime; fails with the script's own report when a scenario fails.
    func expectScenariosPass(_ group: String, with runtime: Runtime, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = Harness.snapshot(), leftBefore = Set(Self.leftovers())
        let r = try Harness.run(["/bin/bash", Self.script, runtime.path, group], timeout: 240)
        var after = Harness.snapshot()
        for _ in 0..<50 where after.processes != before.processes || after.mounts != before.mounts {
            usleep(20_000)
            after = Harness.snapshot()
        }
        #expect(after.processes.subtracting(before.processes).isEmpty, "stray processes of the runtime", sourceLocation: sourceLocation)
        #expect(after.mounts == before.mounts, "host mounts changed", sourceLocation: sourceLocation)
        #expect(Set(Self.leftovers()).subtracting(leftBefore).isEmpty, "engines.sh left \(Set(Self.leftovers()).subtracting(leftBefore))",
                sourceLocation: sourceLocation)
        for line in r.stdout.split(separator: "\n") where line.hasPrefix("SKIP ") {
            print("engines.sh (\(runtime)): \(line)")
        }
        let failures = r.stdout.split(separator: "\n").filter { $0.hasPrefix("FAIL ") }
        #expect(failures.isEmpty, "\(group) with \(runtime): \(failures.count) scenario(s) failed\n\(r.stdout)\(r.stderr)",
                sourceLocation: sourceLocation)
        if r.status != 0, failures.isEmpty {
            Issue.record("engines.sh \(group) with \(runtime) ran no scenario (exit \(r.status)):\n\(r.stdout)\(r.stderr)",
                         sourceLocation: sourceLocation)
        }
    }

    @Test("podman as root runs, execs into, stops, restarts, kills, pauses and unpauses, reads stats and top of, copies files into and out of, and removes (--rm) containers with the runtime",
          .enabled(if: EngineTests.canDrivePodman, "needs root, podman and conmon (make deps installs them)"),
          arguments: EngineTests.runtimes)
    func podmanRootful(runtime: Runtime) throws {
        try expectScenariosPass("podman", with: runtime)
    }

    @Test("rootless podman runs, execs into, stops, restarts, kills, reads top of, copies files into and out of, and removes (--rm) containers with the runtime (pause and stats: cgroup v2 only)",
          .enabled(if: EngineTests.canDrivePodman && EngineTests.installed("newuidmap", "newgidmap"),
                   "needs root (to act as the ordinary user), podman, conmon and uidmap"),
          arguments: EngineTests.runtimes)
    func podmanRootless(runtime: Runtime) throws {
        try expectScenariosPass("rootless", with: runtime)
    }

    @Test("containerd's runc shim runs, execs into, kills and deletes tasks with the runtime",
          .enabled(if: EngineTests.canDriveContainerd, "needs root, containerd (ctr, the runc v2 shim) and podman (to build the image archive)"),
          arguments: EngineTests.runtimes)
    func containerd(runtime: Runtime) throws {
        try expectScenariosPass("ctr", with: runtime)
    }

    @Test("rootless containerd (rootlesskit, as the ordinary user) runs, execs into, kills and deletes tasks with the runtime",
          .enabled(if: EngineTests.canDriveRootlessContainerd, "needs root (to act as the ordinary user), containerd, podman, rootlesskit and uidmap"),
          arguments: EngineTests.runtimes)
    func rootlessContainerd(runtime: Runtime) throws {
        try expectScenariosPass("rootless-ctr", with: runtime)
    }

    @Test("containerd's CRI plugin, configured with the runtime as the runc shim's BinaryName, runs a pod and its containers, execs, stops and removes them",
          .enabled(if: EngineTests.canDriveCRI, "needs root, containerd, podman, containernetworking-plugins and python3-grpcio"),
          arguments: EngineTests.runtimes)
    func cri(runtime: Runtime) throws {
        try expectScenariosPass("cri", with: runtime)
    }
}
}
