// The supervisor <-> envyro-ioworker protocol: its verbs and payloads (the framing is in
// IOCodec.swift).
//
// Same 16-byte header as the helper protocol (magic, version, verb, requestID, payloadLength,
// little-endian; see ProtocolLimits), its own verbs: requests 0x0101...0x01FF, replies
// 0x8101...0x81FF. The worker does one thing on the run path: it copies a container's stdout
// and stderr pipes into log files (capture). The file read, write and directory-listing verbs
// (0x0102-0x0104, 0x0106 and their replies 0x8102-0x8104, 0x8107), which only benchmarks used,
// are retired: their numbers stay unused. `io_hello` still carries the BufferPool's memfd,
// which the worker maps (the slab geometry is checked as before).
//
// A reply carries the requestID of its request. `capture_start` is answered by one
// `capture_started` and later by one `capture_done` per stream, all with its requestID.

/// The verbs of the I/O worker protocol.
public enum IOVerb: UInt16, Sendable, CaseIterable {
    // requests (supervisor -> worker)
    /// Handshake; carries the buffer pool's memfd (1 fd).
    case hello = 0x0101
    /// Start copying two pipes into two files; carries 2 pipe read ends (4 fds with tee).
    case captureStart = 0x0105
    // replies (worker -> supervisor)
    /// Answer to `hello`.
    case helloReply = 0x8101
    /// First answer to `capture_start`: both files are open and the copy runs.
    case captureStarted = 0x8105
    /// Later answer to `capture_start`, once per stream, when its pipe reached EOF.
    case captureDone = 0x8106
    /// Failure answer to any request.
    case failed = 0x81FF

    /// True for supervisor -> worker requests.
    public var isRequest: Bool { rawValue & 0xFF00 == 0x0100 }
    /// True for worker -> supervisor replies.
    public var isReply: Bool { rawValue & 0xFF00 == 0x8100 }

    /// Stable lowercase name, for messages.
    public var name: String {
        switch self {
        case .hello: "io_hello"
        case .captureStart: "capture_start"
        case .helloReply: "io_hello_reply"
        case .captureStarted: "capture_started"
        case .captureDone: "capture_done"
        case .failed: "io_failed"
        }
    }

    /// The descriptor counts this verb may carry by SCM_RIGHTS (the payload decides which:
    /// `capture_start` carries 4 when `tee` is set).
    public var allowedFileDescriptorCounts: [Int] {
        switch self {
        case .hello: [1]
        case .captureStart: [2, 4]
        default: [0]
        }
    }

    /// Whether the verb flows in `direction` (`.request` on the worker side).
    public func flows(_ direction: Direction) -> Bool {
        switch direction {
        case .request: isRequest
        case .replyOrEvent: isReply
        }
    }
}

/// Which backend the supervisor asks the worker for.
public enum IOBackendPreference: UInt8, Sendable, CaseIterable {
    /// io_uring when the kernel allows it, else plain syscalls.
    case automatic = 0
    /// Plain read/write/pread/pwrite; io_uring is not tried.
    case syscalls = 1
    /// For tests: the worker first installs a seccomp filter that makes io_uring_setup fail with
    /// EPERM, then tries io_uring as usual, so the real refusal path runs.
    case refuseIOUringBySeccomp = 2
}

/// How a capture copies a pipe into its file.
public enum CaptureMethod: UInt8, Sendable, CaseIterable {
    /// The worker's choice (read/write, which measured faster here).
    case automatic = 0
    /// Read into a registered buffer, write from it.
    case readWrite = 1
    /// splice(2) pipe -> file, no copy through user memory (not with tee or append).
    case splice = 2
}

/// Limits of the I/O protocol's values.
public enum IOLimits {
    /// Largest slab count (io_uring's IORING_MAX_REG_BUFFERS).
    public static let maxSlabs = 1 << 14
    /// Largest slab (io_uring registers at most 1 GiB per buffer).
    public static let maxSlabSize = 1 << 30
    /// Queue depths the worker accepts.
    public static let queueDepths: ClosedRange<UInt32> = 1...4096
    /// Capture buffer sizes the worker accepts.
    public static let captureBufferSizes: ClosedRange<UInt32> = 4096...(16 << 20)
    /// Longest path in bytes.
    public static let maxPathBytes = 4095
}

/// `io_hello` payload: `protocolVersion u16 | slabSize u32 | slabCount u32 | queueDepth u32 |
/// captureBufferSize u32 | backend u8 | seccomp bool`. Carries the pool's memfd.
public struct IOHello: Sendable, Equatable, WirePayload {
    /// Protocol version the client speaks.
    public var protocolVersion: UInt16
    /// Bytes per slab (a multiple of 4096, at most 1 GiB).
    public var slabSize: UInt32
    /// Slabs in the memfd (1...16384).
    public var slabCount: UInt32
    /// io_uring submission queue entries (1...4096).
    public var queueDepth: UInt32
    /// Bytes of each capture stream's copy buffer (4 KiB...16 MiB, a multiple of 4096).
    public var captureBufferSize: UInt32
    /// The backend asked for.
    public var backend: IOBackendPreference
    /// Whether the worker installs its own seccomp filter before serving (default true).
    public var seccomp: Bool

    /// Memberwise initialiser.
    public init(protocolVersion: UInt16 = ProtocolLimits.version, slabSize: UInt32, slabCount: UInt32,
                queueDepth: UInt32 = 64, captureBufferSize: UInt32 = 256 * 1024,
                backend: IOBackendPreference = .automatic, seccomp: Bool = true) {
        self.protocolVersion = protocolVersion
        self.slabSize = slabSize
        self.slabCount = slabCount
        self.queueDepth = queueDepth
        self.captureBufferSize = captureBufferSize
        self.backend = backend
        self.seccomp = seccomp
    }

    func encode(into w: inout WireWriter) {
        w.u16(protocolVersion)
        w.u32(slabSize)
        w.u32(slabCount)
        w.u32(queueDepth)
        w.u32(captureBufferSize)
        w.u8(backend.rawValue)
        w.bool(seccomp)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> IOHello {
        let version = try r.u16("protocolVersion")
        let slabSize = try r.u32("slabSize")
        let slabCount = try r.u32("slabCount")
        let depth = try r.u32("queueDepth")
        let capture = try r.u32("captureBufferSize")
        let rawBackend = try r.u8("backend")
        guard let backend = IOBackendPreference(rawValue: rawBackend) else {
            throw .invalidValue(field: "backend", reason: "unknown backend \(rawBackend)")
        }
        return IOHello(protocolVersion: version, slabSize: slabSize, slabCount: slabCount, queueDepth: depth,
                       captureBufferSize: capture, backend: backend, seccomp: try r.bool("seccomp"))
    }

    /// Checks every value against ``IOLimits``.
    public func validate() throws(ProtocolError) {
        guard protocolVersion == ProtocolLimits.version else { throw .unsupportedVersion(protocolVersion) }
        guard slabSize > 0, slabSize % 4096 == 0, Int(slabSize) <= IOLimits.maxSlabSize else {
            throw .invalidValue(field: "slabSize", reason: "\(slabSize) is not a positive multiple of 4096 up to 1 GiB")
        }
        guard slabCount >= 1, Int(slabCount) <= IOLimits.maxSlabs else {
            throw .invalidValue(field: "slabCount", reason: "\(slabCount) is outside 1...\(IOLimits.maxSlabs)")
        }
        guard UInt64(slabSize) * UInt64(slabCount) <= 1 << 40 else {
            throw .invalidValue(field: "slabCount", reason: "the pool exceeds 1 TiB")
        }
        guard IOLimits.queueDepths.contains(queueDepth) else {
            throw .invalidValue(field: "queueDepth", reason: "\(queueDepth) is outside \(IOLimits.queueDepths)")
        }
        guard IOLimits.captureBufferSizes.contains(captureBufferSize), captureBufferSize % 4096 == 0 else {
            throw .invalidValue(field: "captureBufferSize", reason: "\(captureBufferSize) is not a multiple of 4096 in \(IOLimits.captureBufferSizes)")
        }
    }
}

/// `io_hello_reply` payload: `workerPID i32 | backend string | fixedBuffers bool | queueDepth u32 |
/// seccomp bool | note string`.
public struct IOHelloReply: Sendable, Equatable, WirePayload {
    /// The worker's pid.
    public var workerPID: Int32
    /// The active backend: "io_uring" or "syscalls" ("none" in a build with ENVYRO_NO_URING).
    public var backend: String
    /// Whether the slabs are registered with io_uring as fixed buffers.
    public var fixedBuffers: Bool
    /// The ring's queue depth (0 without io_uring).
    public var queueDepth: UInt32
    /// Whether the worker's own seccomp filter is installed.
    public var seccomp: Bool
    /// Why the backend is what it is (for example the errno of a refused io_uring_setup).
    public var note: String

    /// Memberwise initialiser.
    public init(workerPID: Int32, backend: String, fixedBuffers: Bool, queueDepth: UInt32, seccomp: Bool, note: String) {
        self.workerPID = workerPID
        self.backend = backend
        self.fixedBuffers = fixedBuffers
        self.queueDepth = queueDepth
        self.seccomp = seccomp
        self.note = note
    }

    func encode(into w: inout WireWriter) {
        w.i32(workerPID)
        w.string(backend)
        w.bool(fixedBuffers)
        w.u32(queueDepth)
        w.bool(seccomp)
        w.string(note)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> IOHelloReply {
        IOHelloReply(workerPID: try r.i32("workerPID"), backend: try r.string("backend"), fixedBuffers: try r.bool("fixedBuffers"),
                     queueDepth: try r.u32("queueDepth"), seccomp: try r.bool("seccomp"), note: try r.string("note"))
    }

    /// The backend must be one of the three names.
    public func validate() throws(ProtocolError) {
        guard ["io_uring", "syscalls", "none"].contains(backend) else {
            throw .invalidValue(field: "backend", reason: "unknown backend '\(backend)'")
        }
        try checkString(note, "note")
    }
}

/// An absolute path of at most `IOLimits.maxPathBytes` (the log files of `capture_start`).
func checkPath(_ path: String, _ field: String) throws(ProtocolError) {
    try checkString(path, field)
    guard path.hasPrefix("/") else { throw .invalidValue(field: field, reason: "'\(path)' is not an absolute path") }
    guard path.utf8.count <= IOLimits.maxPathBytes else {
        throw .invalidValue(field: field, reason: "path of \(path.utf8.count) bytes exceeds \(IOLimits.maxPathBytes)")
    }
}

/// `capture_start` payload: `stdoutPath string | stderrPath string | capBytes u64 | append bool |
/// mode u32 | tee bool | method u8`. Carries the stdout and stderr pipe read ends, then (with
/// `tee`) the two descriptors the output is also copied to.
public struct IOCaptureStart: Sendable, Equatable, WirePayload {
    /// File the stdout pipe is copied into.
    public var stdoutPath: String
    /// File the stderr pipe is copied into.
    public var stderrPath: String
    /// Per-stream byte cap; 0 means no cap.
    public var capBytes: UInt64
    /// Append to the files instead of truncating them.
    public var append: Bool
    /// Permission bits for created files.
    public var mode: UInt32
    /// Also copy each stream to the two extra descriptors.
    public var tee: Bool
    /// How to copy.
    public var method: CaptureMethod

    /// Memberwise initialiser.
    public init(stdoutPath: String, stderrPath: String, capBytes: UInt64 = 0, append: Bool = false,
                mode: UInt32 = 0o644, tee: Bool = false, method: CaptureMethod = .automatic) {
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
        self.capBytes = capBytes
        self.append = append
        self.mode = mode
        self.tee = tee
        self.method = method
    }

    /// Descriptors that travel with this request.
    public var fileDescriptorCount: Int { tee ? 4 : 2 }

    func encode(into w: inout WireWriter) {
        w.string(stdoutPath)
        w.string(stderrPath)
        w.u64(capBytes)
        w.bool(append)
        w.u32(mode)
        w.bool(tee)
        w.u8(method.rawValue)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> IOCaptureStart {
        let out = try r.string("stdoutPath")
        let err = try r.string("stderrPath")
        let cap = try r.u64("capBytes")
        let append = try r.bool("append")
        let mode = try r.u32("mode")
        let tee = try r.bool("tee")
        let rawMethod = try r.u8("method")
        guard let method = CaptureMethod(rawValue: rawMethod) else {
            throw .invalidValue(field: "method", reason: "unknown capture method \(rawMethod)")
        }
        return IOCaptureStart(stdoutPath: out, stderrPath: err, capBytes: cap, append: append, mode: mode, tee: tee, method: method)
    }

    /// Absolute, distinct paths; mode within 0o7777; splice neither with tee nor with append.
    public func validate() throws(ProtocolError) {
        try checkPath(stdoutPath, "stdoutPath")
        try checkPath(stderrPath, "stderrPath")
        guard stdoutPath != stderrPath else {
            throw .invalidValue(field: "stderrPath", reason: "stdout and stderr must go to different files")
        }
        guard mode <= 0o7777 else { throw .invalidValue(field: "mode", reason: "0o\(String(mode, radix: 8)) exceeds 0o7777") }
        guard !(method == .splice && (tee || append)) else {
            throw .invalidValue(field: "method", reason: "splice can't tee or append (splice(2) refuses O_APPEND files); use automatic or readWrite")
        }
    }
}

/// `capture_started` payload: `method u8` (the method in use, never automatic).
public struct IOCaptureStarted: Sendable, Equatable, WirePayload {
    /// The method the worker chose.
    public var method: CaptureMethod

    /// Memberwise initialiser.
    public init(method: CaptureMethod) { self.method = method }

    func encode(into w: inout WireWriter) { w.u8(method.rawValue) }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> IOCaptureStarted {
        let raw = try r.u8("method")
        guard let method = CaptureMethod(rawValue: raw), method != .automatic else {
            throw .invalidValue(field: "method", reason: "\(raw) is not a concrete capture method")
        }
        return IOCaptureStarted(method: method)
    }

    /// Nothing beyond decoding.
    public func validate() throws(ProtocolError) {}
}

/// Which captured stream a `capture_done` is about.
public enum CaptureStreamID: UInt8, Sendable, CaseIterable {
    /// The container's stdout.
    case stdout = 1
    /// The container's stderr.
    case stderr = 2
}

/// `capture_done` payload: `stream u8 | received u64 | written u64 | truncated bool | errno i32`.
public struct IOCaptureDone: Sendable, Equatable, WirePayload {
    /// Which stream.
    public var stream: CaptureStreamID
    /// Bytes read from the pipe (everything the writer wrote).
    public var received: UInt64
    /// Bytes of output in the file (at most the cap; the truncation marker is not counted).
    public var written: UInt64
    /// The cap was hit: the file ends with the truncation marker.
    public var truncated: Bool
    /// The first error writing the file (0 for none); the pipe was drained regardless.
    public var errno: Int32

    /// Memberwise initialiser.
    public init(stream: CaptureStreamID, received: UInt64, written: UInt64, truncated: Bool, errno: Int32 = 0) {
        self.stream = stream
        self.received = received
        self.written = written
        self.truncated = truncated
        self.errno = errno
    }

    func encode(into w: inout WireWriter) {
        w.u8(stream.rawValue)
        w.u64(received)
        w.u64(written)
        w.bool(truncated)
        w.i32(errno)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> IOCaptureDone {
        let raw = try r.u8("stream")
        guard let stream = CaptureStreamID(rawValue: raw) else {
            throw .invalidValue(field: "stream", reason: "\(raw) is neither 1 (stdout) nor 2 (stderr)")
        }
        return IOCaptureDone(stream: stream, received: try r.u64("received"), written: try r.u64("written"),
                             truncated: try r.bool("truncated"), errno: try r.i32("errno"))
    }

    /// Written never exceeds received; errno is not negative.
    public func validate() throws(ProtocolError) {
        guard written <= received else {
            throw .invalidValue(field: "written", reason: "\(written) exceeds the \(received) bytes received")
        }
        guard errno >= 0 else { throw .invalidValue(field: "errno", reason: "\(errno) is negative") }
    }
}

/// `io_failed` payload: `errno i32 | operation string | message string`.
public struct IOFailure: Error, Sendable, Equatable, WirePayload {
    /// The errno behind the failure (positive), or 0 when there is none.
    public var errno: Int32
    /// What failed, e.g. "open /x".
    public var operation: String
    /// A sentence for the user.
    public var message: String

    /// Memberwise initialiser.
    public init(errno: Int32, operation: String, message: String) {
        self.errno = errno
        self.operation = operation
        self.message = message
    }

    func encode(into w: inout WireWriter) {
        w.i32(errno)
        w.string(operation)
        w.string(message)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> IOFailure {
        IOFailure(errno: try r.i32("errno"), operation: try r.string("operation"), message: try r.string("message"))
    }

    /// errno is not negative; strings follow the string rules.
    public func validate() throws(ProtocolError) {
        guard errno >= 0 else { throw .invalidValue(field: "errno", reason: "\(errno) is negative") }
        try checkString(operation, "operation")
        try checkString(message, "message")
    }
}

/// Every message of the I/O worker protocol.
public enum IOMessage: Sendable, Equatable {
    /// See ``IOHello``.
    case hello(IOHello)
    /// See ``IOCaptureStart``.
    case captureStart(IOCaptureStart)
    /// See ``IOHelloReply``.
    case helloReply(IOHelloReply)
    /// See ``IOCaptureStarted``.
    case captureStarted(IOCaptureStarted)
    /// See ``IOCaptureDone``.
    case captureDone(IOCaptureDone)
    /// See ``IOFailure``.
    case failed(IOFailure)

    /// The message's verb.
    public var verb: IOVerb {
        switch self {
        case .hello: .hello
        case .captureStart: .captureStart
        case .helloReply: .helloReply
        case .captureStarted: .captureStarted
        case .captureDone: .captureDone
        case .failed: .failed
        }
    }

    /// Descriptors that must travel with this message.
    public var fileDescriptorCount: Int {
        switch self {
        case .hello: 1
        case .captureStart(let c): c.fileDescriptorCount
        default: 0
        }
    }

    func encodePayload(into w: inout WireWriter) {
        switch self {
        case .hello(let p): p.encode(into: &w)
        case .captureStart(let p): p.encode(into: &w)
        case .helloReply(let p): p.encode(into: &w)
        case .captureStarted(let p): p.encode(into: &w)
        case .captureDone(let p): p.encode(into: &w)
        case .failed(let p): p.encode(into: &w)
        }
    }

    static func decodePayload(_ verb: IOVerb, from r: inout WireReader) throws(ProtocolError) -> IOMessage {
        switch verb {
        case .hello: .hello(try IOHello.decode(from: &r))
        case .captureStart: .captureStart(try IOCaptureStart.decode(from: &r))
        case .helloReply: .helloReply(try IOHelloReply.decode(from: &r))
        case .captureStarted: .captureStarted(try IOCaptureStarted.decode(from: &r))
        case .captureDone: .captureDone(try IOCaptureDone.decode(from: &r))
        case .failed: .failed(try IOFailure.decode(from: &r))
        }
    }

    /// The semantic rules of the payload.
    public func validate() throws(ProtocolError) {
        switch self {
        case .hello(let p): try p.validate()
        case .captureStart(let p): try p.validate()
        case .helloReply(let p): try p.validate()
        case .captureStarted(let p): try p.validate()
        case .captureDone(let p): try p.validate()
        case .failed(let p): try p.validate()
        }
    }
}
