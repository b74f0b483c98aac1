import Foundation
import Testing

extension Integration {
/// `--supervisor auto` (the default): with no supervisor listening, `envyro run` runs embedded
/// and starts one for its policy, which serves the runs after it and exits when idle (issue 16).
@Suite("a supervisor started on first use")
struct AutoSupervisor {
    static let identities = Harness.Identity.allCases.filter(\.available)

    /// A private runtime directory for `who` and a copy of the shipped policies whose default
    /// policy's idle time is `idle` seconds.
    static func setUp(_ who: Harness.Identity, idle: Int) throws -> (runtime: URL, policies: URL, cleanup: () -> Void) {
        // Not a scratch directory (mode 0777): root's daemon hands its helpers a policy snapshot
        // from beside the socket, and a privileged helper trusts no policy below a directory
        // others can write. A runtime directory is private, as /run/user/UID is.
        let scratch = Harness.installRoot.appendingPathComponent("auto-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let runtime = scratch.appendingPathComponent("run")
        let policies = scratch.appendingPathComponent("policy")
        try FileManager.default.createDirectory(at: runtime, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.copyItem(at: Harness.installRoot.appendingPathComponent("policy"), to: policies)
        let file = policies.appendingPathComponent("default.json")
        let text = try String(contentsOf: file, encoding: .utf8)
        try text.replacingOccurrences(of: "\"autoSupervisorIdleSeconds\": 60", with: "\"autoSupervisorIdleSeconds\": \(idle)")
            .write(to: file, atomically: false, encoding: .utf8)
        _ = try Harness.run(["/bin/chmod", "-R", "a+rX", policies.path])
        if who == .ordinary, let user = Harness.ordinaryUser { _ = try Harness.run(["/bin/chown", user, runtime.path]) }
        return (runtime, policies, { try? FileManager.default.removeItem(at: scratch) })
    }

    static func envyro(_ args: [String], as who: Harness.Identity, runtime: URL, policies: URL, auto: Bool = true) throws -> Harness.Result {
        try Harness.envyro(args, as: who, extraEnv: ["XDG_RUNTIME_DIR": runtime.path, "ENVYRO_POLICY_DIR": policies.path,
                                                     "ENVYRO_AUTO_SUPERVISOR": auto ? "1" : "0"])
    }

    @Test("the first run starts a supervisor, the next runs go through it, and it exits when idle, leaving nothing",
          arguments: identities)
    func startsServesAndExits(who: Harness.Identity) throws {
        let before = Harness.snapshot()
        let (runtime, policies, cleanup) = try Self.setUp(who, idle: 2)
        defer { cleanup() }
        let socket = runtime.appendingPathComponent("envyro/auto-default.sock").path
        let first = try Self.envyro(["run", "--", "echo", "one"], as: who, runtime: runtime, policies: policies)
        #expect(first.status == 0 && first.stdout == "one\n", "\(first.stderr)")
        #expect(OCIRunner.wait(10) { FileManager.default.fileExists(atPath: socket) }, "no supervisor was started")
        for n in 0..<3 {
            let r = try Self.envyro(["run", "--", "echo", "run \(n)"], as: who, runtime: runtime, policies: policies)
            #expect(r.status == 0 && r.stdout == "run \(n)\n", "\(r.stderr)")
        }
        let stats = try Self.envyro(["stats", "--supervisor", socket], as: who, runtime: runtime, policies: policies)
        #expect(stats.stdout.contains("runs: started=3"), "the later runs went through the supervisor: \(stats.stdout) \(stats.stderr)")
        // Idle for 2 s: it exits, and takes its socket, lock and policy snapshot with it.
        #expect(OCIRunner.wait(10) { ((try? FileManager.default.contentsOfDirectory(atPath: runtime.appendingPathComponent("envyro").path)) ?? []).isEmpty },
                "left in the runtime directory: \((try? FileManager.default.contentsOfDirectory(atPath: runtime.appendingPathComponent("envyro").path)) ?? [])")
        Harness.expectNothingLeaked(since: before)
    }

    @Test("ENVYRO_AUTO_SUPERVISOR=0, --supervisor never and a policy with autoSupervisorIdleSeconds 0 start none",
          arguments: identities)
    func switchedOff(who: Harness.Identity) throws {
        let (runtime, policies, cleanup) = try Self.setUp(who, idle: 0)
        defer { cleanup() }
        let dir = runtime.appendingPathComponent("envyro").path
        let idleZero = try Self.envyro(["run", "--", "true"], as: who, runtime: runtime, policies: policies)
        let off = try Self.envyro(["run", "--policy", "strict", "--", "true"], as: who, runtime: runtime, policies: policies, auto: false)
        let never = try Self.envyro(["run", "--supervisor", "never", "--policy", "strict", "--", "true"], as: who, runtime: runtime, policies: policies)
        #expect([idleZero.status, off.status, never.status] == [0, 0, 0], "\(idleZero.stderr) \(off.stderr) \(never.stderr)")
        usleep(500_000)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        #expect(entries.filter { $0.hasPrefix("auto-") }.isEmpty, "a supervisor was started: \(entries)")
    }
}
}
