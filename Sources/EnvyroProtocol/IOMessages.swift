// The supervisor <-> envyro-ioworker protocol.
//
// Same 16-byte header as the helper protocol (magic, version, verb, requestID, payloadLength,
// little-endian; see ProtocolLimits), its own verbs: requests 0x0101...0x01FF, replies
// 0x8101...0x81FF. Requests name a slab of the shared BufferPool by index, an offset in it and a
// length; file data never travels in a frame. Decoding is as strict as `Codec`: size cap first,
// then header, verb, length, direction, descriptor count, payload fields, no trailing bytes,
// semantic rules.
//
// A reply carries the requestID of its request. `capture_start` is answered by one
// `capture_started` and later by one `capture_done` per stream, all with its requestID.

/// The verbs of the I/O worker protocol.
public enum IOVerb: UInt16, Sendable, CaseIterable {
    // requests (supervisor -> worker)
    /// Handshake; carries the buffer pool's memfd (1 fd).
    case hello = 0x0101
    /// Read part of a file into a slab.
    case readFile = 0x0102
    /// Write bytes from a slab to a file.
    case writeFile = 0x0103
    /// List a directory into a slab.
    case listDirectory = 0x0104
    /// Start copying two pipes into two files; carries 2 pipe read ends (4 fds with tee).
    case captureStart = 0x0105
    /// Ask for the worker's counters.
    case stats = 0x0106
    // replies (worker -> supervisor)
    /// Answer to `hello`.
    case helloReply = 0x8101
    /// Answer to `read_file`.
    case readDone = 0x8102
    /// Answer to `write_file`.
    case writeDone = 0x8103
    /// Answer to `list_directory`.
    case listed = 0x8104
    /// First answer to `capture_start`: both files are open and the copy runs.
    case captureStarted = 0x8105
    /// Later answer to `capture_start`, once per stream, when its pipe reached EOF.
    case captureDone = 0x8106
    /// Answer to `stats`.
    case statsReply = 0x8107
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
        case .readFile: "read_file"
        case .writeFile: "write_file"
        case .listDirectory: "list_directory"
        case .captureStart: "capture_start"
        case .stats: "stats"
        case .helloReply: "io_hello_reply"
        case .readDone: "read_done"
        case .writeDone: "write_done"
        case .listed: "listed"
        case .captureStarted: "capture_started"
        case .captureDone: "capture_done"
        case .statsReply: "stats_reply"
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

/// Flags of a `write_file` request.
public struct IOWriteFlags: OptionSet, Sendable, Hashable {
    /// Raw bits.
    public var rawValue: UInt8
    /// Creates flags from raw bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// O_CREAT.
    public static let create = IOWriteFlags(rawValue: 1 << 0)
    /// O_TRUNC.
    public static let truncate = IOWriteFlags(rawValue: 1 << 1)
    /// O_APPEND.
    public static let append = IOWriteFlags(rawValue: 1 << 2)
    /// O_EXCL (with create).
    public static let exclusive = IOWriteFlags(rawValue: 1 << 3)
    /// Every flag the protocol knows.
    public static let all: IOWriteFlags = [.create, .truncate, .append, .exclusive]
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

/// A region of one slab: `slab u32 | slabOffset u32 | length u32`.
public struct SlabRegion: Sendable, Equatable {
    /// The slab's index in the pool.
    public var slab: UInt32
    /// Byte offset inside the slab.
    public var offset: UInt32
    /// Bytes.
    public var length: UInt32

    /// Memberwise initialiser.
    public init(slab: UInt32, offset: UInt32, length: UInt32) {
        self.slab = slab
        self.offset = offset
        self.length = length
    }

    func encode(into w: inout WireWriter) {
        w.u32(slab)
        w.u32(offset)
        w.u32(length)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> SlabRegion {
        SlabRegion(slab: try r.u32("slab"), offset: try r.u32("slabOffset"), length: try r.u32("length"))
    }

    /// Whether the region lies inside a pool of `slabCount` slabs of `slabSize` bytes.
    public func fits(slabSize: Int, slabCount: Int) -> Bool {
        Int(slab) < slabCount && UInt64(offset) + UInt64(length) <= UInt64(slabSize)
    }

    func validate() throws(ProtocolError) {
        guard Int(slab) < IOLimits.maxSlabs else { throw .invalidValue(field: "slab", reason: "index \(slab) exceeds \(IOLimits.maxSlabs - 1)") }
        guard UInt64(offset) + UInt64(length) <= UInt64(IOLimits.maxSlabSize) else {
            throw .invalidValue(field: "length", reason: "offset \(offset) + length \(length) exceeds the largest slab")
        }
    }
}

func checkPath(_ path: String, _ field: String) throws(ProtocolError) {
    try checkString(path, field)
    guard path.hasPrefix("/") else { throw .invalidValue(field: field, reason: "'\(path)' is not an absolute path") }
    guard path.utf8.count <= IOLimits.maxPathBytes else {
        throw .invalidValue(field: field, reason: "path of \(path.utf8.count) bytes exceeds \(IOLimits.maxPathBytes)")
    }
}

/// `read_file` payload: `path string | fileOffset u64 | region`. Reads up to `region.length`
/// bytes at `fileOffset` into the region.
public struct IOReadFile: Sendable, Equatable, WirePayload {
    /// Absolute path.
    public var path: String
    /// Where in the file to start.
    public var fileOffset: UInt64
    /// Where the bytes go.
    public var region: SlabRegion

    /// Memberwise initialiser.
    public init(path: String, fileOffset: UInt64 = 0, region: SlabRegion) {
        self.path = path
        self.fileOffset = fileOffset
        self.region = region
    }

    func encode(into w: inout WireWriter) {
        w.string(path)
        w.u64(fileOffset)
        region.encode(into: &w)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> IOReadFile {
        IOReadFile(path: try r.string("path"), fileOffset: try r.u64("fileOffset"), region: try SlabRegion.decode(from: &r))
    }

    /// Absolute path, offset within Int64, region within limits.
    public func validate() throws(ProtocolError) {
        try checkPath(path, "path")
        guard fileOffset <= UInt64(Int64.max) else { throw .invalidValue(field: "fileOffset", reason: "\(fileOffset) exceeds Int64.max") }
        try region.validate()
    }
}

/// `read_done` payload: `count u32 | endOfFile bool`.
public struct IOReadDone: Sendable, Equatable, WirePayload {
    /// Bytes written into the region.
    public var count: UInt32
    /// The file ends within the region: no need to ask for more.
    public var endOfFile: Bool

    /// Memberwise initialiser.
    public init(count: UInt32, endOfFile: Bool) {
        self.count = count
        self.endOfFile = endOfFile
    }

    func encode(into w: inout WireWriter) {
        w.u32(count)
        w.bool(endOfFile)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> IOReadDone {
        IOReadDone(count: try r.u32("count"), endOfFile: try r.bool("endOfFile"))
    }

    /// Nothing beyond the field types.
    public func validate() throws(ProtocolError) {}
}

/// `write_file` payload: `path string | flags u8 | mode u32 | region`.
public struct IOWriteFile: Sendable, Equatable, WirePayload {
    /// Absolute path.
    public var path: String
    /// Open flags.
    public var flags: IOWriteFlags
    /// Permission bits for a created file (at most 0o7777).
    public var mode: UInt32
    /// The bytes to write.
    public var region: SlabRegion

    /// Memberwise initialiser.
    public init(path: String, flags: IOWriteFlags = [.create, .truncate], mode: UInt32 = 0o644, region: SlabRegion) {
        self.path = path
        self.flags = flags
        self.mode = mode
        self.region = region
    }

    func encode(into w: inout WireWriter) {
        w.string(path)
        w.u8(flags.rawValue)
        w.u32(mode)
        region.encode(into: &w)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> IOWriteFile {
        IOWriteFile(path: try r.string("path"), flags: IOWriteFlags(rawValue: try r.u8("flags")), mode: try r.u32("mode"),
                    region: try SlabRegion.decode(from: &r))
    }

    /// Known flags only, truncate and append not together, mode within 0o7777.
    public func validate() throws(ProtocolError) {
        try checkPath(path, "path")
        guard IOWriteFlags.all.isSuperset(of: flags) else {
            throw .invalidValue(field: "flags", reason: "unknown bits 0x\(String(flags.subtracting(.all).rawValue, radix: 16))")
        }
        guard !(flags.contains(.truncate) && flags.contains(.append)) else {
            throw .invalidValue(field: "flags", reason: "truncate and append exclude each other")
        }
        guard mode <= 0o7777 else { throw .invalidValue(field: "mode", reason: "0o\(String(mode, radix: 8)) exceeds 0o7777") }
        try region.validate()
    }
}

/// `write_done` payload: `count u32`.
public struct IOWriteDone: Sendable, Equatable, WirePayload {
    /// Bytes written.
    public var count: UInt32

    /// Memberwise initialiser.
    public init(count: UInt32) { self.count = count }

    func encode(into w: inout WireWriter) { w.u32(count) }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> IOWriteDone {
        IOWriteDone(count: try r.u32("count"))
    }

    /// Nothing beyond the field type.
    public func validate() throws(ProtocolError) {}
}

/// `list_directory` payload: `path string | startIndex u32 | region`. The worker writes entries
/// into the region as `type u8 | name bytes | NUL` (type: the DT_* value), skipping `.`, `..`
/// and the first `startIndex` entries.
public struct IOListDirectory: Sendable, Equatable, WirePayload {
    /// Absolute path.
    public var path: String
    /// Entries to skip (to continue a listing that did not fit).
    public var startIndex: UInt32
    /// Where the entries go (`length` is the capacity).
    public var region: SlabRegion

    /// Memberwise initialiser.
    public init(path: String, startIndex: UInt32 = 0, region: SlabRegion) {
        self.path = path
        self.startIndex = startIndex
        self.region = region
    }

    func encode(into w: inout WireWriter) {
        w.string(path)
        w.u32(startIndex)
        region.encode(into: &w)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> IOListDirectory {
        IOListDirectory(path: try r.string("path"), startIndex: try r.u32("startIndex"), region: try SlabRegion.decode(from: &r))
    }

    /// Absolute path, region within limits.
    public func validate() throws(ProtocolError) {
        try checkPath(path, "path")
        try region.validate()
    }
}

/// `listed` payload: `count u32 | length u32 | complete bool`.
public struct IOListed: Sendable, Equatable, WirePayload {
    /// Entries written.
    public var count: UInt32
    /// Bytes written.
    public var length: UInt32
    /// False when the region filled up: ask again with `startIndex` advanced by `count`.
    public var complete: Bool

    /// Memberwise initialiser.
    public init(count: UInt32, length: UInt32, complete: Bool) {
        self.count = count
        self.length = length
        self.complete = complete
    }

    func encode(into w: inout WireWriter) {
        w.u32(count)
        w.u32(length)
        w.bool(complete)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> IOListed {
        IOListed(count: try r.u32("count"), length: try r.u32("length"), complete: try r.bool("complete"))
    }

    /// Each entry takes at least 3 bytes (type, one name byte, NUL).
    public func validate() throws(ProtocolError) {
        guard UInt64(count) * 3 <= UInt64(length) else {
            throw .invalidValue(field: "count", reason: "\(count) entries can't fit in \(length) bytes")
        }
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

/// `stats_reply` payload: `requests u64 | bytesRead u64 | bytesWritten u64 | capturedBytes u64 |
/// activeCaptures u32 | userMicros u64 | systemMicros u64`.
public struct IOStatsReply: Sendable, Equatable, WirePayload {
    /// Requests served since start.
    public var requests: UInt64
    /// Bytes read by read_file.
    public var bytesRead: UInt64
    /// Bytes written by write_file.
    public var bytesWritten: UInt64
    /// Bytes received from capture pipes.
    public var capturedBytes: UInt64
    /// Capture streams still running.
    public var activeCaptures: UInt32
    /// The worker's user CPU time (getrusage, all its threads), µs.
    public var userMicros: UInt64
    /// The worker's system CPU time (getrusage, all its threads), µs.
    public var systemMicros: UInt64

    /// Memberwise initialiser.
    public init(requests: UInt64 = 0, bytesRead: UInt64 = 0, bytesWritten: UInt64 = 0, capturedBytes: UInt64 = 0,
                activeCaptures: UInt32 = 0, userMicros: UInt64 = 0, systemMicros: UInt64 = 0) {
        self.requests = requests
        self.bytesRead = bytesRead
        self.bytesWritten = bytesWritten
        self.capturedBytes = capturedBytes
        self.activeCaptures = activeCaptures
        self.userMicros = userMicros
        self.systemMicros = systemMicros
    }

    func encode(into w: inout WireWriter) {
        w.u64(requests)
        w.u64(bytesRead)
        w.u64(bytesWritten)
        w.u64(capturedBytes)
        w.u32(activeCaptures)
        w.u64(userMicros)
        w.u64(systemMicros)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> IOStatsReply {
        IOStatsReply(requests: try r.u64("requests"), bytesRead: try r.u64("bytesRead"), bytesWritten: try r.u64("bytesWritten"),
                     capturedBytes: try r.u64("capturedBytes"), activeCaptures: try r.u32("activeCaptures"),
                     userMicros: try r.u64("userMicros"), systemMicros: try r.u64("systemMicros"))
    }

    /// Nothing beyond the field types.
    public func validate() throws(ProtocolError) {}
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
    /// See ``IOReadFile``.
    case readFile(IOReadFile)
    /// See ``IOWriteFile``.
    case writeFile(IOWriteFile)
    /// See ``IOListDirectory``.
    case listDirectory(IOListDirectory)
    /// See ``IOCaptureStart``.
    case captureStart(IOCaptureStart)
    /// Empty payload.
    case stats
    /// See ``IOHelloReply``.
    case helloReply(IOHelloReply)
    /// See ``IOReadDone``.
    case readDone(IOReadDone)
    /// See ``IOWriteDone``.
    case writeDone(IOWriteDone)
    /// See ``IOListed``.
    case listed(IOListed)
    /// See ``IOCaptureStarted``.
    case captureStarted(IOCaptureStarted)
    /// See ``IOCaptureDone``.
    case captureDone(IOCaptureDone)
    /// See ``IOStatsReply``.
    case statsReply(IOStatsReply)
    /// See ``IOFailure``.
    case failed(IOFailure)

    /// The message's verb.
    public var verb: IOVerb {
        switch self {
        case .hello: .hello
        case .readFile: .readFile
        case .writeFile: .writeFile
        case .listDirectory: .listDirectory
        case .captureStart: .captureStart
        case .stats: .stats
        case .helloReply: .helloReply
        case .readDone: .readDone
        case .writeDone: .writeDone
        case .listed: .listed
        case .captureStarted: .captureStarted
        case .captureDone: .captureDone
        case .statsReply: .statsReply
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

    fileprivate func encodePayload(into w: inout WireWriter) {
        switch self {
        case .hello(let p): p.encode(into: &w)
        case .readFile(let p): p.encode(into: &w)
        case .writeFile(let p): p.encode(into: &w)
        case .listDirectory(let p): p.encode(into: &w)
        case .captureStart(let p): p.encode(into: &w)
        case .stats: break
        case .helloReply(let p): p.encode(into: &w)
        case .readDone(let p): p.encode(into: &w)
        case .writeDone(let p): p.encode(into: &w)
        case .listed(let p): p.encode(into: &w)
        case .captureStarted(let p): p.encode(into: &w)
        case .captureDone(let p): p.encode(into: &w)
        case .statsReply(let p): p.encode(into: &w)
        case .failed(let p): p.encode(into: &w)
        }
    }

    fileprivate static func decodePayload(_ verb: IOVerb, from r: inout WireReader) throws(ProtocolError) -> IOMessage {
        switch verb {
        case .hello: .hello(try IOHello.decode(from: &r))
        case .readFile: .readFile(try IOReadFile.decode(from: &r))
        case .writeFile: .writeFile(try IOWriteFile.decode(from: &r))
        case .listDirectory: .listDirectory(try IOListDirectory.decode(from: &r))
        case .captureStart: .captureStart(try IOCaptureStart.decode(from: &r))
        case .stats: .stats
        case .helloReply: .helloReply(try IOHelloReply.decode(from: &r))
        case .readDone: .readDone(try IOReadDone.decode(from: &r))
        case .writeDone: .writeDone(try IOWriteDone.decode(from: &r))
        case .listed: .listed(try IOListed.decode(from: &r))
        case .captureStarted: .captureStarted(try IOCaptureStarted.decode(from: &r))
        case .captureDone: .captureDone(try IOCaptureDone.decode(from: &r))
        case .statsReply: .statsReply(try IOStatsReply.decode(from: &r))
        case .failed: .failed(try IOFailure.decode(from: &r))
        }
    }

    /// The semantic rules of the payload.
    public func validate() throws(ProtocolError) {
        switch self {
        case .hello(let p): try p.validate()
        case .readFile(let p): try p.validate()
        case .writeFile(let p): try p.validate()
        case .listDirectory(let p): try p.validate()
        case .captureStart(let p): try p.validate()
        case .stats: break
        case .helloReply(let p): try p.validate()
        case .readDone(let p): try p.validate()
        case .writeDone(let p): try p.validate()
        case .listed(let p): try p.validate()
        case .captureStarted(let p): try p.validate()
        case .captureDone(let p): try p.validate()
        case .statsReply(let p): try p.validate()
        case .failed(let p): try p.validate()
        }
    }
}

/// A decoded I/O protocol frame.
public struct IOFrame: Sendable, Equatable {
    /// The request id (a reply carries its request's).
    public var requestID: UInt32
    /// The message.
    public var message: IOMessage

    /// Memberwise initialiser.
    public init(requestID: UInt32, message: IOMessage) {
        self.requestID = requestID
        self.message = message
    }
}

/// Encodes and strictly decodes I/O worker frames.
public enum IOCodec {
    /// Frame cap of the I/O protocol (data travels in slabs, so frames stay small).
    public static let maxFrameBytes = 16 * 1024

    /// Serialises `message` with `requestID`. Does not validate (see `encodeValidated`).
    public static func encode(_ message: IOMessage, requestID: UInt32) -> [UInt8] {
        var w = WireWriter(capacity: 96)
        w.u32(ProtocolLimits.magic)
        w.u16(ProtocolLimits.version)
        w.u16(message.verb.rawValue)
        w.u32(requestID)
        w.u32(0)
        message.encodePayload(into: &w)
        let length = UInt32(truncatingIfNeeded: w.bytes.count - ProtocolLimits.headerSize)
        for i in 0..<4 { w.bytes[12 + i] = UInt8(truncatingIfNeeded: length >> UInt32(8 * i)) }
        return w.bytes
    }

    /// Validates `message` as the decoder will, encodes it and checks the cap.
    public static func encodeValidated(_ message: IOMessage, requestID: UInt32) throws(ProtocolError) -> [UInt8] {
        try message.validate()
        let bytes = encode(message, requestID: requestID)
        guard bytes.count <= maxFrameBytes else { throw .oversized(bytes.count, max: maxFrameBytes) }
        return bytes
    }

    /// Decodes one frame strictly. Check order: size ≥ 16, size ≤ cap, magic, version, verb (an
    /// I/O verb), declared length == actual, direction, descriptor count allowed for the verb,
    /// payload fields, no trailing bytes, descriptor count matches the payload, semantic rules.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, fileDescriptorCount: Int, expecting direction: Direction
    ) throws(ProtocolError) -> IOFrame {
        guard bytes.count >= ProtocolLimits.headerSize else { throw .tooShort(bytes.count) }
        guard bytes.count <= maxFrameBytes else { throw .oversized(bytes.count, max: maxFrameBytes) }
        let header = FrameHeader.parse { bytes[$0] }
        guard header.magic == ProtocolLimits.magic else { throw .badMagic(header.magic) }
        guard header.version == ProtocolLimits.version else { throw .unsupportedVersion(header.version) }
        guard let verb = IOVerb(rawValue: header.verb) else { throw .unknownVerb(header.verb) }
        let actual = bytes.count - ProtocolLimits.headerSize
        guard UInt64(header.payloadLength) == UInt64(actual) else {
            throw .lengthMismatch(declared: header.payloadLength, actual: actual)
        }
        guard verb.flows(direction) else { throw .wrongDirection(verb: verb.name) }
        let allowed = verb.allowedFileDescriptorCounts
        guard allowed.contains(fileDescriptorCount) else {
            throw .unexpectedFileDescriptors(verb: verb.name, expected: allowed[0], got: fileDescriptorCount)
        }
        var reader = WireReader(UnsafeRawBufferPointer(rebasing: bytes[ProtocolLimits.headerSize...]))
        let message = try IOMessage.decodePayload(verb, from: &reader)
        try reader.finish()
        guard message.fileDescriptorCount == fileDescriptorCount else {
            throw .unexpectedFileDescriptors(verb: verb.name, expected: message.fileDescriptorCount, got: fileDescriptorCount)
        }
        try message.validate()
        return IOFrame(requestID: header.requestID, message: message)
    }

    /// Array convenience for `decode(_:fileDescriptorCount:expecting:)`.
    public static func decode(
        _ bytes: [UInt8], fileDescriptorCount: Int, expecting direction: Direction
    ) throws(ProtocolError) -> IOFrame {
        let result: Result<IOFrame, ProtocolError> = bytes.withUnsafeBytes { raw in
            do throws(ProtocolError) {
                return .success(try decode(raw, fileDescriptorCount: fileDescriptorCount, expecting: direction))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
