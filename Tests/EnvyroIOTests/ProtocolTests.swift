import CEnvyro
import EnvyroEngine
import EnvyroIO
import EnvyroProtocol
import EnvyroSystem
import Foundation
import Testing

/// One valid instance of every I/O message.
let everyMessage: [IOMessage] = [
    .hello(IOHello(slabSize: 65536, slabCount: 8)),
    .readFile(IOReadFile(path: "/etc/hosts", fileOffset: 7, region: SlabRegion(slab: 1, offset: 2, length: 3))),
    .writeFile(IOWriteFile(path: "/tmp/x", flags: [.create, .append], mode: 0o600, region: SlabRegion(slab: 0, offset: 0, length: 9))),
    .listDirectory(IOListDirectory(path: "/", startIndex: 4, region: SlabRegion(slab: 2, offset: 0, length: 4096))),
    .captureStart(IOCaptureStart(stdoutPath: "/l/o", stderrPath: "/l/e", capBytes: 1 << 20, tee: true)),
    .stats,
    .helloReply(IOHelloReply(workerPID: 42, backend: "io_uring", fixedBuffers: true, queueDepth: 64, seccomp: true, note: "")),
    .readDone(IOReadDone(count: 5, endOfFile: true)),
    .writeDone(IOWriteDone(count: 5)),
    .listed(IOListed(count: 2, length: 10, complete: false)),
    .captureStarted(IOCaptureStarted(method: .splice)),
    .captureDone(IOCaptureDone(stream: .stderr, received: 10, written: 8, truncated: true)),
    .statsReply(IOStatsReply(requests: 1, userMicros: 5)),
    .failed(IOFailure(errno: 2, operation: "open /x", message: "cannot open /x: No such file or directory")),
]

@Suite("The I/O protocol decodes strictly")
struct IOCodecTests {
    @Test("Every message survives an encode/decode round trip")
    func roundTrip() throws {
        for message in everyMessage {
            let bytes = try IOCodec.encodeValidated(message, requestID: 77)
            let frame = try IOCodec.decode(bytes, fileDescriptorCount: message.fileDescriptorCount,
                                           expecting: message.verb.isRequest ? .request : .replyOrEvent)
            #expect(frame == IOFrame(requestID: 77, message: message))
        }
    }

    @Test("Malformed, misdirected and mis-sized frames are rejected")
    func rejections() throws {
        let read = IOCodec.encode(.readFile(IOReadFile(path: "/x", region: SlabRegion(slab: 0, offset: 0, length: 1))), requestID: 1)
        func rejects(_ bytes: [UInt8], fds: Int = 0, _ direction: Direction = .request, because reason: String) {
            #expect(throws: ProtocolError.self, "\(reason)") { try IOCodec.decode(bytes, fileDescriptorCount: fds, expecting: direction) }
        }
        rejects(Array(read.prefix(10)), because: "short header")
        rejects(read + [0], because: "trailing byte (length mismatch)")
        var trailing = read + [0]
        trailing[12] &+= 1
        rejects(trailing, because: "trailing byte inside the declared length")
        var magic = read
        magic[0] ^= 0xFF
        rejects(magic, because: "bad magic")
        var verb = read
        verb[6] = 0x02; verb[7] = 0x00     // the helper protocol's `create`
        rejects(verb, because: "a helper-protocol verb")
        rejects(read, .replyOrEvent, because: "a request where a reply is expected")
        rejects(read, fds: 1, because: "a descriptor on read_file")
        rejects(IOCodec.encode(.captureStart(IOCaptureStart(stdoutPath: "/o", stderrPath: "/e", tee: true)), requestID: 1), fds: 2,
                because: "capture_start with tee but only two descriptors")
        rejects(IOCodec.encode(.readFile(IOReadFile(path: "relative", region: SlabRegion(slab: 0, offset: 0, length: 1))), requestID: 1),
                because: "a relative path")
        rejects(IOCodec.encode(.writeFile(IOWriteFile(path: "/x", flags: [.truncate, .append], region: SlabRegion(slab: 0, offset: 0, length: 1))), requestID: 1),
                because: "truncate with append")
        rejects(IOCodec.encode(.captureStart(IOCaptureStart(stdoutPath: "/o", stderrPath: "/o")), requestID: 1), fds: 2,
                because: "stdout and stderr into one file")
        rejects(IOCodec.encode(.captureStart(IOCaptureStart(stdoutPath: "/o", stderrPath: "/e", tee: true, method: .splice)), requestID: 1), fds: 4,
                because: "splice with tee")
        rejects(IOCodec.encode(.hello(IOHello(slabSize: 1000, slabCount: 1)), requestID: 1), fds: 1, because: "a slab size that is not page-aligned")
        rejects(IOCodec.encode(.hello(IOHello(slabSize: 4096, slabCount: 1, queueDepth: 0)), requestID: 1), fds: 1, because: "queue depth 0")
        rejects(IOCodec.encode(.captureDone(IOCaptureDone(stream: .stdout, received: 1, written: 2, truncated: false)), requestID: 1),
                .replyOrEvent, because: "more written than received")
        rejects([UInt8](repeating: 0, count: IOCodec.maxFrameBytes + 1), because: "oversized")
    }

    @Test("Seeded mutations of valid frames never crash the decoder")
    func fuzz() {
        var mutator = FrameMutator(seed: 0xE1)
        for i in 0..<20_000 {
            let message = everyMessage[i % everyMessage.count]
            let bytes = mutator.mutate(IOCodec.encode(message, requestID: UInt32(i)))
            _ = try? IOCodec.decode(bytes, fileDescriptorCount: message.fileDescriptorCount, expecting: .request)
            _ = try? IOCodec.decode(bytes, fileDescriptorCount: 0, expecting: .replyOrEvent)
        }
    }
}

/// A worker spoken to directly over a socketpair, to send it frames no client would send.
final class RawWorker {
    let pid: pid_t
    let socket: SeqPacketSocket
    let pool: BufferPool

    init() throws {
        pool = try BufferPool(slabSize: 4096, slabCount: 2, name: "raw")
        let (mine, theirs) = try SeqPacketSocket.pair()
        let path = IOWorkerClient.locateWorker()
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
        defer { free(argv[0]) }
        pid = envyro_spawn_helper(path, &argv, envyro_environ(), theirs.fd)
        theirs.close()
        socket = mine
        try socket.send(IOCodec.encode(.hello(IOHello(slabSize: 4096, slabCount: 2)), requestID: 1), fds: [pool.memfd])
        let reply = try #require(try socket.receive(capacity: 65536, maxFDs: 0))
        guard case .helloReply = try IOCodec.decode(reply.bytes, fileDescriptorCount: 0, expecting: .replyOrEvent).message else {
            throw POSIXError(.EPROTO)
        }
    }

    /// Sends `bytes` and returns the reply, or nil when the worker closed the connection.
    func exchange(_ bytes: [UInt8], fds: [Int32] = []) throws -> IOMessage? {
        try socket.send(bytes, fds: fds)
        guard let packet = try socket.receive(capacity: 65536, maxFDs: 0) else { return nil }
        return try IOCodec.decode(packet.bytes, fileDescriptorCount: 0, expecting: .replyOrEvent).message
    }

    /// Waits for the worker; returns its wait status.
    func reap() -> Int32 {
        socket.close()
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return status
    }
}

@Suite("The I/O worker rejects bad frames")
struct WorkerRejectionTests {
    static let bad: [(String, [UInt8], Int)] = {
        let read = IOCodec.encode(.readFile(IOReadFile(path: "/etc/hostname", region: SlabRegion(slab: 0, offset: 0, length: 10))), requestID: 2)
        var magic = read
        magic[1] ^= 0x55
        return [
            ("garbage", [1, 2, 3], 0),
            ("bad magic", magic, 0),
            ("a reply verb", IOCodec.encode(.readDone(IOReadDone(count: 1, endOfFile: true)), requestID: 2), 0),
            ("a second hello", IOCodec.encode(.hello(IOHello(slabSize: 4096, slabCount: 2)), requestID: 2), 1),
            ("a trailing byte", read + [0], 0),
            ("a descriptor on read_file", read, 1),
            ("capture_start without its pipes", IOCodec.encode(.captureStart(IOCaptureStart(stdoutPath: "/o", stderrPath: "/e")), requestID: 2), 0),
        ]
    }()

    @Test("A malformed or unpermitted frame closes the connection and the worker exits", arguments: 0..<bad.count)
    func closes(_ index: Int) throws {
        let (name, bytes, fdCount) = Self.bad[index]
        let worker = try RawWorker()
        let fds = (0..<fdCount).map { _ in open("/dev/null", O_RDONLY | O_CLOEXEC) }
        defer { for fd in fds { close(fd) } }
        #expect(try worker.exchange(bytes, fds: fds) == nil, "\(name) was answered")
        let status = worker.reap()
        #expect(status & 0x7F == 0, "the worker crashed on \(name)")
    }

    @Test("A region outside the pool is refused and the connection stays")
    func outsideThePool() throws {
        let worker = try RawWorker()
        let far = IOCodec.encode(.readFile(IOReadFile(path: "/etc/hostname", region: SlabRegion(slab: 2, offset: 0, length: 1))), requestID: 2)
        guard case .failed(let f) = try #require(try worker.exchange(far)) else { Issue.record("not refused"); return }
        #expect(f.errno == EINVAL && f.message.contains("outside the pool"))
        let long = IOCodec.encode(.readFile(IOReadFile(path: "/etc/hostname", region: SlabRegion(slab: 1, offset: 4000, length: 200))), requestID: 3)
        guard case .failed = try #require(try worker.exchange(long)) else { Issue.record("not refused"); return }
        let ok = IOCodec.encode(.stats, requestID: 4)
        guard case .statsReply(let s) = try #require(try worker.exchange(ok)) else { Issue.record("no stats"); return }
        #expect(s.requests == 3)
        #expect(worker.reap() == 0)
    }
}
