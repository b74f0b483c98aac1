import Foundation
import Testing


/// An OCI bundle in a scratch directory of its own: a busybox rootfs, the config.json that
/// `envyro spec` writes (edited by the test), and a `--root` state directory beside it. Every id
/// the test uses is deleted with `--force` by `cleanup()`, which the tests call from `defer`.
final class OCIBundle {
    let dir: URL
    let who: Harness.Identity
    var config: [String: Any] = [:]
    var ids: [String] = []

    var bundle: URL { dir.appendingPathComponent("bundle") }
    var rootfs: URL { bundle.appendingPathComponent("rootfs") }
    var configPath: String { bundle.appendingPathComponent("config.json").path }
    var stateRoot: String { dir.appendingPathComponent("state").path }

    static let busyboxAvailable = FileManager.default.isExecutableFile(atPath: "/bin/busybox")

    /// A bundle whose config.json comes from `envyro spec [--rootless]` run as `who`, with
    /// process.terminal false and `args`.
    init(_ name: String, as who: Harness.Identity = .root, rootless: Bool = false, args: [String] = ["sh", "-c", "sleep 60", "envyro-leak-marker"]) throws {
        self.who = who
        dir = Harness.scratchDirectory("oci-\(name)")
        let fm = FileManager.default
        let bin = rootfs.appendingPathComponent("bin")
        for sub in ["bin", "tmp", "proc", "dev", "sys", "etc"] {
            try fm.createDirectory(at: rootfs.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        try fm.copyItem(atPath: "/bin/busybox", toPath: bin.appendingPathComponent("busybox").path)
        // `busybox --list` names busybox itself: a link to itself would be a loop.
        for applet in try Harness.run(["/bin/busybox", "--list"]).stdout.split(separator: "\n") where applet != "busybox" {
            try? fm.createSymbolicLink(atPath: bin.appendingPathComponent(String(applet)).path, withDestinationPath: "busybox")
        }
        _ = try Harness.run(["/bin/chmod", "-R", "a+rX", dir.path])
        _ = try Harness.run(["/bin/chmod", "1777", rootfs.appendingPathComponent("tmp").path])
        if who == .ordinary, let user = Harness.ordinaryUser {
            _ = try Harness.run(["/bin/chown", user, bundle.path])
        }
        let spec = try envyro(["spec"] + (rootless ? ["--rootless"] : []) + ["--bundle", bundle.path])
        guard spec.status == 0 else { throw Harness.SkipInfo("envyro spec failed: \(spec.stderr)") }
        config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath))) as! [String: Any]
        process["terminal"] = false
        process["args"] = args
        try write()
    }

    /// The config's `process` object, for editing.
    var process: [String: Any] {
        get { config["process"] as? [String: Any] ?? [:] }
        set { config["process"] = newValue }
    }

    /// The config's `linux` object, for editing.
    var linux: [String: Any] {
        get { config["linux"] as? [String: Any] ?? [:] }
        set { config["linux"] = newValue }
    }

    /// Writes `config` back to config.json.
    func write() throws {
        let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted])
        try data.write(to: URL(fileURLWithPath: configPath))
        _ = try Harness.run(["/bin/chmod", "a+rw", configPath])
    }

    /// A fresh container id, remembered for cleanup.
    func newID(_ base: String = "c") -> String {
        let id = "\(base)-\(UUID().uuidString.prefix(8).lowercased())"
        ids.append(id)
        return id
    }

    /// Runs `envyro --root STATE ARGS` as the bundle's identity. Output goes through files, not
    /// pipes: `create` hands its stdio to a container that outlives it.
    @discardableResult
    func envyro(_ args: [String], stdout: Int32? = nil, global: [String] = [], timeout: TimeInterval = 60) throws -> Harness.Result {
        try OCIRunner.run(["--root", stateRoot] + global + args, as: who, scratch: dir, stdout: stdout, timeout: timeout)
    }

    /// The state document of `id`, or nil (and the error) when `state` fails.
    func state(_ id: String) throws -> [String: Any]? {
        let r = try envyro(["state", id])
        guard r.status == 0 else { return nil }
        return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    }

    func status(_ id: String) throws -> String? { try state(id)?["status"] as? String }

    func pid(_ id: String) throws -> Int32 { Int32(try state(id)?["pid"] as? Int ?? 0) }

    /// Deletes every container this bundle made (`delete --force`) and removes the scratch dir.
    func cleanup() {
        for id in ids { _ = try? envyro(["delete", "--force", id]) }
        try? FileManager.default.removeItem(at: dir)
    }
}

/// Runs the OCI command line as the tests' identities.
enum OCIRunner {
    /// Runs `envyro ARGS` as `who` with stdout and stderr in files under `scratch` (or stdout to
    /// the descriptor `stdout`), killing it after `timeout` seconds (status -1 then). Spawned and
    /// waited for with waitpid: Foundation's Process notices an exit only when every holder of
    /// its socket has gone, and a created container holds what `create` inherited until start.
    static func run(_ args: [String], as who: Harness.Identity, scratch: URL, stdout: Int32? = nil,
                    timeout: TimeInterval = 60) throws -> Harness.Result {
        let env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "ENVYRO_AUTO_SUPERVISOR=0"]
        var argv: [String]
        if who == .ordinary {
            guard let user = Harness.ordinaryUser else { throw Harness.SkipInfo("no ordinary user available") }
            argv = ["/usr/sbin/runuser", "-u", user, "--", "/usr/bin/env", "-i"] + env + [Harness.envyro] + args
        } else {
            argv = ["/usr/bin/env", "-i"] + env + ["HOME=\(NSHomeDirectory())", Harness.envyro] + args
        }
        let name = UUID().uuidString.prefix(8)
        let outPath = scratch.appendingPathComponent("out-\(name)").path
        let errPath = scratch.appendingPathComponent("err-\(name)").path
        let outFD = open(outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let errFD = open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let nullFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            close(outFD); close(errFD); close(nullFD)
            unlink(outPath); unlink(errPath)
        }
        guard outFD >= 0, errFD >= 0, nullFD >= 0 else { throw Harness.SkipInfo("cannot open files in \(scratch.path)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, nullFD, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout ?? outFD, 1)
        posix_spawn_file_actions_adddup2(&actions, errFD, 2)
        let cargs = argv.map { strdup($0) } + [nil]
        defer { for a in cargs { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, cargs, environ)
        guard rc == 0 else { throw Harness.SkipInfo("posix_spawn \(argv[0]): \(String(cString: strerror(rc)))") }
        let deadline = Date().addingTimeInterval(timeout)
        var wstatus: Int32 = 0
        var timedOut = false
        while waitpid(pid, &wstatus, WNOHANG) == 0 {
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &wstatus, 0)
                timedOut = true
                break
            }
            usleep(2_000)
        }
        let status: Int32 = timedOut ? -1 : (wstatus & 0x7f == 0 ? (wstatus >> 8) & 0xff : 128 + (wstatus & 0x7f))
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return Harness.Result(status: status, stdout: out, stderr: err + (timedOut ? "\n(killed after \(timeout) s)" : ""))
    }

    /// Whether `pid` is a live process (not a zombie).
    static func alive(_ pid: Int32) -> Bool {
        guard pid > 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }

    /// Waits up to `seconds` for `condition`.
    @discardableResult
    static func wait(_ seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(20_000)
        }
        return try condition()
    }
}
