import CEnvyro
import EnvyroEngine
import EnvyroProtocol
import EnvyroSystem
import Glibc
import Synchronization

/// Waits for the replies to one request, on a pthread condition variable (the caller blocks;
/// the connection's reader thread delivers).
final class Waiter: @unchecked Sendable {
    // @unchecked: every field is guarded by `mutex`.
    /// What the request does, for error messages ("read_file /etc/hosts").
    let operation: String
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var messages: [IOMessage] = []
    private var failure: IOWorkerError?
    private let expected: Int
    private var delivered = 0

    /// A waiter for `expected` replies (a `failed` reply ends it early).
    init(operation: String, expected: Int) {
        self.operation = operation
        self.expected = expected
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    /// Hands over a reply; returns true when no more replies are expected.
    func deliver(_ message: IOMessage) -> Bool {
        pthread_mutex_lock(mutex)
        messages.append(message)
        delivered += 1
        let done: Bool
        if case .failed = message { done = true } else { done = delivered >= expected }
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
        return done
    }

    /// Ends the wait with `error` (the worker went away).
    func fail(_ error: IOWorkerError) {
        pthread_mutex_lock(mutex)
        if failure == nil { failure = error }
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// The next reply, blocking until it arrives; throws once the worker is gone and every
    /// delivered reply was taken.
    func next() throws(IOWorkerError) -> IOMessage {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while messages.isEmpty && failure == nil { pthread_cond_wait(condition, mutex) }
        if !messages.isEmpty { return messages.removeFirst() }
        throw failure!
    }
}

/// Runs `body` on a new detached pthread (blocking receives stay off the cooperative pool).
func startThread(_ body: @escaping @Sendable () -> Void) -> Int32 {
    final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let r = pthread_create(&thread, nil, { raw in
        Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, box)
    if r != 0 {
        Unmanaged<Box>.fromOpaque(box).release()
        return r
    }
    pthread_detach(thread)
    return 0
}

/// One running `envyro-ioworker`: its pid, the supervisor's end of the socket, and a reader
/// thread that routes replies to the waiting requests by request id. When the socket reaches
/// EOF (the worker exited or was killed), the reader reaps the worker and fails every pending
/// request with ``IOWorkerError/workerExited(detail:operation:)``.
final class WorkerConnection: @unchecked Sendable {
    // @unchecked: mutable state is in `state` (a Mutex); the rest is immutable after init.
    private struct State {
        var pending: [UInt32: Waiter] = [:]
        var nextID: UInt32 = 1
        /// Set once the worker is gone: how it ended.
        var exit: String?
    }

    let pid: pid_t
    let socket: SeqPacketSocket
    let hello: IOHelloReply
    private let state: Mutex<State>

    /// Spawns the worker at `path`, sends `io_hello` with the pool's memfd, and waits for its answer.
    init(path: String, pool: BufferPool, configuration: IOWorkerConfiguration) throws(IOWorkerError) {
        if access(path, X_OK) != 0 { throw .workerMissing(path: path, errno: errno) }
        let (spawned, mine): (pid_t, SeqPacketSocket)
        do { (spawned, mine) = try SeqPacketSocket.spawnPeer(path, arguments: ["--fd", "3"]) } catch { throw .system(error) }
        pid = spawned
        socket = mine
        state = Mutex(State())

        func abandon(_ error: IOWorkerError) -> IOWorkerError {
            Glibc.kill(spawned, SIGKILL)
            var status: Int32 = 0
            while waitpid(spawned, &status, 0) < 0 && errno == EINTR {}
            mine.close()
            return error
        }
        let request = IOHello(slabSize: UInt32(pool.slabSize), slabCount: UInt32(pool.slabCount),
                              queueDepth: UInt32(configuration.queueDepth), captureBufferSize: UInt32(configuration.captureBufferSize),
                              backend: configuration.backend, seccomp: configuration.seccomp)
        do {
            let bytes = try IOCodec.encodeValidated(.hello(request), requestID: 0)
            try mine.send(bytes, fds: [pool.memfd])
        } catch let error as ProtocolError {
            throw abandon(.invalidArgument("the I/O worker configuration is invalid: \(error)"))
        } catch {
            throw abandon(.workerExited(detail: "it could not be greeted: \(error)", operation: "io_hello"))
        }
        let reply: IOFrame
        do {
            guard let packet = try mine.receive(capacity: IOCodec.maxFrameBytes + 1, maxFDs: 0) else {
                let detail = Self.reap(spawned)
                mine.close()
                throw IOWorkerError.workerExited(detail: detail, operation: "io_hello")
            }
            guard !packet.truncated, packet.fds.isEmpty, !packet.tooManyFDs else {
                throw IOWorkerError.protocolViolation("the hello reply was oversized or carried descriptors")
            }
            reply = try IOCodec.decode(packet.bytes, fileDescriptorCount: 0, expecting: .replyOrEvent)
        } catch let error as IOWorkerError {
            if case .workerExited = error { throw error }
            throw abandon(error)
        } catch {
            throw abandon(.protocolViolation("the I/O worker's hello reply: \(error)"))
        }
        switch reply.message {
        case .helloReply(let h): hello = h
        case .failed(let f): throw abandon(.refused(operation: "io_hello", failure: f))
        default: throw abandon(.protocolViolation("\(reply.message.verb.name) in answer to io_hello"))
        }
        let result = startThread { [self] in readLoop() }
        if result != 0 { throw abandon(.system(SystemError("pthread_create", "I/O worker reader", errno: result))) }
    }

    /// Whether the worker is gone.
    var isDead: Bool { state.withLock { $0.exit != nil } }

    /// Registers a waiter for `expected` replies and sends `message` with `fds`.
    func send(_ message: IOMessage, fds: [Int32] = [], operation: String, expected: Int = 1) throws(IOWorkerError) -> (UInt32, Waiter) {
        let waiter = Waiter(operation: operation, expected: expected)
        let registered = state.withLock { s -> Result<UInt32, IOWorkerError> in
            if let exit = s.exit { return .failure(.workerExited(detail: exit, operation: operation)) }
            let id = s.nextID
            s.nextID = s.nextID == UInt32.max ? 1 : s.nextID + 1
            s.pending[id] = waiter
            return .success(id)
        }
        let id = try registered.get()
        let bytes: [UInt8]
        do { bytes = try IOCodec.encodeValidated(message, requestID: id) } catch {
            _ = state.withLock { $0.pending.removeValue(forKey: id) }
            throw .invalidArgument("\(operation): \(error)")
        }
        do { try socket.send(bytes, fds: fds) } catch {
            // The worker is gone (EPIPE/ECONNRESET): the reader reports how it ended.
            if error.errno == EPIPE || error.errno == ECONNRESET || error.errno == ENOTCONN {
                return (id, waiter)
            }
            _ = state.withLock { $0.pending.removeValue(forKey: id) }
            throw .system(error)
        }
        return (id, waiter)
    }

    /// Sends `message` and waits for its one reply.
    func call(_ message: IOMessage, fds: [Int32] = [], operation: String) throws(IOWorkerError) -> IOMessage {
        let (_, waiter) = try send(message, fds: fds, operation: operation)
        return try waiter.next()
    }

    /// Wakes the reader (EOF on our end); the worker sees EOF and exits; the reader reaps it.
    func close() {
        shutdown(socket.fd, Int32(SHUT_RDWR))
    }

    /// Closes, then waits (at most `timeoutMs`) until the reader has reaped the worker: a process
    /// about to exit must not leave it a zombie under a parent that never reaps.
    func closeAndReap(timeoutMs: Int = 2000) {
        close()
        for _ in 0..<timeoutMs where state.withLock({ $0.exit }) == nil { usleep(1000) }
    }

    /// Kills the worker now (tests, and a worker that broke the protocol).
    func kill() {
        _ = Glibc.kill(pid, SIGKILL)
    }

    private func readLoop() {
        var violation: String?
        while true {
            let packet: SeqPacketSocket.Packet
            do {
                guard let p = try socket.receive(capacity: IOCodec.maxFrameBytes + 1, maxFDs: 0) else { break }
                packet = p
            } catch {
                break
            }
            if packet.truncated || packet.tooManyFDs || !packet.fds.isEmpty {
                for fd in packet.fds { Glibc.close(fd) }
                violation = "a reply larger than \(IOCodec.maxFrameBytes) bytes or with descriptors"
                break
            }
            let frame: IOFrame
            do { frame = try IOCodec.decode(packet.bytes, fileDescriptorCount: 0, expecting: .replyOrEvent) } catch {
                violation = "a malformed reply (\(error))"
                break
            }
            let waiter = state.withLock { $0.pending[frame.requestID] }
            guard let waiter else {
                violation = "a reply to unknown request \(frame.requestID)"
                break
            }
            if waiter.deliver(frame.message) {
                _ = state.withLock { $0.pending.removeValue(forKey: frame.requestID) }
            }
        }
        if violation != nil { kill() }
        shutdown(socket.fd, Int32(SHUT_RDWR))
        var detail = Self.reap(pid)
        if let violation { detail = "it sent \(violation) and was killed" }
        socket.close()
        let orphans = state.withLock { s -> [Waiter] in
            s.exit = detail
            defer { s.pending.removeAll() }
            return Array(s.pending.values)
        }
        for w in orphans { w.fail(.workerExited(detail: detail, operation: w.operation)) }
    }

    /// Waits for the worker and describes how it ended.
    static func reap(_ pid: pid_t) -> String {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return "it closed its socket" }
        }
        let signal = status & 0x7F
        if signal != 0 { return "killed by signal \(signal)" + (signal == SIGSYS ? ", a seccomp violation" : "") }
        return "exited with status \((status >> 8) & 0xFF)"
    }
}
