import CEnvyro
import EnvyroEngine
import EnvyroProtocol
import EnvyroSystem
import Glibc
import Synchronization

/// A running `envyro-nshelper`, started by posix_spawn with one end of a SEQPACKET socketpair
/// as its fd 3. The helper exits when this end closes; `close()` waits for that, so nothing
/// outlives the supervisor's use of it.
///
/// Used by one run at a time (the embedded supervisor runs one container per call; the daemon
/// will serialize access), hence `@unchecked Sendable`.
public final class HelperProcess: @unchecked Sendable {
    /// The helper's pid.
    public let pid: pid_t
    /// The supervisor's end of the socket.
    public let socket: SeqPacketSocket
    /// Request ids; a daemon sends `signal` for a run from another client's thread.
    private let nextRequestID = Mutex<UInt32>(1)
    private var closed = false
    /// Frames that arrived while waiting for a reply (events such as `exited`).
    private var pendingEvents: [Frame] = []
    /// Frames are received straight into slabs of the engine's buffer pool.
    private let buffers: LazyResource<BufferPool>
    /// How the helper exited, once `close()` has reaped it.
    public private(set) var exitStatus: Int32?

    /// Starts the helper at `path` with `--policy policy`.
    public init(path: String, policy: String, buffers: LazyResource<BufferPool>) throws(SupervisorError) {
        self.buffers = buffers
        if access(path, X_OK) != 0 {
            throw SupervisorError.helperMissing(path: path, errno: errno)
        }
        do { (pid, socket) = try SeqPacketSocket.spawnPeer(path, arguments: ["--policy", policy, "--fd", "3"], sealed: true) } catch { throw .system(error) }
    }

    /// Takes over a helper already started with `--policy` and `--fd 3` on `socket`'s peer
    /// (the C front's, `PrestartedHelper`).
    init(adopting pid: pid_t, socket: SeqPacketSocket, buffers: LazyResource<BufferPool>) {
        self.pid = pid
        self.socket = socket
        self.buffers = buffers
    }

    deinit { close() }

    /// Sends `message` and returns its request id.
    @discardableResult
    public func send(_ message: Message, fds: [Int32] = []) throws(SupervisorError) -> UInt32 {
        let id = nextRequestID.withLock { v -> UInt32 in
            let id = v
            v &+= 1
            return id
        }
        // A create's frame holds the run's argv and env: zeroed once the kernel has it.
        var frame = Codec.encode(message, requestID: id)
        defer { Codec.zero(&frame) }
        do { try socket.send(frame, fds: fds) } catch {
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
        return try receiveFrame()
    }

    /// Sends `hello` and checks the reply: the helper is ready, or says why not.
    func greet(client: String = "envyro", modes: HelloModes = []) throws(SupervisorError) {
        try Self.checkGreeting(try call(.hello(Hello(client: client, modes: modes))))
    }

    /// The `hello` sent by `sendGreeting` whose reply is not read yet.
    private var pendingGreeting: UInt32?

    /// Sends `hello` without waiting for its reply: the next `call` sends its request right
    /// behind it and reads the `hello` reply first (checked as `greet` checks it). The helper
    /// serves its socket in order, so the request is handled once the greeting is; a helper that
    /// refuses the greeting never reads the request (it answers the first request and exits, or
    /// closes the connection). This saves the OCI commands a round trip to a helper that is
    /// still starting (its start and the command's own overlap).
    func sendGreeting(client: String, modes: HelloModes) throws(SupervisorError) {
        pendingGreeting = try send(.hello(Hello(client: client, modes: modes)))
    }

    private static func checkGreeting(_ reply: Message) throws(SupervisorError) {
        switch reply {
        case .helloReply: return
        case .failed(let f): throw .helperFailure(step: f.step, errno: f.errno, message: f.message)
        default: throw .protocolViolation(detail: "unexpected \(reply.verb.name) in answer to hello")
        }
    }

    /// Reads and checks the reply to a pipelined `hello`, if one is outstanding.
    private func finishGreeting() throws(SupervisorError) {
        guard let id = pendingGreeting else { return }
        pendingGreeting = nil
        try Self.checkGreeting(try waitReply(id))
    }

    /// Events already read while waiting for a reply.
    public var hasPendingEvents: Bool { !pendingEvents.isEmpty }

    /// Reads and decodes one frame from the socket (blocking), straight into a pool slab.
    ///
    /// The pool is a cache, never a cap on concurrency: a daemon's connection thread holds a slab
    /// while it waits for its helper's reply, so with more runs in flight than slabs the frame is
    /// received into memory of its own (counted as `exhausted` in the pool's stats) instead of
    /// failing the run.
    private func receiveFrame() throws(SupervisorError) -> Frame {
        let pool: BufferPool
        do { pool = try buffers.get() } catch { throw .system(SystemError("memfd_create", "buffer pool", errno: ENOMEM)) }
        if let slab = pool.tryAcquire() {
            defer { pool.release(slab) }
            var got: (count: Int, truncated: Bool)? = nil
            var failure: SystemError? = nil
            // recvmsg writes only the bytes it returns: release zeroes those (`exact`).
            _ = try? slab.withUnsafeWritableTail(exact: true) { memory -> Int in
                do { got = try socket.receive(into: memory) } catch let e as SystemError { failure = e } catch {}
                return got?.count ?? 0
            }
            if let failure { throw .helperGone(detail: "\(failure)") }
            guard let got else { throw .helperGone(detail: helperExitDetail()) }
            if got.truncated { throw .protocolViolation(detail: "a frame larger than \(pool.slabSize) bytes, or with descriptors") }
            let frame: Result<Frame, SupervisorError>
            do { frame = try slab.withUnsafeReadableBytes { raw in Self.decode(raw) } } catch { throw .protocolViolation(detail: "\(error)") }
            return try frame.get()
        }
        var heap = [UInt8](repeating: 0, count: pool.slabSize)
        let got: (count: Int, truncated: Bool)?
        do { got = try socket.receive(into: &heap) } catch { throw .helperGone(detail: "\(error)") }
        guard let got else { throw .helperGone(detail: helperExitDetail()) }
        if got.truncated { throw .protocolViolation(detail: "a frame larger than \(pool.slabSize) bytes, or with descriptors") }
        return try heap.withUnsafeBytes { raw in Self.decode(UnsafeRawBufferPointer(rebasing: raw[0..<got.count])) }.get()
    }

    /// Decodes one frame from the helper.
    private static func decode(_ raw: UnsafeRawBufferPointer) -> Result<Frame, SupervisorError> {
        do {
            return .success(try Codec.decode(raw, fileDescriptorCount: 0, maxFrameBytes: ProtocolLimits.defaultMaxFrameBytes, expecting: .replyOrEvent))
        } catch {
            return .failure(.protocolViolation(detail: "\(error)"))
        }
    }

    /// Why the socket closed: reaps the helper and describes its exit.
    private func helperExitDetail() -> String {
        close()
        guard let status = exitStatus else { return "the helper closed its socket" }
        if status & 0x7f != 0 { return "the helper was killed by signal \(status & 0x7f)" }
        return "the helper exited with status \((status >> 8) & 0xff)"
    }

    /// Sends `message` and waits for the reply with the same request id; events that arrive
    /// first are kept for `receive`.
    public func call(_ message: Message, fds: [Int32] = []) throws(SupervisorError) -> Message {
        let id: UInt32
        do { id = try send(message, fds: fds) } catch {
            // A helper that refused the pipelined hello and exited: its reason, not EPIPE.
            try finishGreeting()
            throw error
        }
        try finishGreeting()
        var held: [Frame] = []
        defer { pendingEvents.append(contentsOf: held) }
        return try waitReply(id, holding: &held)
    }

    /// Waits for the reply to request `id`; events that arrive first are kept for `receive`.
    public func waitReply(_ id: UInt32) throws(SupervisorError) -> Message {
        var held: [Frame] = []
        defer { pendingEvents.append(contentsOf: held) }
        return try waitReply(id, holding: &held)
    }

    private func waitReply(_ id: UInt32, holding held: inout [Frame]) throws(SupervisorError) -> Message {
        while true {
            let frame = try receiveFrame()
            if frame.verb.isEvent { held.append(frame); continue }
            if frame.requestID == id { return frame.message }
        }
    }

    /// Whether the helper is still usable (not closed, and its process has not exited).
    public var isAlive: Bool {
        if closed { return false }
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
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
