import CEnvyro
import EnvyroJSON
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// What went wrong talking to a supervisor.
public enum ClientError: Error, Sendable, CustomStringConvertible {
    /// The connection failed or closed.
    case gone(String)
    /// The supervisor sent something malformed.
    case malformed(String)

    public var description: String {
        switch self {
        case .gone(let d): return "the supervisor: \(d)"
        case .malformed(let d): return "the supervisor sent an invalid message: \(d)"
        }
    }
}

/// Where the socket lives, and connecting to it.
public enum ClientProtocol {
    /// The largest message either side sends.
    public static let maxMessageBytes = ClientMessage.maxBytes

    /// `$XDG_RUNTIME_DIR/envyro/supervisor.sock`, else `/run/user/UID/envyro/supervisor.sock`
    /// when that directory exists, else `/tmp/envyro-UID/supervisor.sock`.
    public static func defaultSocketPath() -> String {
        if let xdg = Environment.get("XDG_RUNTIME_DIR"), xdg.hasPrefix("/") { return xdg + "/envyro/supervisor.sock" }
        let run = "/run/user/\(getuid())"
        if Files.kind(run) == .directory { return run + "/envyro/supervisor.sock" }
        return "/tmp/envyro-\(getuid())/supervisor.sock"
    }

    /// The socket of the supervisor `envyro run` starts on first use for policy `name`:
    /// `auto-NAME.sock` beside the default socket. Nil for a policy given as a file (only
    /// shipped or installed names get one) or when auto-starting is switched off in the
    /// environment (`ENVYRO_AUTO_SUPERVISOR=0`).
    public static func autoSocketPath(policy name: String) -> String? {
        if Environment.get("ENVYRO_AUTO_SUPERVISOR") == "0" { return nil }
        guard (1...64).contains(name.utf8.count), name.utf8.allSatisfy({ (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5f || $0 == 0x2d }) else { return nil }
        return Files.directory(of: defaultSocketPath()) + "/auto-\(name).sock"
    }

    /// What a careful connection attempt found.
    public enum Connection {
        /// A supervisor of ours (or root's) listens there.
        case connected(SeqPacketSocket)
        /// Nothing listens there (no socket, or no directory).
        case absent
        /// Something is there that isn't safe to talk to; nothing was sent. The reason names
        /// the path, its owner and what to do.
        case refused(String)
    }

    /// Connects to the supervisor at `path` only when it is safe to send it anything (issue 13,
    /// item 4): the socket's directory must be a real directory of this user's with mode 0700
    /// (by `lstat`: in `/tmp` another user could have made `/tmp/envyro-UID` first and planted
    /// a socket), and the process listening must run as this user or as root (`SO_PEERCRED`).
    /// Otherwise nothing is sent: not the argv, not the environment, not our stdio.
    public static func connectSafely(_ path: String) -> Connection {
        let dir = Files.directory(of: path)
        if Files.kind(dir) == .missing { return .absent }
        if let why = RuntimeDirectory.refusal(dir, uid: getuid()) {
            // An unsafe directory with nothing in it has nothing to hijack with.
            if Files.kind(path) == .missing { return .absent }
            return .refused("not using the supervisor socket \(path): \(why)")
        }
        guard let socket = connect(path) else { return .absent }
        var pid: pid_t = 0, uid: uid_t = 0, gid: gid_t = 0
        guard envyro_peer_credentials(socket.fd, &pid, &uid, &gid) == 0 else {
            let e = SystemError.current("getsockopt", "SO_PEERCRED")
            socket.close()
            return .refused("not using the supervisor socket \(path): cannot tell who listens there (\(e))")
        }
        if uid != getuid() && uid != 0 {
            socket.close()
            let name = Environment.userName(uid: uid).map { " (\($0))" } ?? ""
            return .refused("not using the supervisor socket \(path): the process listening there (pid \(pid)) runs as uid \(uid)\(name), not as you or root")
        }
        return .connected(socket)
    }

    /// Connects to a supervisor's socket; nil when none is listening there. Checks nothing:
    /// clients use `connectSafely`.
    public static func connect(_ path: String) -> SeqPacketSocket? {
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { close(fd); return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 { close(fd); return nil }
        return SeqPacketSocket(fd: fd)
    }

    /// Sends `message` (with `fds`) and waits for the next message.
    public static func exchange(_ socket: SeqPacketSocket, _ message: ClientMessage, fds: [Int32] = []) throws(ClientError) -> ClientMessage {
        do { try socket.send(message.encode(), fds: fds) } catch { throw .gone("\(error)") }
        return try receive(socket)
    }

    /// Replies to a client are small (a result object, a ps list, statistics): a client reads
    /// them into this much, not into a zeroed `maxMessageBytes` buffer per message (measured:
    /// that alone was a tenth of a client's start-up).
    public static let replyBufferBytes = 32 * 1024

    /// The next message from the other side.
    public static func receive(_ socket: SeqPacketSocket, capacity: Int = replyBufferBytes) throws(ClientError) -> ClientMessage {
        let packet: SeqPacketSocket.Packet?
        do { packet = try socket.receive(capacity: capacity, maxFDs: 0) } catch {
            throw .gone("\(error)")
        }
        guard let packet else { throw .gone("it closed the connection") }
        if packet.truncated { throw .malformed("a message larger than \(capacity) bytes") }
        guard let m = ClientMessage.decode(packet.bytes) else { throw .malformed("not a header and a JSON object") }
        return m
    }
}

