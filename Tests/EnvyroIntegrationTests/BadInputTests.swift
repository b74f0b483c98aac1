import Foundation
import Testing

/// Every error a user can hit in `envyro run`: a clear message, the right status, nothing left
/// behind on the host.
extension Integration {
@Suite("envyro run refuses bad input")
struct BadInputTests {
    static let brokenPolicy: String = {
        let dir = Harness.scratchDirectory("broken-policy")
        let path = dir.appendingPathComponent("broken.json").path
        _ = FileManager.default.createFile(atPath: path, contents: Data("{\"schemaVersion\": 1, \"name\": ".utf8))
        return path
    }()

    static let unknownKeyPolicy: String = {
        let dir = Harness.scratchDirectory("unknown-key-policy")
        let path = dir.appendingPathComponent("odd.json").path
        var text = try! String(contentsOf: Harness.repoRoot.appendingPathComponent("policy/default.json"), encoding: .utf8)
        text = text.replacingOccurrences(of: "\"allowWritable\"", with: "\"frobnicate\": true, \"allowWritable\"")
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }()

    static let cases: [(String, [String], Int32, String)] = [
        ("no command", ["run"], 125, "no command given"),
        ("no command after --", ["run", "--"], 125, "no command given"),
        ("a command missing from the rootfs", ["run", "--", "no-such-command-xyz"], 127, "no-such-command-xyz: command not found"),
        ("a command that is not executable", ["run", "--", "/etc/passwd"], 126, "/etc/passwd: Permission denied"),
        ("a missing --rootfs", ["run", "--rootfs", "/nonexistent-rootfs", "--", "true"], 125, "--rootfs /nonexistent-rootfs: no such directory"),
        ("a --rootfs that is a file", ["run", "--rootfs", "/etc/passwd", "--", "true"], 125, "--rootfs /etc/passwd: not a directory"),
        ("a --rootfs that is a symlink", ["run", "--rootfs", "/proc/self/root", "--", "true"], 125, "--rootfs /proc/self/root: is a symlink; give the directory's real path"),
        ("a --rootfs that is the host's root", ["run", "--rootfs", "/usr/..", "--", "true"], 125, "the host's root can't be a container's rootfs"),
        ("an unknown policy name", ["run", "--policy", "nonesuch", "--", "true"], 125, "policy 'nonesuch' not found"),
        ("a broken policy file", ["run", "--policy", brokenPolicy, "--", "true"], 125, "\(brokenPolicy): invalid JSON"),
        ("a policy with an unknown key", ["run", "--policy", unknownKeyPolicy, "--", "true"], 125, "unknown key 'rootfs.frobnicate'"),
        ("--env without =", ["run", "--env", "FOO", "--", "true"], 125, "--env 'FOO': expected KEY=VALUE"),
        ("--env with an empty key", ["run", "--env", "=x", "--", "true"], 125, "--env '=x': expected KEY=VALUE"),
        ("a relative --cwd", ["run", "--cwd", "tmp", "--", "true"], 125, "must be an absolute path"),
        ("a --cwd missing in the container", ["run", "--cwd", "/nonexistent", "--", "true"], 125, "working directory does not exist"),
        ("a bad --hostname", ["run", "--hostname", "a b", "--", "true"], 125, "--hostname 'a b'"),
        ("a bad --network", ["run", "--network", "bridge", "--", "true"], 125, "--network 'bridge': expected none or host"),
        ("a network the policy forbids", ["run", "--policy", "strict", "--network", "host", "--", "true"], 125, "--network host is not allowed by policy strict"),
        ("a zero --timeout", ["run", "--timeout", "0", "--", "true"], 125, "--timeout"),
    ]

    @Test("bad input gets a clear error and leaves nothing behind", arguments: cases)
    func badInput(name: String, args: [String], status: Int32, message: String) throws {
        let before = Harness.snapshot()
        let r = try Harness.envyro(args)
        #expect(r.status == status, "\(name): \(r.stderr)")
        #expect(r.stderr.contains(message), "\(name): \(r.stderr)")
        #expect(r.stdout.isEmpty)
        Harness.expectNothingLeaked(since: before)
    }

    @Test("the same errors reach an ordinary user", arguments: [cases[2], cases[4], cases[9]])
    func badInputRootless(name: String, args: [String], status: Int32, message: String) throws {
        guard Harness.Identity.ordinary.available else { return }
        let r = try Harness.envyro(args, as: .ordinary)
        #expect(r.status == status, "\(name): \(r.stderr)")
        #expect(r.stderr.contains(message), "\(name): \(r.stderr)")
    }

    @Test("disabled user namespaces are reported with the sysctl to change")
    func userNamespacesDisabled() throws {
        // A user namespace of our own where user.max_user_namespaces is 0: the machine's
        // setting is untouched.
        let before = Harness.snapshot()
        let r = try Harness.run([
            "/usr/bin/unshare", "--user", "--map-root-user", "/bin/sh", "-c",
            "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" run -- true", Harness.envyro,
        ])
        #expect(r.status == 125)
        #expect(r.stderr.contains("user namespaces are disabled"), "\(r.stderr)")
        #expect(r.stderr.contains("user.max_user_namespaces"))
        Harness.expectNothingLeaked(since: before)
    }
}
}
