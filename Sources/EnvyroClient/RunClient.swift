import CEnvyro
import EnvyroJSON
import EnvyroProtocol
import EnvyroSystem
import Glibc

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

/// How a run through a supervisor ended, for the command line to report: the client protocol
/// only, no output (envyro-cli's `RunOutput` prints and exits).
public enum DaemonRunResult {
    /// The `finished` reply's body (the run's result fields).
    case finished(JSONObject)
    /// The supervisor's `error` reply: its message and the exit status to use.
    case refused(message: String, exitCode: Int32)
    /// The connection failed.
    case broken(String)
}

/// The client side of the supervisor protocol for `envyro run`: send the run with our stdio,
/// forward signals, and return how it ended.
public enum DaemonClient {
    /// Runs `spec` (its paths already absolute) through the supervisor at `socket`.
    public static func run(_ socket: SeqPacketSocket, _ spec: RunSpec, stdio: [Int32], signalFD: Int32) -> DaemonRunResult {
        let message = ClientMessage(verb: .run, requestID: 1, body: spec.jsonObject())
        do { try socket.send(message.encode(), fds: stdio) } catch {
            return .broken("the supervisor: \(error)")
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
                return .broken(error.description)
            }
            switch reply.verb {
            case .started:
                runID = reply.body["run"]?.intValue ?? 0
            case .finished:
                return .finished(reply.body)
            case .error:
                return .refused(message: reply.body["message"]?.stringValue ?? "the supervisor refused the run",
                                exitCode: Int32(reply.body["exitCode"]?.intValue ?? 125))
            default:
                continue
            }
        }
    }
}
