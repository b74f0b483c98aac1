// envyro-ioworker: the supervisor's file I/O and log capture, in a process of its own.
//
// Started by the supervisor with a SOCK_SEQPACKET socket as fd 3; exits when that socket
// closes. The first frame is `io_hello` carrying the BufferPool's memfd: the worker maps it
// MAP_SHARED, creates an io_uring (or falls back to plain syscalls where the kernel refuses
// one), registers the slabs as fixed buffers, installs its own seccomp filter, answers with the
// active backend, and then serves requests that name slabs, never carry data. No Foundation.
import CEnvyro
import EnvyroProtocol
import EnvyroSystem
import Glibc
#if !ENVYRO_NO_URING
import CURing
#endif

/// A failed step, reported to the supervisor as `io_failed`.
struct WorkerError: Error {
    var errno: Int32
    var operation: String
    var message: String

    /// The wire form: the message ends with the errno's text.
    var failure: IOFailure {
        IOFailure(errno: errno, operation: operation, message: errno == 0 ? message : "\(message): \(Errno.describe(errno))")
    }
}

/// Prints `message` to stderr and exits with `code`.
func die(_ message: String, code: Int32 = 2) -> Never {
    let line = "envyro-ioworker: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(code)
}

@main
struct IOWorkerMain {
    static func main() {
        // The supervisor forwards terminal signals where they belong; a dead tee target must
        // give EPIPE, not kill the worker.
        signal(SIGINT, SIG_IGN)
        signal(SIGQUIT, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)

        var socketFD: Int32 = 3
        var args = CommandLine.arguments.dropFirst()
        while let arg = args.popFirst() {
            switch arg {
            case "--fd":
                guard let v = args.popFirst(), let n = Int32(v), n >= 3 else { die("--fd needs a descriptor number >= 3") }
                socketFD = n
            default:
                die("unknown argument '\(arg)' (envyro-ioworker is started by envyro, not by hand)")
            }
        }
        var type: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(socketFD, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != Int32(SOCK_SEQPACKET.rawValue) {
            die("fd \(socketFD) is not a SOCK_SEQPACKET socket (envyro-ioworker is started by envyro, not by hand)")
        }
        _ = fcntl(socketFD, F_SETFD, FD_CLOEXEC)
        // Nothing else the supervisor had open may stay here: a stray write end of a captured
        // pipe would keep that capture from ever seeing EOF.
        if socketFD == 3 { _ = envyro_close_range_from(4, 0) }
        let socket = SeqPacketSocket(fd: socketFD)

        // hello: exactly one frame with the memfd.
        guard let packet = try? socket.receive(capacity: IOCodec.maxFrameBytes + 1, maxFDs: 4) else { exit(0) }
        let frame: IOFrame
        do {
            guard !packet.truncated, !packet.controlTruncated, !packet.tooManyFDs else {
                throw ProtocolError.oversized(packet.bytes.count, max: IOCodec.maxFrameBytes)
            }
            frame = try IOCodec.decode(packet.bytes, fileDescriptorCount: packet.fds.count, expecting: .request)
        } catch {
            die("rejected the first frame: \(error); closing the connection", code: 3)
        }
        guard case .hello(let hello) = frame.message else {
            die("the first frame was \(frame.message.verb.name), not io_hello; closing the connection", code: 3)
        }
        let memfd = packet.fds[0]
        do {
            let server = try Server.start(socket: socket, hello: hello, memfd: memfd, requestID: frame.requestID)
            exit(server.serve())
        } catch {
            try? socket.send(IOCodec.encode(.failed(error.failure), requestID: frame.requestID))
            exit(1)
        }
    }
}
