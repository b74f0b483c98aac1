import CEnvyro
import Glibc

/// One end of an AF_UNIX SOCK_SEQPACKET socketpair: one message per packet, file descriptors
/// only by SCM_RIGHTS (received with MSG_CMSG_CLOEXEC).
public struct SeqPacketSocket: Sendable {
    /// The descriptor.
    public let fd: Int32

    /// Wraps an existing descriptor.
    public init(fd: Int32) { self.fd = fd }

    /// A connected pair, both ends close-on-exec.
    public static func pair() throws(SystemError) -> (SeqPacketSocket, SeqPacketSocket) {
        var fds: [Int32] = [-1, -1]
        try retryingEINTR("socketpair", "SOCK_SEQPACKET") { envyro_seqpacket_pair(&fds) }
        return (SeqPacketSocket(fd: fds[0]), SeqPacketSocket(fd: fds[1]))
    }

    /// Sends one packet, with `fds` attached by SCM_RIGHTS.
    public func send(_ bytes: [UInt8], fds: [Int32] = []) throws(SystemError) {
        let n = bytes.withUnsafeBytes { buf in
            fds.withUnsafeBufferPointer { f in
                envyro_send_frame(fd, buf.baseAddress!, buf.count, fds.isEmpty ? nil : f.baseAddress, Int32(fds.count))
            }
        }
        if n < 0 { throw SystemError.current("sendmsg", "helper socket") }
        if n != bytes.count { throw SystemError("sendmsg", "helper socket", errno: EMSGSIZE) }
    }

    /// A received packet.
    public struct Packet: Sendable {
        /// The bytes (at most the capacity asked for).
        public var bytes: [UInt8]
        /// Descriptors that arrived with it (owned by the caller now).
        public var fds: [Int32]
        /// More descriptors arrived than `maxFDs`; the extra ones were closed.
        public var tooManyFDs: Bool
        /// The packet was larger than the capacity (MSG_TRUNC).
        public var truncated: Bool
        /// Control data was cut (MSG_CTRUNC).
        public var controlTruncated: Bool

        /// A packet as `receive` returns it (also for feeding a dispatcher directly).
        public init(bytes: [UInt8], fds: [Int32], tooManyFDs: Bool, truncated: Bool, controlTruncated: Bool) {
            self.bytes = bytes
            self.fds = fds
            self.tooManyFDs = tooManyFDs
            self.truncated = truncated
            self.controlTruncated = controlTruncated
        }
    }

    /// Receives one packet into raw memory (a pool slab); nil at EOF. `truncated` is set when
    /// the packet did not fit or carried descriptors (which are closed).
    public func receive(into memory: UnsafeMutableRawBufferPointer) throws(SystemError) -> (count: Int, truncated: Bool)? {
        var fds: [Int32] = [-1]
        var nfds: Int32 = 0, trunc: Int32 = 0, ctrunc: Int32 = 0
        let n = envyro_recv_frame(fd, memory.baseAddress!, memory.count, &fds, 0, &nfds, &trunc, &ctrunc)
        if n < 0 { throw SystemError.current("recvmsg", "helper socket") }
        if n == 0 && trunc == 0 { return nil }
        return (Int(n), trunc != 0 || nfds != 0)
    }

    /// Receives one packet into `buffer` (whose count is the capacity) and returns its length
    /// and flags without allocating; nil at EOF. For hot paths that reuse one buffer.
    public func receive(into buffer: inout [UInt8]) throws(SystemError) -> (count: Int, truncated: Bool)? {
        var fds: [Int32] = [-1]
        var nfds: Int32 = 0, trunc: Int32 = 0, ctrunc: Int32 = 0
        let n = buffer.withUnsafeMutableBytes { buf in
            envyro_recv_frame(fd, buf.baseAddress!, buf.count, &fds, 0, &nfds, &trunc, &ctrunc)
        }
        if n < 0 { throw SystemError.current("recvmsg", "helper socket") }
        if n == 0 && trunc == 0 { return nil }
        return (Int(n), trunc != 0 || nfds != 0)
    }

    /// Receives one packet of at most `capacity` bytes; nil at EOF.
    public func receive(capacity: Int, maxFDs: Int = 4) throws(SystemError) -> Packet? {
        var fds = [Int32](repeating: -1, count: max(maxFDs, 1))
        var nfds: Int32 = 0, trunc: Int32 = 0, ctrunc: Int32 = 0
        var n = 0
        // Uninitialised: only the received bytes are kept, so zeroing `capacity` bytes (a
        // frame's 64 KiB) on every receive was waste.
        let bytes = [UInt8](unsafeUninitializedCapacity: max(capacity, 1)) { buf, count in
            n = envyro_recv_frame(fd, buf.baseAddress!, capacity, &fds, Int32(maxFDs), &nfds, &trunc, &ctrunc)
            count = max(n, 0)
        }
        if n < 0 { throw SystemError.current("recvmsg", "helper socket") }
        if n == 0 && nfds == 0 && trunc == 0 { return nil }
        let too = Int(nfds) > maxFDs
        let got = too ? Array(fds[0..<maxFDs]) : Array(fds[0..<Int(nfds)])
        return Packet(bytes: bytes, fds: got, tooManyFDs: too, truncated: trunc != 0, controlTruncated: ctrunc != 0)
    }

    /// Closes the descriptor.
    public func close() { _ = Glibc.close(fd) }

    /// Starts the executable `path` with `arguments` (argv[0] is `path`) and the caller's
    /// environment, holding the other end of a new socket pair as its fd 3; returns its pid and
    /// our end. The helpers' start: `envyro-nshelper` and `envyro-ioworker` both take `--fd 3`.
    /// `sealed`: started from a binary no container can write (envyro_spawn_sealed_helper), for
    /// the helper whose clones become containers.
    public static func spawnPeer(_ path: String, arguments: [String], sealed: Bool = false) throws(SystemError) -> (pid: pid_t, socket: SeqPacketSocket) {
        let (mine, theirs) = try pair()
        var cArgs: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) }
        cArgs.append(nil)
        defer { for p in cArgs { free(p) } }
        var how: Int32 = 0
        let spawned = sealed ? envyro_spawn_sealed_helper(path, &cArgs, envyro_environ(), theirs.fd, &how)
                             : envyro_spawn_helper(path, &cArgs, envyro_environ(), theirs.fd)
        let e = errno
        theirs.close()
        if spawned < 0 {
            mine.close()
            throw SystemError("posix_spawn", path, errno: e)
        }
        return (spawned, mine)
    }
}

/// `poll(2)` on a few descriptors.
public enum Poll {
    /// Waits until one of `fds` is readable (or hung up), at most `timeoutMs` (-1 = forever).
    /// Returns the indices of ready descriptors (empty on timeout).
    public static func readable(_ fds: [Int32], timeoutMs: Int32) throws(SystemError) -> [Int] {
        var pfds = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let n = poll(&pfds, nfds_t(pfds.count), timeoutMs)
        if n < 0 {
            if errno == EINTR { return [] }
            throw SystemError.current("poll")
        }
        var ready: [Int] = []
        for (i, p) in pfds.enumerated() where p.revents != 0 { ready.append(i) }
        return ready
    }
}

/// Monotonic time.
public enum Clock {
    /// Nanoseconds from CLOCK_MONOTONIC.
    @inline(__always)
    public static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
