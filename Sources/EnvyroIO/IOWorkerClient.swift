import CEnvyro
import EnvyroEngine
import EnvyroProtocol
import EnvyroSystem
import Glibc
import Synchronization

/// Everything that can go wrong talking to the I/O worker. Each description says what happened
/// and what to do.
public enum IOWorkerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Built with ENVYRO_NO_URING: the operation is compiled out.
    case compiledOut(operation: String)
    /// The worker executable is missing or not executable.
    case workerMissing(path: String, errno: Int32)
    /// The worker exited (or was killed) while `operation` was pending.
    case workerExited(detail: String, operation: String)
    /// The worker answered `io_failed`.
    case refused(operation: String, failure: IOFailure)
    /// The worker sent something the protocol does not allow.
    case protocolViolation(String)
    /// An argument can't be sent (relative path, bad size...).
    case invalidArgument(String)
    /// A system call in the supervisor failed.
    case system(SystemError)
    /// `waitCapture` was given a handle that is unknown or already waited for.
    case unknownCapture(UInt32)

    public var description: String {
        switch self {
        case .compiledOut(let op):
            return "\(op) is unavailable: Envyro was built with ENVYRO_NO_URING, which compiles the I/O worker out; rebuild without ENVYRO_NO_URING set"
        case .workerMissing(let path, let code):
            return "the I/O worker \(path) can't be run (\(Errno.describe(code))); build it (swift build --product envyro-ioworker), install it beside envyro, or set ENVYRO_IOWORKER"
        case .workerExited(let detail, let op):
            return "the I/O worker exited (\(detail)) during \(op); the next request starts a new one"
        case .refused(let op, let f):
            return "\(op) failed: \(f.message)"
        case .protocolViolation(let detail):
            return "the I/O worker broke the protocol: \(detail); it was stopped and the next request starts a new one"
        case .invalidArgument(let detail):
            return detail
        case .system(let e):
            return "\(e)"
        case .unknownCapture(let id):
            return "capture \(id) is unknown or was already waited for; call waitCapture once per startCapture"
        }
    }
}

/// How the I/O worker is started.
public struct IOWorkerConfiguration: Sendable, Equatable {
    /// The worker executable (see ``IOWorkerClient/locateWorker(executablePath:)``).
    public var executablePath: String
    /// io_uring submission queue entries.
    public var queueDepth: Int
    /// Bytes of each read/write capture stream's copy buffer.
    public var captureBufferSize: Int
    /// io_uring when allowed, or plain syscalls.
    public var backend: IOBackendPreference
    /// Whether the worker installs its seccomp filter.
    public var seccomp: Bool
    /// Capacity asked for capture pipes (F_SETPIPE_SZ; limited by /proc/sys/fs/pipe-max-size
    /// for non-root users). 0 keeps the kernel default.
    public var pipeSize: Int
    /// The descriptors `tee: true` copies stdout and stderr to.
    public var teeDescriptors: (stdout: Int32, stderr: Int32)

    /// A configuration; defaults are those of the supervisor.
    public init(executablePath: String = IOWorkerClient.locateWorker(), queueDepth: Int = 64, captureBufferSize: Int = 256 * 1024,
                backend: IOBackendPreference = .automatic, seccomp: Bool = true, pipeSize: Int = 1 << 20,
                teeDescriptors: (stdout: Int32, stderr: Int32) = (1, 2)) {
        self.executablePath = executablePath
        self.queueDepth = queueDepth
        self.captureBufferSize = captureBufferSize
        self.backend = backend
        self.seccomp = seccomp
        self.pipeSize = pipeSize
        self.teeDescriptors = teeDescriptors
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.executablePath == b.executablePath && a.queueDepth == b.queueDepth && a.captureBufferSize == b.captureBufferSize
            && a.backend == b.backend && a.seccomp == b.seccomp && a.pipeSize == b.pipeSize
            && a.teeDescriptors.stdout == b.teeDescriptors.stdout && a.teeDescriptors.stderr == b.teeDescriptors.stderr
    }
}

/// Identifies a running capture for ``IOWorkerClient/waitCapture(_:)``.
public struct CaptureHandle: Sendable, Hashable {
    /// The capture_start request id.
    public let id: UInt32
    let connection: ObjectIdentifier
}

/// What ``IOWorkerClient/startCapture(stdoutPath:stderrPath:capBytes:tee:append:method:)`` returns.
public struct CaptureStart: Sendable {
    /// The stdout pipe's write end (close-on-exec): make it the container's fd 1, then close it.
    public let stdoutWriteFD: Int32
    /// The stderr pipe's write end (close-on-exec): make it the container's fd 2, then close it.
    public let stderrWriteFD: Int32
    /// For ``IOWorkerClient/waitCapture(_:)``.
    public let handle: CaptureHandle
    /// The copy method the worker chose.
    public let method: CaptureMethod
}

/// The outcome of one captured stream.
public struct CapturedStream: Sendable, Equatable {
    /// Bytes the writer wrote into the pipe.
    public var received: UInt64
    /// Bytes of output in the file (at most the cap, not counting the marker).
    public var written: UInt64
    /// The cap was hit; the file ends with the truncation marker.
    public var truncated: Bool
    /// The first error writing the file (0: none).
    public var errno: Int32

    /// Memberwise initialiser.
    public init(received: UInt64, written: UInt64, truncated: Bool, errno: Int32) {
        self.received = received
        self.written = written
        self.truncated = truncated
        self.errno = errno
    }
}

/// The outcome of a capture.
public struct CaptureResult: Sendable, Equatable {
    /// The stdout stream.
    public var stdout: CapturedStream
    /// The stderr stream.
    public var stderr: CapturedStream
}

/// The client's statistics.
public struct IOWorkerStats: Sendable, Equatable {
    /// Workers started (more than 1 after a worker died).
    public var starts: Int
    /// Requests sent.
    public var requests: Int
    /// Requests that failed because the worker went away.
    public var workerFailures: Int
    /// The active backend ("io_uring", "syscalls"), or "not started".
    public var backend: String
    /// Whether the slabs are registered as io_uring fixed buffers.
    public var fixedBuffers: Bool
    /// The worker's pid, when one runs.
    public var workerPID: pid_t?
}

/// The supervisor's side of `envyro-ioworker`: log capture (a container's stdout and stderr
/// copied into files), done by a separate process that maps the shared ``BufferPool``.
///
/// Create it lazily (`LazyResource<IOWorkerClient>`); the initialiser starts the worker. Every
/// call blocks the calling thread until the worker answers, so call it from a thread that may
/// block, not from the cooperative pool. Calls from several threads run concurrently. When the
/// worker dies, the calls waiting for it fail with ``IOWorkerError/workerExited(detail:operation:)`` and the next call starts a new worker.
public final class IOWorkerClient: Sendable {
    private struct State {
        var connection: WorkerConnection?
        var starts = 0
        var requests = 0
        var workerFailures = 0
        var captures: [CaptureHandle: Waiter] = [:]
    }

    /// The pool whose memfd the worker maps.
    public let pool: BufferPool
    /// How the worker is started.
    public let configuration: IOWorkerConfiguration
    private let state: Mutex<State>

    /// Starts a worker sharing `pool`'s slabs.
    public init(pool: BufferPool, configuration: IOWorkerConfiguration = IOWorkerConfiguration()) throws(IOWorkerError) {
        self.pool = pool
        self.configuration = configuration
        self.state = Mutex(State())
        #if !ENVYRO_NO_URING
        _ = try connection()
        #endif
    }

    deinit {
        shutdown()
    }

    /// `$ENVYRO_IOWORKER`, else `envyro-ioworker` beside the running executable, else
    /// `../libexec/envyro/envyro-ioworker` from it (the installed layout).
    public static func locateWorker(executablePath: String = Files.executablePath()) -> String {
        if let p = Environment.get("ENVYRO_IOWORKER"), !p.isEmpty { return p }
        let dir = Files.directory(of: executablePath)
        let beside = dir + "/envyro-ioworker"
        if access(beside, X_OK) == 0 { return beside }
        let installed = Files.directory(of: dir) + "/libexec/envyro/envyro-ioworker"
        if access(installed, X_OK) == 0 { return installed }
        return beside
    }

    /// The running worker, started now when there is none or the last one died.
    private func connection(for operation: String = "starting the I/O worker") throws(IOWorkerError) -> WorkerConnection {
        #if ENVYRO_NO_URING
        throw .compiledOut(operation: operation)
        #else
        let result = state.withLock { s -> Result<WorkerConnection, IOWorkerError> in
            if let c = s.connection, !c.isDead { return .success(c) }
            s.connection = nil
            do throws(IOWorkerError) {
                let c = try WorkerConnection(path: configuration.executablePath, pool: pool, configuration: configuration)
                s.connection = c
                s.starts += 1
                return .success(c)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
        #endif
    }

    /// Sends one request and returns its reply; `io_failed` becomes ``IOWorkerError/refused(operation:failure:)``.
    private func call(_ message: IOMessage, operation: String) throws(IOWorkerError) -> IOMessage {
        let c = try connection(for: operation)
        state.withLock { $0.requests += 1 }
        do throws(IOWorkerError) {
            let reply = try c.call(message, operation: operation)
            if case .failed(let f) = reply { throw IOWorkerError.refused(operation: operation, failure: f) }
            return reply
        } catch {
            if case .workerExited = error { state.withLock { $0.workerFailures += 1 } }
            throw error
        }
    }

    private static func checkPath(_ path: String) throws(IOWorkerError) {
        guard path.hasPrefix("/") else { throw .invalidArgument("'\(path)' is not an absolute path; the I/O worker takes absolute paths only") }
    }

    // MARK: capture

    /// Starts copying a container's stdout and stderr into two files.
    ///
    /// Creates two pipes, sends their read ends to the worker (the supervisor keeps no copy, so
    /// if the worker dies a writer gets EPIPE/SIGPIPE instead of blocking) and returns the write
    /// ends: hand them to the container as its fds 1 and 2, then close them here, or the
    /// capture never sees EOF. Each file gets at most `capBytes` bytes (nil: no cap) followed
    /// by `\n[envyro: output truncated at N bytes]\n`; the rest is drained and counted. With
    /// `tee`, the output also goes to `teeTo` (the run's own stdout and stderr: a daemon's client's),
    /// else to ``IOWorkerConfiguration/teeDescriptors``.
    public func startCapture(stdoutPath: String, stderrPath: String, capBytes: Int? = nil, tee: Bool = false,
                             teeTo: (stdout: Int32, stderr: Int32)? = nil,
                             append: Bool = false, method: CaptureMethod = .automatic) throws(IOWorkerError) -> CaptureStart {
        try Self.checkPath(stdoutPath)
        try Self.checkPath(stderrPath)
        if let capBytes, capBytes <= 0 { throw .invalidArgument("the log cap must be positive, not \(capBytes)") }
        let c = try connection(for: "capture of \(stdoutPath) and \(stderrPath)")
        var out: [Int32] = [-1, -1], err: [Int32] = [-1, -1]
        guard envyro_pipe_cloexec(&out) == 0 else { throw .system(.current("pipe2", "capture stdout")) }
        guard envyro_pipe_cloexec(&err) == 0 else {
            let e = SystemError.current("pipe2", "capture stderr")
            close(out[0]); close(out[1])
            throw .system(e)
        }
        if configuration.pipeSize > 0 {
            _ = fcntl(out[1], 1031 /* F_SETPIPE_SZ */, Int32(clamping: configuration.pipeSize))
            _ = fcntl(err[1], 1031 /* F_SETPIPE_SZ */, Int32(clamping: configuration.pipeSize))
        }
        var fds = [out[0], err[0]]
        if tee {
            let to = teeTo ?? configuration.teeDescriptors
            fds += [to.stdout, to.stderr]
        }
        let request = IOCaptureStart(stdoutPath: stdoutPath, stderrPath: stderrPath, capBytes: UInt64(capBytes ?? 0),
                                     append: append, tee: tee, method: method)
        let operation = "capture of \(stdoutPath) and \(stderrPath)"
        state.withLock { $0.requests += 1 }
        let sent: (UInt32, Waiter)
        do { sent = try c.send(.captureStart(request), fds: fds, operation: operation, expected: 3) } catch {
            for fd in out + err { close(fd) }
            throw error
        }
        // The worker holds the read ends now; ours must go so a dead worker means EPIPE.
        close(out[0])
        close(err[0])
        let first: IOMessage
        do { first = try sent.1.next() } catch {
            close(out[1]); close(err[1])
            throw error
        }
        switch first {
        case .captureStarted(let started):
            let handle = CaptureHandle(id: sent.0, connection: ObjectIdentifier(c))
            state.withLock { $0.captures[handle] = sent.1 }
            return CaptureStart(stdoutWriteFD: out[1], stderrWriteFD: err[1], handle: handle, method: started.method)
        case .failed(let f):
            close(out[1]); close(err[1])
            throw .refused(operation: "capture_start", failure: f)
        default:
            close(out[1]); close(err[1])
            throw .protocolViolation("\(first.verb.name) in answer to capture_start")
        }
    }

    /// Waits until both streams of a capture reached EOF (every writer closed its end) and
    /// returns the byte counts.
    public func waitCapture(_ handle: CaptureHandle) throws(IOWorkerError) -> CaptureResult {
        guard let waiter = state.withLock({ $0.captures.removeValue(forKey: handle) }) else { throw .unknownCapture(handle.id) }
        var streams: [CaptureStreamID: CapturedStream] = [:]
        while streams.count < 2 {
            let message: IOMessage
            do { message = try waiter.next() } catch {
                if case .workerExited = error { state.withLock { $0.workerFailures += 1 } }
                throw error
            }
            guard case .captureDone(let done) = message else {
                if case .failed(let f) = message { throw .refused(operation: waiter.operation, failure: f) }
                throw .protocolViolation("\(message.verb.name) while waiting for capture_done")
            }
            streams[done.stream] = CapturedStream(received: done.received, written: done.written, truncated: done.truncated, errno: done.errno)
        }
        return CaptureResult(stdout: streams[.stdout]!, stderr: streams[.stderr]!)
    }

    // MARK: state

    /// The active backend: "io_uring" or "syscalls" ("not started" before the first worker).
    public var backend: String {
        state.withLock { $0.connection?.hello.backend } ?? "not started"
    }

    /// Why the backend is what it is (a refused io_uring_setup, unregistered fixed buffers).
    public var backendNote: String {
        state.withLock { $0.connection?.hello.note } ?? ""
    }

    /// The running worker's pid.
    public var workerPID: pid_t? {
        state.withLock { s in s.connection.flatMap { $0.isDead ? nil : $0.pid } }
    }

    /// The client's statistics.
    public var stats: IOWorkerStats {
        state.withLock { s in
            IOWorkerStats(starts: s.starts, requests: s.requests, workerFailures: s.workerFailures,
                          backend: s.connection?.hello.backend ?? "not started", fixedBuffers: s.connection?.hello.fixedBuffers ?? false,
                          workerPID: s.connection.flatMap { $0.isDead ? nil : $0.pid })
        }
    }

    /// SIGKILLs the running worker (for tests of the fault path); pending calls fail and the
    /// next call starts a new worker.
    public func killWorker() {
        state.withLock { $0.connection }?.kill()
    }

    /// Stops the worker (it exits on EOF; running captures end with their pipes).
    public func shutdown() {
        let c = state.withLock { s -> WorkerConnection? in
            defer { s.connection = nil }
            return s.connection
        }
        c?.closeAndReap()
    }
}
