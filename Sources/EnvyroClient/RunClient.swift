import CEnvyro
import EnvyroJSON
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// Exit statuses envyro itself chooses.
public enum RunExit {
    /// The kernel's OOM killer ended the workload (distinct from a plain SIGKILL's 137).
    public static let outOfMemory: Int32 = 247
}

/// The client's side of a run: its stdio and its paths.
public enum RunClient {
    /// Our own stdio for the container; a closed one is replaced by /dev/null.
    public static func stdio() -> [Int32] {
        (0...2).map { (fd: Int32) -> Int32 in
            if fcntl(fd, F_GETFD) >= 0 { return fd }
            return open("/dev/null", (fd == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC)
        }
    }

    /// `path` made absolute against our working directory (a supervisor has another one).
    public static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buf = [UInt8](repeating: 0, count: 4096)
        let ok = buf.withUnsafeMutableBytes { getcwd($0.baseAddress!.assumingMemoryBound(to: CChar.self), 4096) != nil }
        guard ok, let end = buf.firstIndex(of: 0) else { return path }
        return String(decoding: buf[..<end], as: UTF8.self) + "/" + path
    }
}

/// The fast path: `envyro run` through a running supervisor, without ArgumentParser or Swift
/// concurrency (measured: they cost about a millisecond of start-up per run). Anything it
/// doesn't handle falls through to the full command line.
public enum FastRun {
    /// Runs and exits when `arguments` is a daemon run it can handle; returns otherwise.
    public static func attempt(_ arguments: [String]) {
        guard arguments.count > 2, arguments[1] == "run",
              let spec = RunSpec.parse(arguments[2...]), spec.supervisor != "never", !spec.stats else { return }
        let path = spec.supervisor == "auto" ? ClientProtocol.defaultSocketPath() : spec.supervisor
        // A refused socket is the full command line's to report (it warns, then embeds).
        guard case .connected(let socket) = ClientProtocol.connectSafely(path) else { return }
        let signalFD = envyro_signalfd_for_forwarding()
        DaemonClient.run(socket, spec.resolvingPaths(RunClient.absolute), stdio: RunClient.stdio(), signalFD: signalFD)
    }
}

/// The client side of the supervisor protocol for `envyro run`: send the run with our stdio,
/// forward signals, and finish exactly like the embedded path.
public enum DaemonClient {
    /// Runs `spec` (its paths already absolute) through the supervisor at `socket`; exits with
    /// the run's status.
    public static func run(_ socket: SeqPacketSocket, _ spec: RunSpec, stdio: [Int32], signalFD: Int32) -> Never {
        let message = ClientMessage(verb: .run, requestID: 1, body: spec.jsonObject())
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
                if let note = b["limitNote"]?.stringValue, !note.isEmpty { complain("note: \(note)") }
                if spec.timings, let t = b["timings"]?.stringValue { writeStderr("timings (supervisor):\n" + t + "\n") }
                if spec.json {
                    var o = b
                    _ = o.removeValue(forKey: "timings")
                    _ = o.removeValue(forKey: "run")
                    writeStderr(JSONValue.object(o).serialized() + "\n")
                }
                finishRun(exitCode: Int32(b["exitCode"]?.intValue ?? 125), timedOut: b["timedOut"]?.boolValue ?? false,
                          oomKilled: b["oomKilled"]?.boolValue ?? false, memoryLimit: b["memoryLimitBytes"]?.intValue,
                          oomKills: b["oomKills"]?.intValue ?? 0, timeout: spec.timeoutSeconds)
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
