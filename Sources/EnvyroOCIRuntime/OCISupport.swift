// Small pieces the OCI commands need: the start socket, /proc reading, signals by name, hooks.
import CEnvyro
import EnvyroEngine
import EnvyroOCI
import EnvyroSeccomp
import EnvyroSystem
import Glibc

/// AF_UNIX stream sockets: the start socket a held container accepts on, and console sockets.
enum UnixSocket {
    /// A sockaddr_un for `path`; a path too long for sun_path is reached through its directory
    /// (the caller is single-purpose, so a chdir is harmless).
    private static func address(_ path: String) throws(OCIFailure) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var p = path
        if p.utf8.count >= 108 {
            let dir = Files.directory(of: p)
            guard chdir(dir) == 0 else { throw OCIFailure("cannot reach \(dir): \(Errno.describe(errno))") }
            p = String(p.split(separator: "/").last ?? "")
            guard p.utf8.count < 108 else { throw OCIFailure("socket name too long: \(path)") }
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in p.utf8.enumerated() { raw[i] = b }
        }
        return addr
    }

    /// Creates, binds and listens on `path` (mode 0600); returns the fd.
    static func listen(_ path: String) throws(OCIFailure) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw OCIFailure("socket: \(Errno.describe(errno))") }
        var addr = try address(path)
        let old = umask(0o177)
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        umask(old)
        guard r == 0, Glibc.listen(fd, 1) == 0 else {
            let e = errno
            close(fd)
            throw OCIFailure("cannot listen on \(path): \(Errno.describe(e))")
        }
        return fd
    }

    /// Connects to `path`; returns the fd.
    static func connect(_ path: String) throws(OCIFailure) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw OCIFailure("socket: \(Errno.describe(errno))") }
        var addr = try address(path)
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard r == 0 else {
            let e = errno
            close(fd)
            throw OCIFailure("cannot connect to \(path): \(Errno.describe(e))")
        }
        return fd
    }

    /// `start`: connects to the held container's socket and sends the one byte it waits for.
    static func sendStart(_ path: String) throws(OCIFailure) {
        let fd = try connect(path)
        defer { close(fd) }
        var one: UInt8 = 1
        guard write(fd, &one, 1) == 1 else { throw OCIFailure("write to \(path): \(Errno.describe(errno))") }
    }
}

/// What /proc says about a process.
enum ProcessInfo {
    /// The fields of /proc/PID/stat after "(comm)": state is [0].
    static func statFields(_ pid: Int32) -> [Substring]? {
        guard let bytes = try? Files.read("/proc/\(pid)/stat", limit: 4096) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    static func isZombie(_ pid: Int32) -> Bool {
        guard let f = statFields(pid), let s = f.first else { return true }
        return s == "Z" || s == "X"
    }

    /// The process's cgroup lines: (controllers, path).
    static func cgroups(_ pid: Int32) -> [(String, String)] {
        guard let bytes = try? Files.read("/proc/\(pid)/cgroup", limit: 65536) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            return parts.count == 3 ? (String(parts[1]), String(parts[2])) : nil
        }
    }

    /// Whether the process sits in a cgroup whose last component is `name`.
    static func inCgroup(_ pid: Int32, named name: String) -> Bool {
        !name.isEmpty && cgroups(pid).contains { $0.1.hasSuffix("/" + name) }
    }

    /// Whether its freezer (v1) or cgroup.events (v2) says frozen.
    static func frozen(_ pid: Int32) -> Bool? {
        for (ctrl, path) in cgroups(pid) {
            if ctrl.split(separator: ",").contains("freezer"),
               let b = try? Files.read("/sys/fs/cgroup/freezer" + path + "/freezer.state", limit: 64) {
                return String(decoding: b, as: UTF8.self).hasPrefix("FROZEN")
            }
            if ctrl.isEmpty, let b = try? Files.read("/sys/fs/cgroup" + path + "/cgroup.events", limit: 256),
               String(decoding: b, as: UTF8.self).contains("frozen 1") {
                return true
            }
        }
        return nil
    }

    /// Every pid in the container's cgroup (named `name`, found through `pid`'s cgroups), or nil.
    static func cgroupProcesses(of pid: Int32, named name: String) -> [Int32]? {
        guard !name.isEmpty else { return nil }
        for (ctrl, path) in cgroups(pid) where path.hasSuffix("/" + name) {
            let dir: String
            if ctrl.isEmpty { dir = "/sys/fs/cgroup/unified" + path } else {
                let first = ctrl.split(separator: ",").first.map(String.init) ?? ctrl
                dir = "/sys/fs/cgroup/" + (first.hasPrefix("name=") ? String(first.dropFirst(5)) : ctrl) + path
            }
            if let b = try? Files.read(dir + "/cgroup.procs", limit: 1 << 20) {
                return String(decoding: b, as: UTF8.self).split(separator: "\n").compactMap { Int32($0) }.sorted()
            }
        }
        return nil
    }

    static func userName(_ uid: uid_t) -> String { Environment.userName(uid: uid) ?? String(uid) }

    /// Waits for `pid` (our child, or reparented to us as a subreaper) and returns a shell-style
    /// status: the exit code, or 128+N for signal N.
    static func waitForChild(_ pid: Int32) -> Int32 {
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, 0)
            if r == pid { break }
            if r < 0 && errno == EINTR { continue }
            return 255
        }
        let sig = status & 0x7f
        if sig == 0 { return (status >> 8) & 0xff }
        return 128 + sig
    }

    /// Runs ps(1) with `args` and prints the header and the lines of `pids` (runc's `ps`).
    static func runPS(_ args: [String], pids: Set<Int32>) -> Int32 {
        var fds: [Int32] = [0, 0]
        guard envyro_pipe_cloexec(&fds) == 0 else { return 1 }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        let argv = ["ps"] + args
        var cargs = argv.map { strdup($0) } + [nil]
        var pid: pid_t = 0
        let r = posix_spawnp(&pid, "ps", &actions, nil, &cargs, envyro_environ())
        posix_spawn_file_actions_destroy(&actions)
        for p in cargs { free(p) }
        close(fds[1])
        guard r == 0 else { close(fds[0]); print("envyro: cannot run ps: \(Errno.describe(r))"); return 1 }
        let out = (try? Files.readAll(fds[0], subject: "ps", limit: 16 << 20)) ?? []
        close(fds[0])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let lines = String(decoding: out, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard let header = lines.first else { return 1 }
        let columns = header.split(separator: " ")
        guard let pidColumn = columns.firstIndex(of: "PID") else {
            print("envyro: ps: couldn't find the PID field in ps output")
            return 1
        }
        print(header)
        for line in lines.dropFirst() where !line.isEmpty {
            let fields = line.split(separator: " ")
            if fields.count > pidColumn, let p = Int32(fields[pidColumn]), pids.contains(p) { print(line) }
        }
        return 0
    }
}

/// Signals by name (`SIGTERM`, `TERM`) or number, as runc's `kill` takes them.
enum Signals {
    static let names: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
        "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17,
        "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25,
        "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
    ]

    static func parse(_ s: String) throws(OCIFailure) -> Int32 {
        if let n = Int32(s) {
            guard (1...64).contains(n) else { throw OCIFailure("invalid signal: \(s) (1-64)") }
            return n
        }
        var name = s.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        if let n = names[name] { return n }
        if name.hasPrefix("RTMIN"), let off = Int32(name.dropFirst(5).drop(while: { $0 == "+" })) ?? (name == "RTMIN" ? 0 : nil),
           34 + off <= 64 { return 34 + off }
        throw OCIFailure("unknown signal \"\(s)\" (a name like SIGTERM or a number)")
    }
}


/// Runs hooks: path with args and env (nothing inherited), state on stdin, in a process group
/// of its own, bounded in time. Returns nil on success or why it failed.
///
/// Every hook is bounded: by its `timeout`, else by `defaultTimeout` (runc and crun wait for
/// ever; a hung hook would hang the engine's create or delete with it). On timeout the hook's
/// whole process group is killed (SIGKILL), so a hook's own children (`sh -c 'sleep 1000'`)
/// go too, and the hook is reaped.
enum HookRunner {
    /// The bound of a hook without `timeout`, in seconds: 120, or `ENVYRO_OCI_HOOK_TIMEOUT`.
    static var defaultTimeout: Int {
        if let v = Environment.get("ENVYRO_OCI_HOOK_TIMEOUT"), let n = Int(v), n > 0 { return n }
        return 120
    }

    static func run(_ h: OCIConfig.Hook, stdin state: String) -> String? {
        let timeout = h.timeout.map { Int($0) } ?? defaultTimeout
        let bound = h.timeout == nil ? "\(timeout) s (the default bound for a hook without a timeout)" : "\(timeout) s"
        var input: [Int32] = [0, 0]
        guard envyro_pipe_cloexec(&input) == 0 else { return "pipe: \(Errno.describe(errno))" }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        // A process group of its own (pgid = its pid): the timeout kills the group.
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attr, 0)
        let argv = h.args.isEmpty ? [h.path] : h.args
        var cargs = argv.map { strdup($0) } + [nil]
        var cenv = h.env.map { strdup($0) } + [nil]
        var pid: pid_t = 0
        let r = posix_spawn(&pid, h.path, &actions, &attr, &cargs, &cenv)
        posix_spawn_file_actions_destroy(&actions)
        posix_spawnattr_destroy(&attr)
        for p in cargs { free(p) }
        for p in cenv { free(p) }
        close(input[0])
        guard r == 0 else { close(input[1]); return "cannot run it: \(Errno.describe(r))" }
        let deadline = Clock.monotonicNanoseconds() + UInt64(timeout) * 1_000_000_000
        // The state goes in without blocking: a hook that never reads stdin can't hold us
        // past its deadline (and EPIPE from one that exits early is ignored).
        signal(SIGPIPE, SIG_IGN)
        _ = fcntl(input[1], F_SETFL, fcntl(input[1], F_GETFL) | O_NONBLOCK)
        let bytes = Array(state.utf8)
        var sent = 0
        var status: Int32 = 0
        var exited = false
        while true {
            if sent < bytes.count {
                let n = bytes.withUnsafeBytes { write(input[1], $0.baseAddress! + sent, $0.count - sent) }
                if n > 0 { sent += n } else if n < 0 && errno != EAGAIN && errno != EINTR { sent = bytes.count }
                if sent >= bytes.count { close(input[1]); input[1] = -1 }
            }
            let w = waitpid(pid, &status, WNOHANG)
            if w == pid { exited = true; break }
            if w < 0 && errno != EINTR { break }
            if Clock.monotonicNanoseconds() > deadline { break }
            usleep(5000)
        }
        if input[1] >= 0 { close(input[1]) }
        if !exited {
            // The hook and everything of its group (a hook that exits in time may leave
            // children on purpose, as runc lets it).
            Glibc.kill(-pid, SIGKILL)
            waitpid(pid, &status, 0)
            return "timed out after \(bound); its process group was killed"
        }
        if status & 0x7f != 0 { return "killed by signal \(status & 0x7f)" }
        let code = (status >> 8) & 0xff
        return code == 0 ? nil : "exit status \(code)"
    }
}

/// What the seccomp compiler supports, for `envyro features`.
enum SeccompFeatures {
    static var current: OCIFeatures.Seccomp {
        OCIFeatures.Seccomp(
            enabled: true,
            actions: ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                      "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
            operators: SeccompOperator.allCases.map(\.rawValue),
            archs: ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
            knownFlags: SeccompFilterFlag.allCases.map(\.rawValue),
            supportedFlags: SeccompFilterFlag.allCases.map(\.rawValue))
    }
}

extension String {
    /// Padded with spaces to `width` characters (runc's `list` table).
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
