import CEnvyro
import EnvyroProtocol
import EnvyroSystem
import Glibc
#if !ENVYRO_NO_URING
import CURing
#endif

/// The worker's event loop and its operations.
///
/// One thread. With io_uring, the loop waits on the ring alone: a POLL_ADD on the socket, and
/// one operation in flight per captured stream (read, write, splice). With the syscall backend
/// the loop is poll(2) over the socket and the pipes.
final class Server {
    let socket: SeqPacketSocket
    /// The BufferPool's memory, mapped MAP_SHARED from its memfd.
    let base: UnsafeMutableRawPointer
    let slabSize: Int
    let slabCount: Int
    /// Where drained output goes after the cap.
    let devNull: Int32
    let captureBufferSize: Int
    /// Copy buffers for read/write captures, registered after the slabs (index slabCount + slot).
    let captureArea: UnsafeMutableRawPointer
    static let captureSlots = 8
    var freeSlots = Array((0..<Server.captureSlots).reversed())
    var streams: [Int: Stream] = [:]
    var nextStreamID = 1
    /// "io_uring", "syscalls" or "none".
    var backendName = "syscalls"
    var note = ""
    var fixedBuffers = false
    var seccompInstalled = false
    #if !ENVYRO_NO_URING
    var ring: Ring?
    var socketArmed = false
    #endif

    /// Capture method when the request says `automatic`. Measured here (kernel 6.18, ext4,
    /// 1 GiB from `head -c`, 1 MiB pipes): read/write beats splice(2) pipe→file with both
    /// backends (splice to a file copies anyway, and io_uring runs splice on a worker thread).
    static let preferredCaptureMethod = CaptureMethod.readWrite

    private init(socket: SeqPacketSocket, base: UnsafeMutableRawPointer, slabSize: Int, slabCount: Int,
                 devNull: Int32, captureBufferSize: Int, captureArea: UnsafeMutableRawPointer) {
        self.socket = socket
        self.base = base
        self.slabSize = slabSize
        self.slabCount = slabCount
        self.devNull = devNull
        self.captureBufferSize = captureBufferSize
        self.captureArea = captureArea
    }

    /// Maps the pool, sets the backend up, installs the seccomp filter and answers `hello`.
    static func start(socket: SeqPacketSocket, hello: IOHello, memfd: Int32, requestID: UInt32) throws(WorkerError) -> Server {
        let slabSize = Int(hello.slabSize), slabCount = Int(hello.slabCount)
        let total = slabSize * slabCount
        var st = stat()
        guard fstat(memfd, &st) == 0 else {
            throw WorkerError(errno: errno, operation: "fstat memfd", message: "cannot inspect the buffer pool's memfd")
        }
        guard Int(st.st_size) >= total else {
            throw WorkerError(errno: EINVAL, operation: "io_hello",
                              message: "the memfd holds \(st.st_size) bytes, fewer than \(slabCount) slabs of \(slabSize); send the pool's own memfd and geometry")
        }
        guard let mapped = mmap(nil, total, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0), mapped != MAP_FAILED else {
            throw WorkerError(errno: errno, operation: "mmap memfd", message: "cannot map the buffer pool (\(total) bytes)")
        }
        close(memfd)
        let devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)
        guard devNull >= 0 else { throw WorkerError(errno: errno, operation: "open /dev/null", message: "cannot open /dev/null to drain capped output") }
        let captureSize = Int(hello.captureBufferSize)
        guard let area = mmap(nil, captureSize * captureSlots, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), area != MAP_FAILED else {
            throw WorkerError(errno: errno, operation: "mmap", message: "cannot allocate \(captureSlots) capture buffers of \(captureSize) bytes")
        }
        let server = Server(socket: socket, base: mapped, slabSize: slabSize, slabCount: slabCount, devNull: devNull,
                            captureBufferSize: captureSize, captureArea: area)
        try server.setUpBackend(hello)
        if hello.seccomp {
            try Sandbox.install()
            server.seccompInstalled = true
        }
        #if !ENVYRO_NO_URING
        let depth = server.ring?.depth ?? 0
        #else
        let depth: UInt32 = 0
        #endif
        let reply = IOHelloReply(workerPID: getpid(), backend: server.backendName, fixedBuffers: server.fixedBuffers,
                                 queueDepth: depth, seccomp: server.seccompInstalled, note: server.note)
        do { try socket.send(IOCodec.encode(.helloReply(reply), requestID: requestID)) } catch {
            exit(0)
        }
        return server
    }

    private func setUpBackend(_ hello: IOHello) throws(WorkerError) {
        #if ENVYRO_NO_URING
        backendName = "none"
        note = "built with ENVYRO_NO_URING: every operation fails"
        #else
        if hello.backend == .syscalls {
            note = "plain syscalls, as asked"
            return
        }
        if hello.backend == .refuseIOUringBySeccomp { try Sandbox.refuseIOUringSetup() }
        let ring: Ring
        do { ring = try Ring.make(depth: hello.queueDepth, startDisabled: true) } catch {
            note = "io_uring refused (\(error.failure.message)); using plain syscalls"
            return
        }
        // Fixed buffers: every slab, then the capture slots.
        var iov: [iovec] = (0..<slabCount).map { iovec(iov_base: base + $0 * slabSize, iov_len: slabSize) }
        for slot in 0..<Server.captureSlots {
            iov.append(iovec(iov_base: captureArea + slot * captureBufferSize, iov_len: captureBufferSize))
        }
        let r = io_uring_register_buffers(ring.ring, iov, UInt32(iov.count))
        fixedBuffers = r == 0
        var notes: [String] = []
        if r < 0 { notes.append("fixed buffers not registered (\(Errno.describe(-r)); raise RLIMIT_MEMLOCK)") }
        // The opcodes capture uses: reads and writes of the pipes and files, splice, and the
        // socket's poll. No SQE flags are needed.
        let ops: [UInt8] = [IORING_OP_READ_FIXED, IORING_OP_WRITE_FIXED, IORING_OP_READ, IORING_OP_WRITE,
                            IORING_OP_SPLICE, IORING_OP_POLL_ADD].map { UInt8($0.rawValue) }
        if ops.withUnsafeBufferPointer({ envyro_uring_restrict_and_enable(ring.ring, $0.baseAddress!, UInt32($0.count), 0) }) != 0 {
            if envyro_uring_enable(ring.ring) != 0 {
                note = "io_uring ring could not be enabled; using plain syscalls"
                return
            }
            notes.append("ring not restricted")
        }
        self.ring = ring
        backendName = "io_uring"
        note = notes.joined(separator: "; ")
        #endif
    }

    /// Serves until the supervisor closes the socket; returns the exit status.
    func serve() -> Int32 {
        #if !ENVYRO_NO_URING
        if let ring { return serveRing(ring) }
        #endif
        return servePoll()
    }

    // MARK: requests

    /// Reads and answers the frames waiting on the socket; false when the worker must exit
    /// (EOF, or a frame that closes the connection).
    func handleSocket() -> Bool {
        guard let packet = try? socket.receive(capacity: IOCodec.maxFrameBytes + 1, maxFDs: 4) else { return false }
        func reject(_ why: String) -> Bool {
            for fd in packet.fds { close(fd) }
            let line = "envyro-ioworker: rejected a frame (\(why)); closing the connection\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
            return false
        }
        if packet.truncated || packet.controlTruncated || packet.tooManyFDs {
            return reject("larger than \(IOCodec.maxFrameBytes) bytes or with too many descriptors")
        }
        let frame: IOFrame
        do { frame = try IOCodec.decode(packet.bytes, fileDescriptorCount: packet.fds.count, expecting: .request) } catch {
            return reject("\(error)")
        }
        let reply: IOMessage
        switch frame.message {
        case .captureStart(let c): reply = startCapture(c, fds: packet.fds, requestID: frame.requestID)
        default: return reject("\(frame.message.verb.name) is not permitted after io_hello")
        }
        do { try socket.send(IOCodec.encode(reply, requestID: frame.requestID)) } catch { return false }
        return true
    }

    func failure(_ errno: Int32, _ operation: String, _ message: String) -> IOMessage {
        .failed(WorkerError(errno: errno, operation: operation, message: message).failure)
    }

    #if ENVYRO_NO_URING
    func compiledOut(_ verb: IOVerb) -> IOMessage {
        failure(0, verb.name, "envyro-ioworker was built with ENVYRO_NO_URING, which compiles its operations out; rebuild without ENVYRO_NO_URING in the environment to use \(verb.name)")
    }
    #endif

    // MARK: capture

    func startCapture(_ c: IOCaptureStart, fds: [Int32], requestID: UInt32) -> IOMessage {
        #if ENVYRO_NO_URING
        for fd in fds { close(fd) }
        return compiledOut(.captureStart)
        #else
        let method: CaptureMethod = c.method != .automatic ? c.method : Server.preferredCaptureMethod
        var files: [Int32] = []
        for path in [c.stdoutPath, c.stderrPath] {
            let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | (c.append ? O_APPEND : O_TRUNC), mode_t(c.mode))
            if fd < 0 {
                let e = errno
                for f in files + fds { close(f) }
                return failure(e, "open \(path)", "cannot open the log file \(path)")
            }
            files.append(fd)
        }
        for (i, which) in CaptureStreamID.allCases.enumerated() {
            let s = Stream(id: nextStreamID, captureID: requestID, which: which, pipe: fds[i], file: files[i],
                           tee: c.tee ? fds[2 + i] : -1, cap: c.capBytes, method: method)
            nextStreamID += 1
            if method == .readWrite { attachBuffer(s) }
            if ring == nil { _ = fcntl(s.pipe, F_SETFL, fcntl(s.pipe, F_GETFL) | O_NONBLOCK) }
            streams[s.id] = s
            if let ring { advance(s, ring) }
        }
        return .captureStarted(IOCaptureStarted(method: method))
        #endif
    }

    /// Gives a read/write stream a copy buffer: a registered slot when one is free.
    func attachBuffer(_ s: Stream) {
        s.bufferSize = captureBufferSize
        if let slot = freeSlots.popLast() {
            s.buffer = captureArea + slot * captureBufferSize
            s.bufferIndex = fixedBuffers ? Int32(slabCount + slot) : -1
            s.slot = slot
        } else {
            s.buffer = UnsafeMutableRawPointer.allocate(byteCount: captureBufferSize, alignment: 4096)
        }
    }

    /// The pipe reached EOF (or failed): close everything and report.
    func finish(_ s: Stream, errno e: Int32 = 0) {
        guard !s.finished else { return }
        s.finished = true
        if e != 0 && s.writeErrno == 0 { s.writeErrno = e }
        s.closeAll()
        if let slot = s.slot {
            freeSlots.append(slot)
        } else if let buffer = s.buffer {
            buffer.deallocate()
        }
        s.buffer = nil
        streams[s.id] = nil
        try? socket.send(IOCodec.encode(.captureDone(s.report), requestID: s.captureID))
    }

    // MARK: the poll loop (syscall backend)

    private func servePoll() -> Int32 {
        while true {
            let live = streams.values.sorted { $0.id < $1.id }
            var pfds = [pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0)]
            pfds += live.map { pollfd(fd: $0.pipe, events: Int16(POLLIN), revents: 0) }
            if poll(&pfds, nfds_t(pfds.count), -1) < 0 {
                if errno == EINTR { continue }
                return 1
            }
            for (i, s) in live.enumerated() where pfds[i + 1].revents != 0 { step(s) }
            if pfds[0].revents != 0, !handleSocket() { return 0 }
        }
    }

    /// Moves what the pipe holds (up to 16 chunks) with plain syscalls.
    private func step(_ s: Stream) {
        #if !ENVYRO_NO_URING
        for _ in 0..<16 {
            var n: Int
            if s.draining {
                n = envyro_io_splice(s.pipe, devNull, 1 << 20, UInt32(ENVYRO_SPLICE_F_NONBLOCK))
                if n > 0 {
                    s.received += UInt64(n)
                    if s.cap > 0 { s.markTruncated() }
                    continue
                }
            } else if s.method == .splice {
                n = envyro_io_splice(s.pipe, s.file, Int(min(s.remainingCap, 1 << 20)), UInt32(ENVYRO_SPLICE_F_MOVE | ENVYRO_SPLICE_F_NONBLOCK))
                if n > 0 {
                    s.received += UInt64(n)
                    s.written += UInt64(n)
                    continue
                }
                if n < 0 && errno != EAGAIN && errno != EINTR {
                    s.writeErrno = errno
                    continue
                }
            } else {
                n = read(s.pipe, s.buffer!, s.bufferSize)
                if n > 0 {
                    s.received += UInt64(n)
                    let k = Int(min(UInt64(n), s.remainingCap))
                    if k > 0 {
                        if writeAll(s.file, s.buffer!, k) { s.written += UInt64(k) } else { s.writeErrno = errno }
                        if s.tee >= 0, !writeAll(s.tee, s.buffer!, k) { s.dropTee() }
                    }
                    if k < n { s.markTruncated() }
                    continue
                }
            }
            if n == 0 { finish(s); return }
            if errno == EINTR { continue }
            if errno == EAGAIN { return }
            finish(s, errno: errno)
            return
        }
    #endif
    }

    // MARK: the io_uring loop

    #if !ENVYRO_NO_URING
    static let socketTag: UInt64 = 2 << 56
    enum StreamOp: UInt64 { case read = 1, fileWrite, teeWrite, spliceFile, discard }

    private func tag(_ s: Stream, _ op: StreamOp) -> UInt64 { 1 << 56 | UInt64(s.id) << 8 | op.rawValue }

    private func serveRing(_ ring: Ring) -> Int32 {
        var batch: [Completion] = []
        while true {
            if !socketArmed {
                let sqe = ring.sqe()
                io_uring_prep_poll_add(sqe, socket.fd, UInt32(POLLIN))
                io_uring_sqe_set_data64(sqe, Server.socketTag)
                socketArmed = true
            }
            batch.removeAll(keepingCapacity: true)
            ring.submitAndWait()
            ring.reap(into: &batch)
            for c in batch {
                if c.tag == Server.socketTag {
                    socketArmed = false
                    repeat {
                        if !handleSocket() { return 0 }
                    } while ((try? Poll.readable([socket.fd], timeoutMs: 0)) ?? []).isEmpty == false
                } else if c.tag >> 56 == 1, let s = streams[Int((c.tag >> 8) & 0xFFFF_FFFF)], let op = StreamOp(rawValue: c.tag & 0xFF) {
                    completed(s, op, c.result, ring)
                }
            }
        }
    }

    /// Queues the stream's next operation.
    private func advance(_ s: Stream, _ ring: Ring) {
        let sqe = ring.sqe()
        if s.draining {
            io_uring_prep_splice(sqe, s.pipe, -1, devNull, -1, 1 << 20, 0)
            io_uring_sqe_set_data64(sqe, tag(s, .discard))
        } else if s.method == .splice {
            io_uring_prep_splice(sqe, s.pipe, -1, s.file, -1, UInt32(min(s.remainingCap, 1 << 20)), UInt32(ENVYRO_SPLICE_F_MOVE))
            io_uring_sqe_set_data64(sqe, tag(s, .spliceFile))
        } else if s.bufferIndex >= 0 {
            io_uring_prep_read_fixed(sqe, s.pipe, s.buffer, UInt32(s.bufferSize), UInt64.max, s.bufferIndex)
            io_uring_sqe_set_data64(sqe, tag(s, .read))
        } else {
            io_uring_prep_read(sqe, s.pipe, s.buffer, UInt32(s.bufferSize), UInt64.max)
            io_uring_sqe_set_data64(sqe, tag(s, .read))
        }
        s.inFlight += 1
    }

    /// Queues the rest of a pending file or tee write.
    private func submitWrite(_ s: Stream, tee: Bool, _ ring: Ring) {
        guard let pending = tee ? s.teeWrite : s.fileWrite, let buffer = s.buffer else { return }
        let sqe = ring.sqe()
        let fd = tee ? s.tee : s.file
        if s.bufferIndex >= 0 {
            io_uring_prep_write_fixed(sqe, fd, buffer + pending.offset, UInt32(pending.remaining), UInt64.max, s.bufferIndex)
        } else {
            io_uring_prep_write(sqe, fd, buffer + pending.offset, UInt32(pending.remaining), UInt64.max)
        }
        io_uring_sqe_set_data64(sqe, tag(s, tee ? .teeWrite : .fileWrite))
        s.inFlight += 1
    }

    private func completed(_ s: Stream, _ op: StreamOp, _ res: Int32, _ ring: Ring) {
        s.inFlight -= 1
        let retry = res == -EINTR || res == -EAGAIN
        switch op {
        case .read:
            if retry { advance(s, ring); return }
            if res <= 0 { finish(s, errno: -min(res, 0)); return }
            s.received += UInt64(res)
            let k = Int(min(UInt64(res), s.remainingCap))
            if k < Int(res) { s.truncateAfterWrite = true }
            if k > 0 {
                s.fileWrite = (0, k)
                submitWrite(s, tee: false, ring)
                if s.tee >= 0 {
                    s.teeWrite = (0, k)
                    submitWrite(s, tee: true, ring)
                }
            }
        case .fileWrite, .teeWrite:
            let isTee = op == .teeWrite
            if retry {
                submitWrite(s, tee: isTee, ring)
            } else if res <= 0 {
                if isTee { s.teeWrite = nil; s.dropTee() } else { s.fileWrite = nil; s.writeErrno = res < 0 ? -res : EIO }
            } else {
                var pending = (isTee ? s.teeWrite : s.fileWrite)!
                pending.offset += Int(res)
                pending.remaining -= Int(res)
                if !isTee { s.written += UInt64(res) }
                let next: (offset: Int, remaining: Int)? = pending.remaining > 0 ? pending : nil
                if isTee { s.teeWrite = next } else { s.fileWrite = next }
                if next != nil { submitWrite(s, tee: isTee, ring) }
            }
        case .spliceFile:
            if retry { advance(s, ring); return }
            if res == 0 { finish(s); return }
            if res < 0 {
                s.writeErrno = -res
            } else {
                s.received += UInt64(res)
                s.written += UInt64(res)
            }
        case .discard:
            if retry { advance(s, ring); return }
            if res <= 0 { finish(s, errno: -min(res, 0)); return }
            s.received += UInt64(res)
            if s.cap > 0 { s.markTruncated() }
        }
        if s.inFlight == 0 {
            if s.truncateAfterWrite {
                s.truncateAfterWrite = false
                s.markTruncated()
            }
            advance(s, ring)
        }
    }
    #endif
}
