import Foundation
import Testing

/// The two runtimes a behaviour is compared between on the same bundle: envyro under the name
/// engines are given (`envyro-runc`, runc's command line only) and crun, the reference
/// (/usr/bin/crun). Each runs with its own `--root` inside the bundle's scratch directory,
/// from a working directory the test chooses, bounded in time (a hung command is killed and
/// reported, never waited for).
enum OCIRef {
    /// envyro and its references: crun, and runc (/usr/sbin/runc) where crun 1.8 lacks a
    /// behaviour (`run --keep`) or differs from runc (a relative --pid-file is the bundle's).
    enum Runtime: String, CaseIterable, CustomStringConvertible {
        case envyro, crun, runc
        var description: String { rawValue }
        /// Whether this host has it.
        var available: Bool {
            switch self {
            case .envyro: true
            case .crun: OCIRef.crunAvailable
            case .runc: FileManager.default.isExecutableFile(atPath: "/usr/sbin/runc")
            }
        }
    }

    /// envyro and crun, the usual comparison.
    static let withCrun: [Runtime] = [.envyro, .crun]
    /// envyro and runc.
    static let withRunc: [Runtime] = [.envyro, .runc]

    static let crunAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/crun")

    /// `envyro-runc` in the harness's install root (a link to the C front, as `make install` makes).
    static var envyroRunc: String { Harness.installRoot.appendingPathComponent("bin/envyro-runc").path }

    /// crun refuses this host's hybrid cgroup layout: it runs in a mount namespace of its own
    /// with an empty file bound over the unified hierarchy's cgroup.controllers (the trick
    /// tests/engines/README.md describes). Every crun command gets its own such namespace; the
    /// container keeps the one it was created in.
    static func crunCommand(scratch: URL) -> [String] {
        let controllers = "/sys/fs/cgroup/unified/cgroup.controllers"
        guard FileManager.default.fileExists(atPath: controllers) else { return ["/usr/bin/crun"] }
        let empty = scratch.appendingPathComponent("empty-controllers").path
        FileManager.default.createFile(atPath: empty, contents: Data())
        return ["/usr/bin/unshare", "-m", "/bin/sh", "-c",
                "mount --bind \"$0\" \(controllers) && exec /usr/bin/crun \"$@\"", empty]
    }

    /// The state root of `runtime` for `bundle`.
    static func stateRoot(_ runtime: Runtime, _ bundle: OCIBundle) -> String {
        runtime == .envyro ? bundle.stateRoot : bundle.dir.appendingPathComponent("\(runtime)-state").path
    }

    /// Runs `runtime --root STATE ARGS` as root, in `cwd` (default: the scratch directory).
    @discardableResult
    /// `stdout`: a file that gets the command's (and a created container's) standard output.
    static func run(_ runtime: Runtime, _ bundle: OCIBundle, _ args: [String], cwd: String? = nil,
                    env: [String: String] = [:], stdout: String? = nil, timeout: TimeInterval = 60) throws -> Harness.Result {
        let binary = switch runtime {
        case .envyro: [envyroRunc]
        case .crun: crunCommand(scratch: bundle.dir)
        case .runc: ["/usr/sbin/runc"]
        }
        return try spawn(binary + ["--root", stateRoot(runtime, bundle)] + args, cwd: cwd ?? bundle.dir.path,
                         env: env, scratch: bundle.dir, stdout: stdout, timeout: timeout)
    }

    /// Deletes `id` in both runtimes (for `defer`).
    static func cleanup(_ bundle: OCIBundle, _ ids: [String]) {
        for id in ids {
            _ = try? run(.envyro, bundle, ["delete", "--force", id], timeout: 30)
            for r in [Runtime.crun, .runc] where r.available && FileManager.default.fileExists(atPath: stateRoot(r, bundle) + "/" + id) {
                _ = try? run(r, bundle, ["delete", "--force", id], timeout: 30)
            }
        }
    }

    /// posix_spawn with a working directory and an environment of its own, output in files
    /// (a created container keeps what `create` inherited), killed after `timeout` (status -1).
    static func spawn(_ argv: [String], cwd: String, env extra: [String: String], scratch: URL,
                      stdout: String? = nil, timeout: TimeInterval) throws -> Harness.Result {
        // An engine's environment: nothing of envyro's (runc's command line needs no envyro
        // variable or flag).
        var env = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"]
        for (k, v) in extra { env[k] = v }
        let name = UUID().uuidString.prefix(8)
        let outPath = scratch.appendingPathComponent("out-\(name)").path
        let errPath = scratch.appendingPathComponent("err-\(name)").path
        let outFD = open(stdout ?? outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
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
        posix_spawn_file_actions_adddup2(&actions, outFD, 1)
        posix_spawn_file_actions_adddup2(&actions, errFD, 2)
        // In `cwd` (a shell's cd: posix_spawn_file_actions_addchdir_np is not in Swift's Glibc).
        let argv = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", cwd] + argv
        let cargs = argv.map { strdup($0) } + [nil]
        let cenv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for a in cargs + cenv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, cargs, cenv)
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

    /// The state document's `status` of `id` in `runtime`, or nil when `state` fails.
    static func status(_ runtime: Runtime, _ bundle: OCIBundle, _ id: String) throws -> String? {
        let r = try run(runtime, bundle, ["state", id])
        guard r.status == 0, let j = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else { return nil }
        return j["status"] as? String
    }

    /// Pids of live processes whose command line contains `marker` (a test's own argument).
    static func processes(marker: String) -> [Int32] {
        var out: [Int32] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != getpid(),
                  let cmd = try? String(contentsOfFile: "/proc/\(entry)/cmdline", encoding: .utf8),
                  cmd.contains(marker), OCIRunner.alive(pid) else { continue }
            out.append(pid)
        }
        return out
    }

    /// The cgroup directories (v1 controllers and unified) `pid` is in, absolute.
    static func cgroupDirectories(of pid: Int32) -> [String] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let p = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard p.count == 3, p[2] != "/" else { return nil }
            let ctrl = p[1].isEmpty ? "unified" : String(p[1].split(separator: ",").first ?? "")
            let dir = ctrl.hasPrefix("name=") ? String(ctrl.dropFirst(5)) : (p[1].contains(",") ? String(p[1]) : ctrl)
            return "/sys/fs/cgroup/\(dir)\(p[2])"
        }.filter { FileManager.default.fileExists(atPath: $0) }
    }
}
