import Foundation
import Testing

extension Integration {
/// A daemon helper's pool of reaped containers' cgroups (`pools.cgroups`): a run with the same
/// limits gets one back reset, reports only its own use, and gets its limits whatever was
/// written there since; a run that forked leaves its cgroup to be removed; a stopped daemon
/// leaves none.
@Suite("cgroup pool")
struct CgroupPoolTests {
    /// The `--json` object a run printed as the last line of stderr.
    static func result(_ r: Harness.Result) throws -> [String: Any] {
        let line = try #require(r.stderr.split(separator: "\n").last(where: { $0.hasPrefix("{") }), "no JSON in: \(r.stderr)")
        return try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
    }

    static let limits = ["--memory", "256M", "--pids-limit", "16", "--cpus", "0.9", "--json"]

    /// Runs `body` with a daemon under the default policy and the path of its audit log; the
    /// daemon is stopped (again, if `body` did) and its scratch directory removed afterwards.
    static func withDaemon(_ name: String, _ body: (DaemonTests.Daemon, String) throws -> Void) throws {
        let dir = Harness.scratchDirectory(name)
        defer { try? FileManager.default.removeItem(at: dir) }
        let audit = dir.appendingPathComponent("audit.jsonl").path
        let d = try DaemonTests.Daemon(policy: try PolicyFiles.copy(of: "default", auditPath: audit, into: dir))
        defer { _ = d.stop() }
        try body(d, audit)
    }

    /// The container cgroups helper `pid` has in the memory hierarchy (`c-PID-…`).
    static func cgroups(ofHelper pid: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup/memory/envyro/root")) ?? []
        return names.filter { $0.hasPrefix("c-\(pid)-") }
    }

    /// The helper pids the audit log names.
    static func helperPIDs(_ audit: String) throws -> Set<String> {
        let text = try String(contentsOfFile: audit, encoding: .utf8)
        return Set(text.split(separator: "\n").compactMap { line in
            line.range(of: "\"helper_pid\":").map { r in String(line[r.upperBound...].prefix { $0.isNumber }) }
        })
    }

    /// Starts `envyro run` through `d` on a thread of its own; `wait()` returns its result.
    final class Background: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var result: Harness.Result?
        init(_ args: [String]) {
            Thread.detachNewThread { [self] in
                result = try? Harness.envyro(args)
                done.signal()
            }
        }
        func wait() throws -> Harness.Result {
            done.wait()
            return try #require(result)
        }
    }

    /// The name of the memory cgroup of the process running `sleep MARKER`, as the host sees it.
    static func cgroupOfSleep(_ marker: String) throws -> String {
        var pid: Int32? = nil
        for _ in 0..<300 where pid == nil {
            pid = Harness.processes(exeSuffix: "/sleep", argument: marker).first
            if pid == nil { usleep(10_000) }
        }
        let found = try #require(pid, "the run's sleep was never seen")
        let line = try #require(try String(contentsOfFile: "/proc/\(found)/cgroup", encoding: .utf8)
            .split(separator: "\n").first { $0.contains(":memory:") })
        let name = String(line.split(separator: "/").last ?? "")
        #expect(name.hasPrefix("c-"), "\(line)")
        return name
    }

    @Test("a run gets a reaped run's cgroup back, says so in the audit line, and reports only its own memory and CPU",
          .enabled(if: Harness.isRoot, "needs root: the helper makes cgroups under envyro/root"))
    func reusedAndReset() throws { try Self.withDaemon("cgpool") { d, audit in
        // Two heavy runs (one process each, 128 MiB touched, about a second of /dev/zero), then
        // light ones: a run gets the cgroup of the run two before it on the same helper.
        let heavy = ["--", "dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=12"]
        for _ in 0..<2 {
            let j = try Self.result(try Harness.envyro(["run", "--supervisor", d.socket] + Self.limits + heavy))
            #expect(j["exitCode"] as? Int == 0, "\(j)")
            #expect((j["memoryPeakBytes"] as? Int ?? 0) >= 128 << 20, "dd's buffer is charged: \(j)")
        }
        for _ in 0..<5 {
            let j = try Self.result(try Harness.envyro(["run", "--supervisor", d.socket] + Self.limits + ["--", "true"]))
            #expect(j["exitCode"] as? Int == 0, "\(j)")
            #expect((j["memoryPeakBytes"] as? Int ?? .max) < 16 << 20, "no earlier run's peak: \(j)")
            #expect((j["cgroupCpuNanos"] as? Int ?? .max) < 100_000_000, "no earlier run's CPU time: \(j)")
            #expect(j["memoryLimitBytes"] as? Int == 256 << 20 && j["pidsPeak"] as? Int == 1, "\(j)")
        }
        let text = try String(contentsOfFile: audit, encoding: .utf8)
        #expect(text.contains("cgroup reused from an earlier run"), "the audit line of a reusing create says so")
        // A pooled cgroup's files stay open in its helper (read and written every run), and
        // never reach a container: a run in a reused cgroup has only its stdio (and ls's own fd).
        let held = try Self.helperPIDs(audit).flatMap { pid -> [String] in
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
            return fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)") }
        }
        #expect(held.contains { $0.hasPrefix("/sys/fs/cgroup/memory/envyro/root/c-") && $0.hasSuffix("/memory.max_usage_in_bytes") },
                "a helper keeps its pooled cgroups' files open: \(held)")
        let ls = try Harness.envyro(["run", "--supervisor", d.socket] + Self.limits + ["--", "ls", "/proc/self/fd"])
        #expect(ls.stdout.split(separator: "\n") == ["0", "1", "2", "3"], "the container's fds: \(ls.stdout) \(ls.stderr)")
        // The pool is bounded: a helper keeps at most pools.cgroups (4) idle, plus what its
        // prewarmed member and a retiring one hold.
        for pid in try Self.helperPIDs(audit) {
            #expect(Self.cgroups(ofHelper: pid).count <= 6, "\(Self.cgroups(ofHelper: pid))")
        }
    } }

    @Test("a cgroup a run wrote its own limits into gets the run's limits back before another run may have it",
          .enabled(if: Harness.isRoot, "needs root: the test writes to a run's cgroup as a run that could would"))
    func limitsWrittenAgain() throws { try Self.withDaemon("cgpool-tamper") { d, _ in
        _ = try Harness.envyro(["run", "--supervisor", d.socket] + Self.limits + ["--", "true"])
        // A one-process run (so its cgroup is kept), found by its unusual argument.
        let marker = "2.71828"
        let run = Background(["run", "--supervisor", d.socket] + Self.limits + ["--", "sleep", marker])
        let name = try Self.cgroupOfSleep(marker)
        let memory = "/sys/fs/cgroup/memory/envyro/root/\(name)/memory.limit_in_bytes"
        let pids = "/sys/fs/cgroup/pids/envyro/root/\(name)/pids.max"
        // What a run with write access to its own cgroup could do: lift its limits.
        let memsw = memory.replacingOccurrences(of: "memory.limit_in_bytes", with: "memory.memsw.limit_in_bytes")
        let lift = "[ -e \(memsw) ] && echo -1 > \(memsw); echo -1 > \(memory); echo max > \(pids)"
        _ = try Harness.run(["/bin/sh", "-c", lift])
        #expect(try String(contentsOfFile: pids, encoding: .utf8).hasPrefix("max"), "the test lifted the run's pids limit")
        #expect(try String(contentsOfFile: memory, encoding: .utf8).count > 12, "and its memory limit")
        let j = try Self.result(try run.wait())
        #expect(j["exitCode"] as? Int == 0 && j["pidsPeak"] as? Int == 1, "\(j)")
        // Reaped and kept for the next run with these limits, with the limits written again.
        #expect(FileManager.default.fileExists(atPath: memory), "a one-process run's cgroup is kept")
        let limit = try String(contentsOfFile: memory, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let max = try String(contentsOfFile: pids, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(limit == String(256 << 20), "memory.limit_in_bytes is the limits' again")
        #expect(max == "16", "pids.max is the limits' again")
        for _ in 0..<4 {
            let next = try Self.result(try Harness.envyro(["run", "--supervisor", d.socket] + Self.limits + ["--", "true"]))
            #expect(next["memoryLimitBytes"] as? Int == 256 << 20 && next["pidsLimit"] as? Int == 16, "\(next)")
        }
    } }

    @Test("a run that forked leaves its cgroup to be removed, and a stopped daemon leaves none of its pool",
          .enabled(if: Harness.isRoot, "needs root: the helper makes cgroups under envyro/root"))
    func forkedRunAndStoppedDaemon() throws { try Self.withDaemon("cgpool-fork") { d, audit in
        // Its pids.peak (2) can't be reset, so its cgroup is never handed to another run.
        let marker = "1.41421"
        let run = Background(["run", "--supervisor", d.socket] + Self.limits + ["--", "sh", "-c", "sleep \(marker); true"])
        let name = try Self.cgroupOfSleep(marker)
        #expect(try run.wait().status == 0)
        let path = "/sys/fs/cgroup/memory/envyro/root/\(name)"
        for _ in 0..<100 where FileManager.default.fileExists(atPath: path) {
            _ = try Harness.envyro(["run", "--supervisor", d.socket] + Self.limits + ["--", "true"])
            usleep(20_000)
        }
        #expect(!FileManager.default.fileExists(atPath: path), "the forked run's cgroup was removed, not kept")
        for _ in 0..<4 { _ = try Harness.envyro(["run", "--supervisor", d.socket] + Self.limits + ["--", "true"]) }
        let helpers = try Self.helperPIDs(audit)
        #expect(helpers.contains { !Self.cgroups(ofHelper: $0).isEmpty }, "the pool holds cgroups while the daemon runs")
        _ = d.stop()
        for pid in helpers {
            #expect(Self.cgroups(ofHelper: pid).isEmpty, "helper \(pid) left \(Self.cgroups(ofHelper: pid))")
        }
    } }
}
}
