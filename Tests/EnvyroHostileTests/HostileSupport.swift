import Foundation
import Testing

/// What the hostile cases share: running things as another user, a capped copy of the binaries,
/// and moving a shared /tmp name aside for the length of a test.
enum HostileSupport {
    /// Runs `argv` as `user` with a clean environment (plus `env`).
    @discardableResult
    static func run(as user: String, _ argv: [String], env: [String: String] = [:], timeout: TimeInterval = 60) throws -> Harness.Result {
        let exports = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "ENVYRO_AUTO_SUPERVISOR=0"] + env.map { "\($0.key)=\($0.value)" }
        return try Harness.run(["/usr/sbin/runuser", "-u", user, "--", "/usr/bin/env", "-i"] + exports + argv, timeout: timeout)
    }

    /// Starts `argv` as `user` in the background.
    static func start(as user: String, _ argv: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
        p.arguments = ["-u", user, "--", "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "ENVYRO_AUTO_SUPERVISOR=0"] + argv
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Waits up to `seconds` for `path` to contain `text`; returns the contents.
    static func wait(for text: String, in path: String, seconds: Double = 10) -> String {
        var contents = ""
        for _ in 0..<Int(seconds * 50) {
            contents = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            if contents.contains(text) { break }
            usleep(20_000)
        }
        return contents
    }

    /// The pid a background script wrote as "READY <pid>" in `log`.
    static func readyPID(_ log: String) -> Int32? {
        let text = wait(for: "READY", in: log)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("READY") }) else { return nil }
        return Int32(line.split(separator: " ").last ?? "")
    }

    /// Kills a background process of ours by pid and reaps its runuser.
    static func stop(_ pid: Int32?, _ p: Process) {
        if let pid, pid > 0 { kill(pid, SIGKILL) }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
    }

    /// <install root>/hostile-capped/bin: envyro, envyro-cli and a copy of the helper with
    /// `cap_setuid,cap_setgid+ep`, as `make install` leaves it.
    static let cappedBin: URL? = {
        guard Harness.isRoot, Harness.ordinaryUser != nil else { return nil }
        let bin = Harness.installRoot.appendingPathComponent("hostile-capped/bin")
        try? FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        for name in ["envyro", "envyro-cli", "envyro-nshelper", "envyro-helper-bench"] {
            try? FileManager.default.copyItem(at: Harness.installRoot.appendingPathComponent("bin/\(name)"), to: bin.appendingPathComponent(name))
        }
        _ = try? Harness.run(["/bin/chmod", "-R", "a+rX", Harness.installRoot.appendingPathComponent("hostile-capped").path])
        guard (try? Harness.run(["/usr/sbin/setcap", "cap_setuid,cap_setgid+ep", bin.appendingPathComponent("envyro-nshelper").path]))?.status == 0 else { return nil }
        return bin
    }()

    /// Moves `path` aside (when something is there) for the test and returns the restorer.
    static func setAside(_ path: String) -> () -> Void {
        let saved = path + ".hostile-saved-\(getpid())"
        let moved = rename(path, saved) == 0
        return {
            _ = try? Harness.run(["/bin/rm", "-rf", path])
            if moved { rename(saved, path) }
        }
    }

    /// `policy/default.json` with `changes` applied, its seccomp profile made absolute.
    static func policyText(_ changes: (inout [String: Any]) -> Void) throws -> String {
        let data = try Data(contentsOf: Harness.repoRoot.appendingPathComponent("policy/default.json"))
        var json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        var seccomp = json["seccomp"] as! [String: Any]
        seccomp["profile"] = Harness.installRoot.appendingPathComponent("policy/seccomp/default.json").path
        json["seccomp"] = seccomp
        changes(&json)
        return String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted]), as: UTF8.self)
    }

    /// Sets the policy's audit path.
    static func audit(_ path: String) -> (inout [String: Any]) -> Void {
        { json in
            var audit = json["audit"] as! [String: Any]
            audit["path"] = path
            json["audit"] = audit
        }
    }
}
