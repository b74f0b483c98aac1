import EnvyroEngine
import EnvyroProtocol
import EnvyroSupervisor
import Foundation
import Testing

/// The engine sits on the real run path: these tests drive real containers through an
/// in-process supervisor and its real helper, then read the engine's statistics.
/// Where the built helper is, and whether this machine can run containers.
enum Machine {
    static let helperPath: String = {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" {
            url.deleteLastPathComponent()
            let candidate = url.appendingPathComponent("envyro-nshelper").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return "/nonexistent"
    }()

    static let canRun: Bool = {
        guard FileManager.default.isExecutableFile(atPath: helperPath) else { return false }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        p.arguments = ["--user", "--map-root-user", "/bin/true"]
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

}

@Suite("the engine on the run path", .serialized,
       .enabled(if: Machine.canRun, "user namespaces can't be created here, or envyro-nshelper is not built"))
struct RunPathTests {
    static let helperPath = Machine.helperPath

    static let devNull: [Int32] = {
        let r = open("/dev/null", O_RDONLY | O_CLOEXEC), w = open("/dev/null", O_WRONLY | O_CLOEXEC)
        return [r, w, w]
    }()

    @Test("after 100 runs in one process, contexts are recycled and templates come from the cache")
    func hundredRuns() async throws {
        let supervisor = EmbeddedSupervisor(policy: "default", helperPath: Self.helperPath)
        for _ in 0..<100 {
            let report = try await supervisor.run(RunSpec(argv: ["/bin/true"]), stdio: Self.devNull, signalFD: nil)
            #expect(report.outcome.exitCode == 0)
        }
        let stats = supervisor.engine.stats
        #expect(stats.contextPool!.recycled >= 99)
        #expect(stats.namespaceCache!.hits >= 99)
        #expect(stats.namespaceCache!.misses == 1)
        // Every frame from the helper was received into a pool slab, reused after the first.
        #expect(stats.bufferPool!.reuses >= 200)
        // The policy was loaded once; each run read the shared environment template without a
        // copy (the run's entries join it in the run's own zeroed arena).
        #expect(stats.lazyResources!.creations == 1)
        #expect(stats.sharedResources!.shared >= 100)
        #expect(stats.sharedResources!.clones == 0)
    }

    @Test("a different request shape is a cache miss, the same shape again a hit")
    func templateKeys() async throws {
        let supervisor = EmbeddedSupervisor(policy: "default", helperPath: Self.helperPath)
        var request = RunSpec(argv: ["/bin/true"])
        _ = try await supervisor.run(request, stdio: Self.devNull, signalFD: nil)
        request.network = "host"
        _ = try await supervisor.run(request, stdio: Self.devNull, signalFD: nil)
        request.network = nil
        _ = try await supervisor.run(request, stdio: Self.devNull, signalFD: nil)
        let stats = supervisor.engine.templates.stats
        #expect(stats.misses == 2)
        #expect(stats.hits == 1)
    }

    @Test("the shell executor turns one script into /bin/sh -c", arguments: [("exit 7", Int32(7)), ("true && exit 3", 3)])
    func shellExecutor(script: String, status: Int32) async throws {
        let supervisor = EmbeddedSupervisor(policy: "default", helperPath: Self.helperPath)
        var request = RunSpec(argv: [script])
        request.executor = "shell"
        let report = try await supervisor.run(request, stdio: Self.devNull, signalFD: nil)
        #expect(report.outcome.exitCode == status)
    }

    @Test("an unknown executor type is a clear error naming the known ones")
    func unknownExecutor() async throws {
        let supervisor = EmbeddedSupervisor(policy: "default", helperPath: Self.helperPath)
        var request = RunSpec(argv: ["true"])
        request.executor = "cobol"
        await #expect {
            _ = try await supervisor.run(request, stdio: Self.devNull, signalFD: nil)
        } throws: { error in
            // The built-in types and the default policy's plugins.
            "\(error)".contains("--executor cobol: unknown executor type (known: native, python, shell, wasm)")
        }
    }

    @Test("setup reports both concurrent steps with their durations")
    func setupTimings() async throws {
        let supervisor = EmbeddedSupervisor(policy: "default", helperPath: Self.helperPath)
        let report = try await supervisor.run(RunSpec(argv: ["/bin/true"]), stdio: Self.devNull, signalFD: nil)
        #expect(report.setup.steps.map(\.name).sorted() == ["helper", "plan"])
        #expect(report.setup.steps.allSatisfy { $0.ok && $0.durationNs > 0 })
        // The helper's own steps of a cold start come inside its round trip.
        #expect(report.steps.map(\.step) == ["create (helper round trip)", "  helper: checks", "  helper: seccomp filter, cgroup", "  helper: clone",
                                             "  helper: id maps", "  helper: root built, exec", "workload (running to exit event)"])
        #expect(report.formattedTimings().contains("helper"))
    }

    @Test("a helper killed between runs is replaced on the next run")
    func helperRestart() async throws {
        let supervisor = EmbeddedSupervisor(policy: "default", helperPath: Self.helperPath)
        _ = try await supervisor.run(RunSpec(argv: ["/bin/true"]), stdio: Self.devNull, signalFD: nil)
        let first = try #require(supervisor.helperPID)
        kill(first, SIGKILL)
        usleep(50_000)
        // The run that finds the helper gone fails clearly; the next one starts a new helper.
        do {
            _ = try await supervisor.run(RunSpec(argv: ["/bin/true"]), stdio: Self.devNull, signalFD: nil)
        } catch {
            #expect("\(error)".contains("helper"))
        }
        let report = try await supervisor.run(RunSpec(argv: ["/bin/true"]), stdio: Self.devNull, signalFD: nil)
        #expect(report.outcome.exitCode == 0)
        #expect(supervisor.helperPID != first)
    }
}

@Suite("the daemon's helper pool", .enabled(if: Machine.canRun, "user namespaces can't be created here, or envyro-nshelper is not built"))
struct HelperPoolTests {
    @Test("a helper given back is taken again before one the refill started meanwhile (it is the warm one)")
    func warmHelperFirst() throws {
        let supervisor = EmbeddedSupervisor(policy: "default", helperPath: Machine.helperPath)
        let pool = HelperPool(path: supervisor.helperPath, policy: supervisor.policyReference, buffers: supervisor.engine.buffers, target: 2)
        defer { pool.close() }
        let used = try pool.acquire()
        pool.release(used)
        pool.refill()   // finishes after the release: the new helper must not be next
        #expect(pool.stats.ready == 2)
        let next = try pool.acquire()
        #expect(next.pid == used.pid)
        pool.release(next)
    }
}
