import Foundation
import Testing

extension Integration {
/// The short form of `make test-load` (issue 14): two ordinary users, each with their own
/// strict supervisor, each keeping 20 runs with limits in flight through it while one of their
/// helpers is killed with SIGKILL. Every run succeeds or fails naming the helper's death; nothing
/// is left behind; both audit chains verify. envyro-load does the driving and the checks.
@Suite("load and faults")
struct LoadTests {
    static let users = ["envyroload1", "envyroload2"]

    /// Creates `user` with a delegated cgroup subtree; returns its home directory.
    static func makeUser(_ user: String) throws -> String {
        if try Harness.run(["/usr/bin/id", "-u", user]).status != 0 {
            try Harness.run(["/usr/sbin/useradd", "-m", "-s", "/bin/sh", user])
        }
        try Harness.run([Harness.envyro, "setup", "--user", user])
        return try Harness.run(["/usr/bin/getent", "passwd", user]).stdout.split(separator: ":", omittingEmptySubsequences: false).dropFirst(5).first.map(String.init) ?? "/home/\(user)"
    }

    /// Removes `user`, its home and the cgroup subtrees `envyro setup` made for it.
    static func removeUser(_ user: String) {
        guard let uid = (try? Harness.run(["/usr/bin/id", "-u", user]))?.stdout.trimmingCharacters(in: .whitespacesAndNewlines), !uid.isEmpty else { return }
        for controller in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
            rmdir("/sys/fs/cgroup/\(controller)/envyro/u\(uid)")
        }
        _ = try? Harness.run(["/usr/sbin/userdel", "-r", user])
    }

    @Test("2 users x 20 concurrent runs through their own strict supervisors, one helper killed: no unexplained failure, no leak, audit verifies")
    func twoUsersUnderLoad() throws {
        guard Harness.isRoot else { throw Harness.SkipInfo("needs root to create the two users whose supervisors it drives") }
        let before = Harness.snapshot()
        defer { for u in Self.users { Self.removeUser(u) } }
        let homes = try Self.users.map { try Self.makeUser($0) }
        let bin = Harness.installRoot.appendingPathComponent("bin").path
        nonisolated(unsafe) var results: [Harness.Result?] = [nil, nil]
        let group = DispatchGroup()
        for (i, user) in Self.users.enumerated() {
            let home = homes[i]
            group.enter()
            DispatchQueue.global().async {
                results[i] = try? Harness.run([
                    "/usr/sbin/runuser", "-u", user, "--", "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "HOME=\(home)",
                    "\(bin)/envyro-load", "--bin", bin, "--work", "\(home)/load-it", "--policy", "strict",
                    "--concurrency", "20", "--seconds", "8", "--fault", "helper@3", "--log-every", "0",
                    "--audit", "\(home)/.local/state/envyro/audit.jsonl", "--json", "\(home)/load-it.json", "--label", user,
                ], timeout: 120)
                group.leave()
            }
        }
        group.wait()
        for (i, user) in Self.users.enumerated() {
            let r = try #require(results[i], "envyro-load did not run for \(user)")
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(homes[i])/load-it.json"))
            let figures = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect(r.status == 0, "\(user): \(r.stdout)\(r.stderr)")
            #expect(figures["unexplainedFailures"] as? Int == 0, "\(user): \(figures["failuresByCause"] ?? "")")
            #expect((figures["ok"] as? Int ?? 0) >= 20, "\(user): \(r.stdout)")
            #expect((figures["leaks"] as? [String])?.isEmpty == true, "\(user): \(figures["leaks"] ?? "")")
            #expect(figures["auditVerified"] as? Bool == true, "\(user): \(figures["audit"] ?? "")")
            #expect((figures["faults"] as? [String])?.count == 1, "\(user): the helper kill did not happen: \(r.stdout)")
            // The run whose helper was killed says so (and no other run failed).
            let causes = figures["failuresByCause"] as? [String: Int] ?? [:]
            #expect(causes.keys.allSatisfy { $0.hasPrefix("[helper fault]") && $0.contains("helper") }, "\(user): \(causes)")
        }
        Harness.expectNothingLeaked(since: before)
    }
}
}
