import CEnvyro
import EnvyroEngine
import EnvyroJSON
import EnvyroSupervisor
import EnvyroSystem
import Glibc

/// `envyro run`'s options, whichever parser read them.
struct RunFlags: Equatable {
    var policy: String?
    var supervisor = "auto"
    var rootfs: String?
    var rootfsRw = false
    var hostname = "envyro"
    var env: [String] = []
    var cwd = "/"
    var network: String?
    var timeout: Double?
    var useInit = false
    var executor = "native"
    var seccomp: String?
    var userns: String?
    var uidmap: [String] = []
    var gidmap: [String] = []
    var memory: String?
    var memorySwap: String?
    var pidsLimit: Int64?
    var cpus: String?
    var cpuShares: Int64?
    var cpusetCpus: String?
    var blkioWeight: Int64?
    var profile: String?
    var json = false
    var timings = false
    var logDir: String?
    var logLimit: String?
    var logTee = false

    /// The run these flags ask for.
    func request(argv: [String]) -> RunRequest {
        var r = RunRequest(argv: argv)
        r.env = env
        r.cwd = cwd
        r.hostname = hostname
        r.rootfs = rootfs
        r.rootfsWritable = rootfsRw
        r.network = network
        r.timeoutSeconds = timeout
        r.useInit = useInit
        r.executor = executor
        r.seccompProfile = seccomp
        r.limits.memory = memory
        r.limits.memorySwap = memorySwap
        r.limits.pidsLimit = pidsLimit
        r.limits.cpus = cpus
        r.limits.cpuShares = cpuShares
        r.limits.cpusetCpus = cpusetCpus
        r.limits.blkioWeight = blkioWeight
        r.limits.profile = profile
        r.userns = userns
        r.uidMaps = uidmap
        r.gidMaps = gidmap
        r.logDir = logDir
        r.logLimit = logLimit
        r.logTee = logTee
        // Paths are the caller's: absolute before they reach a supervisor with another cwd.
        r.rootfs = rootfs.map(Self.absolute)
        r.seccompProfile = seccomp.map(Self.absolute)
        r.logDir = logDir.map(Self.absolute)
        return r
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buf = [UInt8](repeating: 0, count: 4096)
        let ok = buf.withUnsafeMutableBytes { getcwd($0.baseAddress!.assumingMemoryBound(to: CChar.self), 4096) != nil }
        guard ok, let end = buf.firstIndex(of: 0) else { return path }
        return String(decoding: buf[..<end], as: UTF8.self) + "/" + path
    }

    /// Our own stdio for the container; a closed one is replaced by /dev/null.
    static func stdio() -> [Int32] {
        (0...2).map { (fd: Int32) -> Int32 in
            if fcntl(fd, F_GETFD) >= 0 { return fd }
            return open("/dev/null", (fd == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC)
        }
    }

    /// The fast path's parser for `envyro run ARGS`: the same flags and forms as the
    /// ArgumentParser definition (`--flag value`, `--flag=value`, switches; options end at `--`
    /// or at the command). Returns nil for anything else (help, --stats, a malformed number, an
    /// unknown flag), and the full parser handles it, errors included.
    static func parse(_ args: ArraySlice<String>) -> (RunFlags, [String])? {
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
enum FastRun {
    /// Runs and exits when `arguments` is a daemon run it can handle; returns otherwise.
    static func attempt(_ arguments: [String]) {
        guard arguments.count > 2, arguments[1] == "run",
              let (flags, argv) = RunFlags.parse(arguments[2...]), flags.supervisor != "never" else { return }
        let path = flags.supervisor == "auto" ? ClientProtocol.defaultSocketPath() : flags.supervisor
        guard let socket = ClientProtocol.connect(path) else { return }
        let signalFD = envyro_signalfd_for_forwarding()
        DaemonClient.run(socket, flags.request(argv: argv), stdio: RunFlags.stdio(), signalFD: signalFD, flags: flags)
    }
}

/// The client side of the supervisor protocol for `envyro run`: send the run with our stdio,
/// forward signals, and finish exactly like the embedded path.
enum DaemonClient {
    static func run(_ socket: SeqPacketSocket, _ request: RunRequest, stdio: [Int32], signalFD: Int32, flags: RunFlags) -> Never {
        let message = ClientMessage(verb: .run, requestID: 1, body: request.spec(policy: flags.policy))
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

/// Ends `envyro run` the same way whoever ran the container.
func finishRun(exitCode: Int32, timedOut: Bool, oomKilled: Bool, memoryLimit: Int64?, oomKills: Int64, timeout: Double?) -> Never {
    if timedOut {
        let s = timeout ?? 0
        complain("timed out after \(s == s.rounded() ? "\(Int(s))s" : "\(s)s"); the container was killed")
        exit(124)
    }
    if oomKilled {
        let limit = memoryLimit.map { " (limit \(ResourceLimitBatch.formatSizeLong($0)))" } ?? ""
        complain("killed: out of memory\(limit)")
        exit(RunExit.outOfMemory)
    }
    if oomKills > 0 {
        complain("warning: the kernel's OOM killer killed \(oomKills) process(es) in the container")
    }
    exit(exitCode)
}
