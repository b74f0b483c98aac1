import EnvyroProtocol
import Glibc

/// One captured stream: a pipe read end copied into a file (and optionally a tee descriptor),
/// up to a byte cap, then drained into /dev/null so the writer never blocks.
final class Stream {
    /// Key in the server's stream table (and in io_uring tags).
    let id: Int
    /// The capture_start request this stream belongs to.
    let captureID: UInt32
    /// stdout or stderr.
    let which: CaptureStreamID
    /// The pipe read end.
    let pipe: Int32
    /// The destination file.
    let file: Int32
    /// Where output is also copied (the supervisor's own stdout/stderr), or -1.
    var tee: Int32
    /// Byte cap (0: none).
    let cap: UInt64
    /// How the bytes move.
    let method: CaptureMethod
    /// The copy buffer (read/write method), and its registered index or -1.
    var buffer: UnsafeMutableRawPointer?
    var bufferIndex: Int32 = -1
    var bufferSize = 0
    /// The server's capture slot the buffer came from, if any.
    var slot: Int?

    /// Bytes read from the pipe.
    var received: UInt64 = 0
    /// Bytes of output written to the file (not counting the marker).
    var written: UInt64 = 0
    /// The cap was hit and the marker written.
    var truncated = false
    /// First error writing the file; then the stream only drains.
    var writeErrno: Int32 = 0
    /// The pipe reached EOF (or failed) and the stream was reported.
    var finished = false

    // io_uring bookkeeping: operations in flight, and a read whose bytes are being written.
    var inFlight = 0
    var fileWrite: (offset: Int, remaining: Int)?
    var teeWrite: (offset: Int, remaining: Int)?
    var truncateAfterWrite = false

    init(id: Int, captureID: UInt32, which: CaptureStreamID, pipe: Int32, file: Int32, tee: Int32, cap: UInt64, method: CaptureMethod) {
        self.id = id
        self.captureID = captureID
        self.which = which
        self.pipe = pipe
        self.file = file
        self.tee = tee
        self.cap = cap
        self.method = method
    }

    /// Bytes the file may still take.
    var remainingCap: UInt64 { cap == 0 ? UInt64.max : cap - min(written, cap) }

    /// Nothing more goes to the file: cap reached (and exceeded) or the file failed.
    var draining: Bool { truncated || writeErrno != 0 || remainingCap == 0 }

    /// The line appended once the cap is hit.
    static func marker(cap: UInt64) -> [UInt8] {
        Array("\n[envyro: output truncated at \(cap) bytes]\n".utf8)
    }

    /// Marks the stream truncated and appends the marker to the file (and the tee); once.
    func markTruncated() {
        guard !truncated, writeErrno == 0 else { return }
        truncated = true
        let text = Stream.marker(cap: cap)
        if !writeAll(file, text) { writeErrno = errno }
        if tee >= 0, !writeAll(tee, text) { dropTee() }
    }

    /// Stops teeing (the supervisor's stdout went away); the capture goes on.
    func dropTee() {
        if tee >= 0 { close(tee) }
        tee = -1
    }

    /// The report for `capture_done`.
    var report: IOCaptureDone {
        IOCaptureDone(stream: which, received: received, written: written, truncated: truncated, errno: writeErrno)
    }

    /// Closes the pipe, the file and the tee.
    func closeAll() {
        close(pipe)
        close(file)
        dropTee()
    }
}

/// Writes all of `bytes` to `fd` with write(2), waiting for POLLOUT on EAGAIN; false on error
/// (errno set).
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { writeAll(fd, $0.baseAddress!, $0.count) }
}

/// Raw-memory variant of `writeAll(_:_:)`.
func writeAll(_ fd: Int32, _ start: UnsafeRawPointer, _ count: Int) -> Bool {
    var offset = 0
    while offset < count {
        let n = write(fd, start + offset, count - offset)
        if n < 0 {
            if errno == EINTR { continue }
            if errno == EAGAIN {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, -1)
                continue
            }
            return false
        }
        offset += n
    }
    return true
}
