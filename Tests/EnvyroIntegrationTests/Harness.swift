import Foundation
import Testing

/// Runs the real `envyro` binaries the package built, as root and as an ordinary user.
///
/// The binaries and the policy files are copied into a world-readable temporary directory so
/// that an ordinary user can run them wherever the checkout lives (CI clones under /root).
enum Harness {
    /// Where `swift build` put the executables: beside the test bundle, or `$ENVYRO_BIN_DIR`.
    static let buildDirectory: URL = {
        if let dir = ProcessInfo.processInfo.environment["ENVYRO_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("envyro").path) { return url }
        }
        return URL(fileURLWithPath: "/nonexistent")
    }()

    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The private copy's directory name: per process and per test module. This file is shared
    /// (by symlink) with the hostile suite's module; when both run in one `swift test` process
    /// (a filter naming suites of both), each must have its own copy, or the second one set up
    /// removes the first one's, scratch files and all.
    static let installName = "envyro-it-\(#fileID.split(separator: "/").first ?? "tests")-\(getpid())"

    /// A private copy: <tmp>/bin/{envyro,envyro-nshelper} and <tmp>/policy/*.json, mode 0755.
    static let installRoot: URL = {
        // Tests that run the binaries with this process's environment start no supervisor either.
        setenv("ENVYRO_AUTO_SUPERVISOR", "0", 1)
        let root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(installName)
        let fm = FileManager.default
        try? fm.removeItem(at: root)
        try? fm.createDirectory(at: root.appendingPathComponent("bin"), withIntermediateDirectories: true)
        for name in ["envyro", "envyro-cli", "envyro-nshelper", "envyro-supervisor", "envyro-ioworker", "envyro-helper-bench", "envyro-load"] {
            try? fm.copyItem(at: buildDirectory.appendingPathComponent(name), to: root.appendingPathComponent("bin/\(name)"))
        }
        // As `make install` does: the name engines are given, runc's command line only.
        try? fm.createSymbolicLink(atPath: root.appendingPathComponent("bin/envyro-runc").path, withDestinationPath: "envyro")
        try? fm.copyItem(at: repoRoot.appendingPathComponent("policy"), to: root.appendingPathComponent("policy"))
        _ = try? run(["/bin/chmod", "-R", "a+rX", root.path])
        atexit { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(Harness.installName).path) }
        return root
    }()

    static var envyro: String { installRoot.appendingPathComponent("bin/envyro").path }

    static let isRoot = getuid() == 0

    /// The ordinary user the rootless tests run as: `envyrotest` (created when we are root),
    /// or ourselves when we are not root.
    static let ordinaryUser: String? = {
        if !isRoot { return nil }
        if (try? run(["/usr/bin/id", "-u", "envyrotest"]))?.status != 0 {
            _ = try? run(["/usr/sbin/useradd", "-m", "-s", "/bin/sh", "envyrotest"])
        }
        guard (try? run(["/usr/bin/id", "-u", "envyrotest"]))?.status == 0 else { return nil }
        // Delegate a cgroup subtree so the user's runs can have limits (strict requires them).
        _ = try? run([installRoot.appendingPathComponent("bin/envyro").path, "setup", "--user", "envyrotest"])
        return "envyrotest"
    }()

    static var ordinaryUID: String {
        guard let user = ordinaryUser else { return String(getuid()) }
        return ((try? run(["/usr/bin/id", "-u", user]))?.stdout ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether this machine lets us create user namespaces at all (else tests skip, saying why).
    static let userNamespacesWork: Bool = {
        (try? run(["/usr/bin/unshare", "--user", "--map-root-user", "/bin/true"]))?.status == 0
    }()

    /// Who runs the command.
    enum Identity: String, CustomStringConvertible, CaseIterable, Sendable {
        case root, ordinary
        var description: String { rawValue }
        /// Is this identity available here?
        var available: Bool { self == .root ? Harness.isRoot : (Harness.ordinaryUser != nil || !Harness.isRoot) }
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `argv` and collects its output.
    @discardableResult
    static func run(_ argv: [String], stdin: String? = nil, environment: [String: String]? = nil, timeout: TimeInterval = 60) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        if let environment { p.environment = environment }
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try p.run()
        if let stdin {
            input.fileHandleForWriting.write(stdin.data(using: .utf8)!)
            try? input.fileHandleForWriting.close()
        }
        // Read both pipes concurrently so a chatty child can't block.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Runs `envyro ARGS` as `who`.
    @discardableResult
    static func envyro(_ args: [String], as who: Identity = .root, stdin: String? = nil, extraEnv: [String: String] = [:]) throws -> Result {
        // No supervisor started on first use (the README's default): each test says which
        // supervisor it runs through, and a daemon left behind would count as a leak.
        var env = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "ENVYRO_AUTO_SUPERVISOR": "0"]
        for (k, v) in extraEnv { env[k] = v }
        if who == .ordinary, isRoot, let user = ordinaryUser {
            let exports = env.map { "\($0.key)=\($0.value)" }
            return try run(["/usr/sbin/runuser", "-u", user, "--", "/usr/bin/env", "-i"] + exports + [envyro] + args, stdin: stdin)
        }
        if who == .ordinary, isRoot { throw SkipInfo("no ordinary user available") }
        env["HOME"] = NSHomeDirectory()
        return try run([envyro] + args, stdin: stdin, environment: env)
    }

    struct SkipInfo: Error, CustomStringConvertible { var description: String; init(_ s: String) { description = s } }

    // MARK: leak checks

    /// What a run could leave behind on the host.
    struct HostSnapshot: Equatable {
        var processes: Set<String>
        var mounts: Int
        var tmpEntries: Set<String>
    }

    /// Processes running our copied binaries or the marker argument, host mounts, /tmp entries.
    static func snapshot(marker: String = "envyro-leak-marker") -> HostSnapshot {
        var procs = Set<String>()
        let fm = FileManager.default
        let bin = installRoot.appendingPathComponent("bin").path
        for entry in (try? fm.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(entry) != nil {
            if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/\(entry)/exe"), exe.hasPrefix(bin) {
                procs.insert("\(entry) \(exe)")
            }
            if let cmd = try? String(contentsOfFile: "/proc/\(entry)/cmdline", encoding: .utf8), cmd.contains(marker),
               !cmd.contains("runuser"), entry != String(getpid()) {
                procs.insert("\(entry) \(cmd)")
            }
        }
        let mounts = ((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "").split(separator: "\n").count
        // Foundation's atomic writes in other tests leave TemporaryDirectory.* behind; envyro
        // itself creates nothing in /tmp.
        // SwiftPM's lock files come from builds running beside the tests, envyro-io-test-* from the
        // I/O worker's tests running in parallel in this same process.
        let tmp = Set(((try? fm.contentsOfDirectory(atPath: "/tmp")) ?? []).filter {
            !$0.hasPrefix("TemporaryDirectory.") && !$0.hasSuffix(".lock") && !$0.hasPrefix("envyro-io-test-")
        })
        return HostSnapshot(processes: procs, mounts: mounts, tmpEntries: tmp)
    }

    /// Pids of processes running a binary whose path ends in `exeSuffix` with `argument` in
    /// their command line (to wait for a workload that has really exec'd).
    static func processes(exeSuffix: String, argument: String) -> [Int32] {
        var out: [Int32] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                  let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/exe"), exe.hasSuffix(exeSuffix),
                  let cmd = try? String(contentsOfFile: "/proc/\(entry)/cmdline", encoding: .utf8),
                  cmd.split(separator: "\0").contains(Substring(argument)) else { continue }
            out.append(pid)
        }
        return out
    }

    /// The pids whose parent is `pid` (from /proc/PID/stat).
    static func children(of pid: Int32) -> [Int32] {
        var out: [Int32] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let child = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == pid { out.append(child) }
        }
        return out
    }

    /// Waits briefly for stragglers to exit, then compares.
    static func expectNothingLeaked(since before: HostSnapshot, sourceLocation: SourceLocation = #_sourceLocation) {
        var after = snapshot()
        for _ in 0..<50 where after != before {
            usleep(20_000)
            after = snapshot()
        }
        #expect(after.processes.subtracting(before.processes).isEmpty, "stray processes", sourceLocation: sourceLocation)
        #expect(after.mounts == before.mounts, "host mounts changed", sourceLocation: sourceLocation)
        #expect(after.tmpEntries.subtracting(before.tmpEntries).isEmpty, "new entries in /tmp: \(after.tmpEntries.subtracting(before.tmpEntries))", sourceLocation: sourceLocation)
    }

    /// A private temporary directory (removed by the caller), readable by the ordinary user.
    static func scratchDirectory(_ name: String) -> URL {
        let url = installRoot.appendingPathComponent("scratch-\(name)-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        _ = try? run(["/bin/chmod", "0777", url.path])
        return url
    }
}
