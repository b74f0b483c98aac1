import CEnvyro
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// A running `envyro-nshelper`, started by posix_spawn with one end of a SEQPACKET socketpair
/// as its fd 3. The helper exits when this end closes; `close()` waits for that, so nothing
/// outlives the supervisor's use of it.
public final class HelperProcess {
    /// The helper's pid.
    public let pid: pid_t
    /// The supervisor's end of the socket.
    public let socket: SeqPacketSocket
    private var nextRequestID: UInt32 = 1
    private var closed = false
    /// Frames that arrived while waiting for a reply (events such as `exited`).
    private var pendingEvents: [Frame] = []
    /// How the helper exited, once `close()` has reaped it.
    public private(set) var exitStatus: Int32?

    /// Starts the helper at `path` with `--policy policy`.
    public init(path: String, policy: String) throws(SupervisorError) {
        if access(path, X_OK) != 0 {
            throw SupervisorError.helperMissing(path: path, errno: errno)
        }
        let (mine, theirs): (SeqPacketSocket, SeqPacketSocket)
        do { (mine, theirs) = try SeqPacketSocket.pair() } catch { throw .system(error) }
        let argv = [path, "--policy", policy, "--fd", "3"]
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cArgs.append(nil)
        defer { for p in cArgs { free(p) } }
        let spawned = envyro_spawn_helper(path, &cArgs, envyro_environ(), theirs.fd)
        let e = errno
        theirs.close()
        if spawned < 0 {
            mine.close()
            throw .system(SystemError("posix_spawn", path, errno: e))
        }
        pid = spawned
        socket = mine
    }

    deinit { close() }

    /// Sends `message` and returns its request id.
    @discardableResult
    public func send(_ message: Message, fds: [Int32] = []) throws(SupervisorError) -> UInt32 {
        let id = nextRequestID
        nextRequestID &+= 1
        do { try socket.send(Codec.encode(message, requestID: id), fds: fds) } catch {
            throw .helperGone(detail: "\(error)")
        }
        return id
    }

    /// Receives the next frame (reply or event), waiting at most `timeoutMs` (-1 = forever);
    /// nil on timeout. Throws `helperGone` at EOF.
    public func receive(timeoutMs: Int32 = -1) throws(SupervisorError) -> Frame? {
        if !pendingEvents.isEmpty { return pendingEvents.removeFirst() }
        if timeoutMs >= 0 {
            let ready: [Int]
            do { ready = try Poll.readable([socket.fd], timeoutMs: timeoutMs) } catch { throw .system(error) }
            if ready.isEmpty { return nil }
        }
        let packet: SeqPacketSocket.Packet?
        do { packet = try socket.receive(capacity: ProtocolLimits.absoluteMaxFrameBytes, maxFDs: 0) } catch {
            throw .helperGone(detail: "\(error)")
        }
        guard let packet else { throw .helperGone(detail: "the helper closed its socket") }
        do {
            return try Codec.decode(packet.bytes, fileDescriptorCount: packet.fds.count,
                                    maxFrameBytes: ProtocolLimits.absoluteMaxFrameBytes, expecting: .replyOrEvent)
        } catch {
            throw .protocolViolation(detail: "\(error)")
        }
    }

    /// Sends `message` and waits for the reply with the same request id; events that arrive
    /// first are kept for `receive`.
    public func call(_ message: Message, fds: [Int32] = []) throws(SupervisorError) -> Message {
        let id = try send(message, fds: fds)
        var held: [Frame] = []
        defer { pendingEvents.append(contentsOf: held) }
        while true {
            let frame: Frame?
            do {
                let p = try socket.receive(capacity: ProtocolLimits.absoluteMaxFrameBytes, maxFDs: 0)
                guard let p else { throw SupervisorError.helperGone(detail: "the helper closed its socket") }
                frame = try Codec.decode(p.bytes, fileDescriptorCount: p.fds.count,
                                         maxFrameBytes: ProtocolLimits.absoluteMaxFrameBytes, expecting: .replyOrEvent)
            } catch let e as SupervisorError {
                throw e
            } catch let e as ProtocolError {
                throw .protocolViolation(detail: "\(e)")
            } catch {
                throw .helperGone(detail: "\(error)")
            }
            guard let frame else { continue }
            if frame.verb.isEvent { held.append(frame); continue }
            if frame.requestID == id { return frame.message }
        }
    }

    /// Closes the socket and reaps the helper (it exits on EOF after killing its containers).
    public func close() {
        if closed { return }
        closed = true
        socket.close()
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        exitStatus = status
    }
}
