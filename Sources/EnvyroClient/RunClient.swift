import CEnvyro
import EnvyroJSON
import EnvyroSystem
import Glibc

/// Exit statuses envyro itself chooses.
public enum RunExit {
    /// The kernel's OOM killer ended the workload (distinct from a plain SIGKILL's 137).
    public static let outOfMemory: Int32 = 247
}

/// `envyro run`'s options, whichever parser read them (the fast path's own, or ArgumentParser).
public struct RunFlags: Equatable, Sendable {
    public var policy: String?
    public var supervisor = "auto"
    public var rootfs: String?
    public var rootfsRw = false
    public var hostname = "envyro"
    public var env: [String] = []
    public var cwd = "/"
    public var network: String?
    public var timeout: Double?
    public var useInit = false
    public var executor = "native"
    public var seccomp: String?
    public var userns: String?
    public var uidmap: [String] = []
    public var gidmap: [String] = []
    public var memory: String?
    public var memorySwap: String?
    public var pidsLimit: Int64?
    public var cpus: String?
    public var cpuShares: Int64?
    public var cpusetCpus: String?
    public var blkioWeight: Int64?
    public var profile: String?
    public var json = false
    public var timings = false
    public var logDir: String?
    public var logLimit: String?
    public var logTee = false

    /// No flags: the defaults.
    public init() {}

    /// The run these flags ask for, as the client protocol's RunSpec object. Paths are the
    /// caller's: made absolute before they reach a supervisor with another working directory.
    public func spec(argv: [String]) -> JSONObject {
        func str(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        func int(_ v: Int64?) -> JSONValue { v.map { .int($0) } ?? .null }
        var o = JSONObject()
        o.set("argv", .array(argv.map { .string($0) }))
        o.set("env", .array(env.map { .string($0) }))
        o.set("cwd", .string(cwd))
        o.set("hostname", .string(hostname))
        o.set("rootfs", str(rootfs.map(Self.absolute)))
        o.set("rootfsWritable", .bool(rootfsRw))
        o.set("network", str(network))
        o.set("timeout", timeout.map { .double($0) } ?? .null)
        o.set("init", .bool(useInit))
        o.set("executor", .string(executor))
        o.set("seccomp", str(seccomp.map(Self.absolute)))
        o.set("userns", str(userns))
        o.set("uidmap", .array(uidmap.map { .string($0) }))
        o.set("gidmap", .array(gidmap.map { .string($0) }))
        o.set("memory", str(memory))
        o.set("memorySwap", str(memorySwap))
        o.set("pidsLimit", int(pidsLimit))
        o.set("cpus", str(cpus))
        o.set("cpuShares", int(cpuShares))
        o.set("cpusetCpus", str(cpusetCpus))
        o.set("blkioWeight", int(blkioWeight))
        o.set("profile", str(profile))
        o.set("policy", str(policy))
        o.set("logDir", str(logDir.map(Self.absolute)))
        o.set("logLimit", str(logLimit))
        o.set("logTee", .bool(logTee))
        return o
    }

    /// Our own stdio for the container; a closed one is replaced by /dev/null.
    public static func stdio() -> [Int32] {
        (0...2).map { (fd: Int32) -> Int32 in
            if fcntl(fd, F_GETFD) >= 0 { return fd }
            return open("/dev/null", (fd == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC)
        }
    }

    public static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buf = [UInt8](repeating: 0, count: 4096)
        let ok = buf.withUnsafeMutableBytes { getcwd($0.baseAddress!.assumingMemoryBound(to: CChar.self), 4096) != nil }
        guard ok, let end = buf.firstIndex(of: 0) else { return path }
        return String(decoding: buf[..<end], as: UTF8.self) + "/" + path
    }

    /// The fast path's parser for `envyro run ARGS`: the same flags and forms as the
    /// ArgumentParser definition (`--flag value`, `--flag=value`, switches; options end at `--`
    /// or at the command). Returns nil for anything else (help, --stats, a malformed number, an
    /// unknown flag), and the full parser handles it, errors included.
    public static func parse(_ args: ArraySlice<String>) -> (RunFlags, [String])? {
        var f = RunFlags()
        var rest = args
        while let arg = rest.first, arg.hasPrefix("--") {
            rest.removeFirst()
            if arg == "--" { break }
            var name = String(arg.dropFirst(2))
            var inline: String? = nil
            if let eq = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            switch name {
            case "rootfs-rw", "init", "json", "timings", "log-tee":
                guard inline == nil else { return nil }
                switch name {
                case "rootfs-rw": f.rootfsRw = true
                case "init": f.useInit = true
                case "json": f.json = true
                case "log-tee": f.logTee = true
                default: f.timings = true
                }
                continue
            default: break
            }
            guard let value = inline ?? rest.popFirst() else { return nil }
            switch name {
            case "policy": f.policy = value
            case "supervisor": f.supervisor = value
            case "rootfs": f.rootfs = value
            case "hostname": f.hostname = value
            case "env": f.env.append(value)
            case "cwd": f.cwd = value
            case "network": f.network = value
            case "timeout": guard let v = Double(value) else { return nil }; f.timeout = v
            case "executor": f.executor = value
            case "seccomp": f.seccomp = value
            case "userns": f.userns = value
            case "uidmap": f.uidmap.append(value)
            case "gidmap": f.gidmap.append(value)
            case "memory": f.memory = value
            case "memory-swap": f.memorySwap = value
            case "pids-limit": guard let v = Int64(value) else { return nil }; f.pidsLimit = v
            case "cpus": f.cpus = value
            case "cpu-shares": guard let v = Int64(value) else { return nil }; f.cpuShares = v
            case "cpuset-cpus": f.cpusetCpus = value
            case "blkio-weight": guard let v = Int64(value) else { return nil }; f.blkioWeight = v
            case "profile": f.profile = value
            case "log-dir": f.logDir = value
            case "log-limit": f.logLimit = value
            default: return nil
            }
        }
        guard !rest.isEmpty, rest.first?.hasPrefix("-") == false else { return nil }
        return (f, Array(rest))
    }
}

/// The fast path: `envyro run` through a running supervisor, without ArgumentParser or Swift
/// concurrency (measured: they cost about a millisecond of start-up per run). Anything it
/// doesn't handle falls through to the full command line.
public enum FastRun {
    /// Runs and exits when `arguments` is a daemon run it can handle; returns otherwise.
    public static func attempt(_ arguments: [String]) {
        guard arguments.count > 2, arguments[1] == "run",
              let (flags, argv) = RunFlags.parse(arguments[2...]), flags.supervisor != "never" else { return }
        let path = flags.supervisor == "auto" ? ClientProtocol.defaultSocketPath() : flags.supervisor
        // A refused socket is the full command line's to report (it warns, then embeds).
        guard case .connected(let socket) = ClientProtocol.connectSafely(path) else { return }
        let signalFD = envyro_signalfd_for_forwarding()
        DaemonClient.run(socket, argv: argv, stdio: RunFlags.stdio(), signalFD: signalFD, flags: flags)
    }
}

/// The client side of the supervisor protocol for `envyro run`: send the run with our stdio,
/// forward signals, and finish exactly like the embedded path.
public enum DaemonClient {
    /// Runs `argv` with `flags` through the supervisor at `socket`; exits with the run's status.
    public static func run(_ socket: SeqPacketSocket, argv: [String], stdio: [Int32], signalFD: Int32, flags: RunFlags) -> Never {
        let message = ClientMessage(verb: .run, requestID: 1, body: flags.spec(argv: argv))
        do { try socket.send(message.encode(), fds: stdio) } catch {
            complain("the supervisor: \(error)")
            exit(125)
        }
        var runID: Int64 = 0
        var interrupts = 0
        while true {
            let ready = (try? Poll.readable(signalFD >= 0 ? [socket.fd, signalFD] : [socket.fd], timeoutMs: -1)) ?? []
            if ready.contains(1) {
                while case let sig = envyro_signalfd_read(signalFD), sig > 0 {
                    if sig == SIGINT || sig == SIGTERM { interrupts += 1 }
                    let forward = interrupts >= 2 ? SIGKILL : sig
                    if runID > 0 {
                        _ = try? socket.send(ClientMessage(verb: .signal, body: ["run": .int(runID), "signal": .int(Int64(forward))]).encode())
                    }
                }
            }
            guard ready.contains(0) else { continue }
            let reply: ClientMessage
            do { reply = try ClientProtocol.receive(socket) } catch {
                complain(error.description)
                exit(125)
            }
            switch reply.verb {
            case .started:
                runID = reply.body["run"]?.intValue ?? 0
            case .finished:
                let b = reply.body
                if flags.timings, let t = b["timings"]?.stringValue { writeStderr("timings (supervisor):\n" + t + "\n") }
                if flags.json {
                    var o = b
                    _ = o.removeValue(forKey: "timings")
                    _ = o.removeValue(forKey: "run")
                    writeStderr(JSONValue.object(o).serialized() + "\n")
                }
                finishRun(exitCode: Int32(b["exitCode"]?.intValue ?? 125), timedOut: b["timedOut"]?.boolValue ?? false,
                          oomKilled: b["oomKilled"]?.boolValue ?? false, memoryLimit: b["memoryLimitBytes"]?.intValue,
                          oomKills: b["oomKills"]?.intValue ?? 0, timeout: flags.timeout)
            case .error:
                complain(reply.body["message"]?.stringValue ?? "the supervisor refused the run")
                exit(Int32(reply.body["exitCode"]?.intValue ?? 125))
            default:
                continue
            }
        }
    }
}

/// Writes one line to stderr, prefixed `envyro: `.
public func complain(_ message: String) {
    writeStderr("envyro: \(message)\n")
}

/// Writes text to stderr unbuffered.
public func writeStderr(_ text: String) {
    _ = text.withCString { write(2, $0, strlen($0)) }
}

/// "64 MiB", as limits are shown in messages.
public func formatBytes(_ bytes: Int64) -> String {
    let units: [(Int64, String)] = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
    for (size, name) in units where bytes >= size && bytes % size == 0 { return "\(bytes / size) \(name)" }
    for (size, name) in units where bytes >= size { return "\(Double(bytes * 10 / size) / 10) \(name)" }
    return "\(bytes) bytes"
}

/// Ends `envyro run` the same way whoever ran the container.
public func finishRun(exitCode: Int32, timedOut: Bool, oomKilled: Bool, memoryLimit: Int64?, oomKills: Int64, timeout: Double?) -> Never {
    if timedOut {
        let s = timeout ?? 0
        complain("timed out after \(s == s.rounded() ? "\(Int(s))s" : "\(s)s"); the container was killed")
        exit(124)
    }
    if oomKilled {
        let limit = memoryLimit.map { " (limit \(formatBytes($0)))" } ?? ""
        complain("killed: out of memory\(limit)")
        exit(RunExit.outOfMemory)
    }
    if oomKills > 0 {
        complain("warning: the kernel's OOM killer killed \(oomKills) process(es) in the container")
    }
    exit(exitCode)
}
