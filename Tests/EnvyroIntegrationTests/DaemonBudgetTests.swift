import Foundation
import Testing

extension Integration {
/// A daemon over its memory budget refuses new runs with the figures, and doesn't crash.
@Suite("the supervisor's memory budget")
struct DaemonBudget {
    @Test("a supervisor over pools.supervisorMemoryBytes refuses a run with its size and budget, and keeps serving")
    func overBudget() throws {
        let dir = Harness.scratchDirectory("budget")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try PolicyFiles.copy(of: "default", auditPath: dir.appendingPathComponent("audit.jsonl").path, into: dir)
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        var pools = json["pools"] as! [String: Any]
        pools["supervisorMemoryBytes"] = 1 << 20   // 1 MiB: any daemon is over it
        json["pools"] = pools
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        let daemon = try Integration.DaemonTests.Daemon(policy: path)
        defer { _ = daemon.stop() }
        let r = try Harness.envyro(["run", "--supervisor", daemon.socket, "--", "true"])
        #expect(r.status == 125)
        #expect(r.stderr.contains("over its budget of 1 MiB") && r.stderr.contains("pools.supervisorMemoryBytes"), "\(r.stderr)")
        // Still alive and answering.
        let stats = try Harness.envyro(["stats", "--supervisor", daemon.socket])
        #expect(stats.status == 0, "\(stats.stderr)")
    }
}
}
