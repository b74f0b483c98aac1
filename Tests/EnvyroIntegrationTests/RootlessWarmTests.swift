import Foundation
import Testing

extension Integration {
/// An ordinary user's auto-started daemon serves its later runs from prewarmed containers, and
/// each of them still gets a network namespace of its own, made for it alone (issue 16, item 3).
@Suite("rootless warm starts")
struct RootlessWarm {
    @Test("an ordinary user's later runs come from prewarmed containers, each in a fresh network namespace with lo up, and the daemon leaves nothing when it exits",
          .enabled(if: (Harness.ordinaryUser != nil || !Harness.isRoot) && Harness.userNamespacesWork,
                   "needs an ordinary user and user namespaces"))
    func freshNamespacePerWarmRun() throws {
        let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let ip else { throw Harness.SkipInfo("no ip(8) on this host to show lo's state") }
        let before = Harness.snapshot()
        let (runtime, policies, cleanup) = try AutoSupervisor.setUp(.ordinary, idle: 2)
        defer { cleanup() }
        let socket = runtime.appendingPathComponent("envyro/auto-default.sock").path
        let first = try AutoSupervisor.envyro(["run", "--", "true"], as: .ordinary, runtime: runtime, policies: policies)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(OCIRunner.wait(10) { FileManager.default.fileExists(atPath: socket) }, "no supervisor was started")

        let host = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")) ?? ""
        var seen: [String] = []
        for _ in 0..<3 {
            let r = try AutoSupervisor.envyro(["run", "--", "/bin/sh", "-c", "readlink /proc/self/ns/net; \(ip) -o link show"],
                                              as: .ordinary, runtime: runtime, policies: policies)
            #expect(r.status == 0, "\(r.stderr)")
            let lines = r.stdout.split(separator: "\n").map(String.init)
            guard let ns = lines.first, ns.hasPrefix("net:[") else {
                Issue.record("no network namespace printed: \(r.stdout) \(r.stderr)")
                continue
            }
            #expect(ns != host, "the run shared the host's network namespace")
            #expect(!seen.contains(ns), "\(ns) served an earlier run too: \(seen)")
            seen.append(ns)
            // lo only, and up: nothing of an earlier run's namespace is there.
            let links = lines.dropFirst()
            #expect(links.count == 1 && links.first.map { $0.contains(" lo:") && $0.contains(",UP") } == true,
                    "expected lo alone, up: \(links)")
        }
        // The later runs were served by prewarmed containers (a hit each), not cold starts.
        let stats = try AutoSupervisor.envyro(["stats", "--supervisor", socket], as: .ordinary, runtime: runtime, policies: policies)
        let hits = stats.stdout.split(separator: "\n").first { $0.hasPrefix("prewarmed_containers:") }
            .flatMap { $0.split(separator: " ").first { $0.hasPrefix("hits=") } }
            .flatMap { Int($0.dropFirst(5)) } ?? 0
        #expect(hits >= 2, "the warm path did not serve the later runs: \(stats.stdout) \(stats.stderr)")

        // Idle for 2 s, it exits: its socket, lock and snapshot go, and so do its helpers, their
        // prewarmed containers and every namespace they held.
        let dir = runtime.appendingPathComponent("envyro").path
        #expect(OCIRunner.wait(10) { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).isEmpty },
                "left in the runtime directory: \((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])")
        Harness.expectNothingLeaked(since: before)
    }
}
}
