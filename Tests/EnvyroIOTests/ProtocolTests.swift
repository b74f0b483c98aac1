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
    .captureStart(IOCaptureStart(stdoutPath: "/l/o", stderrPath: "/l/e", capBytes: 1 << 20, tee: true)),
    .helloReply(IOHelloReply(workerPID: 42, backend: "io_uring", fixedBuffers: true, queueDepth: 64, seccomp: true, note: "")),
    .captureStarted(IOCaptureStarted(method: .splice)),
    .captureDone(IOCaptureDone(stream: .stderr, received: 10, written: 8, truncated: true)),
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
        let start = IOCodec.encode(.captureStart(IOCaptureStart(stdoutPath: "/o", stderrPath: "/e")), requestID: 1)
        func rejects(_ bytes: [UInt8], fds: Int = 2, _ direction: Direction = .request, because reason: String) {
            #expect(throws: ProtocolError.self, "\(reason)") { try IOCodec.decode(bytes, fileDescriptorCount: fds, expecting: direction) }
        }
        rejects(Array(start.prefix(10)), because: "short header")
        rejects(start + [0], because: "trailing byte (length mismatch)")
        var trailing = start + [0]
        trailing[12] &+= 1
        rejects(trailing, because: "trailing byte inside the declared length")
        var magic = start
        magic[0] ^= 0xFF
        rejects(magic, because: "bad magic")
        var verb = start
        verb[6] = 0x02; verb[7] = 0x00     // the helper protocol's `create`
        rejects(verb, because: "a helper-protocol verb")
        for retired: UInt8 in [0x02, 0x03, 0x04, 0x06] {
            var old = start
            old[6] = retired; old[7] = 0x01     // read_file, write_file, list_directory, stats
            rejects(old, fds: 0, because: "a retired verb 0x01\(String(retired, radix: 16))")
        }
        rejects(start, .replyOrEvent, because: "a request where a reply is expected")
        rejects(start, fds: 1, because: "one descriptor on capture_start")
        rejects(IOCodec.encode(.captureStart(IOCaptureStart(stdoutPath: "/o", stderrPath: "/e", tee: true)), requestID: 1), fds: 2,
                because: "capture_start with tee but only two descriptors")
        rejects(IOCodec.encode(.captureStart(IOCaptureStart(stdoutPath: "/o", stderrPath: "/o")), requestID: 1), fds: 2,
                because: "stdout and stderr into one file")
        rejects(IOCodec.encode(.captureStart(IOCaptureStart(stdoutPath: "/o", stderrPath: "/e", tee: true, method: .splice)), requestID: 1), fds: 4,
                because: "splice with tee")
        rejects(IOCodec.encode(.hello(IOHello(slabSize: 1000, slabCount: 1)), requestID: 1), fds: 1, because: "a slab size that is not page-aligned")
        rejects(IOCodec.encode(.hello(IOHello(slabSize: 4096, slabCount: 1, queueDepth: 0)), requestID: 1), fds: 1, because: "queue depth 0")
        rejects(IOCodec.encode(.captureDone(IOCaptureDone(stream: .stdout, received: 1, written: 2, truncated: false)), requestID: 1),
                fds: 0, .replyOrEvent, because: "more written than received")
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
        let start = IOCodec.encode(.captureStart(IOCaptureStart(stdoutPath: "/o", stderrPath: "/e")), requestID: 2)
        var magic = start
        magic[1] ^= 0x55
        var retired = start
        retired[6] = 0x02; retired[7] = 0x01     // read_file, retired
        return [
            ("garbage", [1, 2, 3], 0),
            ("bad magic", magic, 2),
            ("a reply verb", IOCodec.encode(.captureStarted(IOCaptureStarted(method: .splice)), requestID: 2), 0),
            ("a second hello", IOCodec.encode(.hello(IOHello(slabSize: 4096, slabCount: 2)), requestID: 2), 1),
            ("a trailing byte", start + [0], 2),
            ("one descriptor on capture_start", start, 1),
            ("a retired verb", retired, 0),
            ("capture_start without its pipes", start, 0),
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

    @Test("A capture_start the worker can't carry out is refused and the connection stays")
    func refusedCapture() throws {
        let worker = try RawWorker()
        for id: UInt32 in 2...3 {
            let fds = (0..<2).map { _ in open("/dev/null", O_RDONLY | O_CLOEXEC) }
            defer { for fd in fds { close(fd) } }
            let bad = IOCodec.encode(.captureStart(IOCaptureStart(stdoutPath: "/nonexistent/o", stderrPath: "/nonexistent/e")), requestID: id)
            guard case .failed(let f) = try #require(try worker.exchange(bad, fds: fds)) else { Issue.record("not refused"); return }
            #expect(f.errno == ENOENT && f.message.contains("/nonexistent/o"))
        }
        #expect(worker.reap() == 0)
    }
}
