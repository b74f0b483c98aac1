// The files of a pooled container cgroup, kept open from one run to the next. A pooled cgroup
// reads and writes the same twenty-odd files every run (its stats, its limits written again, its
// counters reset, the join files its next container writes); opening each beneath its directory
// (openat2, a path walk in cgroupfs) and closing it again was 6% of a daemon helper's CPU per
// start (perf, 600 starts). Reads go through pread at offset 0, which makes cgroupfs generate
// the file again; writes through pwrite.

import CEnvyro
import EnvyroSystem
import Glibc
import Synchronization

/// Open descriptors of a container cgroup's files, once `enable()` was called (the cgroup went
/// into a pool). Until then, and for cgroups that are never pooled, every access opens and
/// closes its file as before: a daemon with many runs in flight keeps no descriptors for them.
final class CgroupOpenFiles: Sendable {
    private struct Key: Hashable {
        let directory: Int32
        let file: String
        let write: Bool
    }
    /// An fd, or -errno for a file that could not be opened (a missing one stays missing:
    /// `memory.memsw.*` without swap accounting is not looked up every run).
    private let state = Mutex<(enabled: Bool, fds: [Key: Int32])>((false, [:]))

    /// From now on, files are kept open.
    func enable() { state.withLock { $0.enabled = true } }

    /// The kept descriptor of `file` in `d` (opened beneath it the first time), or nil when
    /// files are not kept. An open that failed throws as `CgroupFS.open` does, every time.
    func descriptor(_ d: CgroupDirectory, _ file: String, write: Bool) throws(CgroupError) -> Int32? {
        let key = Key(directory: d.fd, file: file, write: write)
        let found: Int32? = state.withLock { s -> Int32? in
            guard s.enabled else { return nil }
            if let fd = s.fds[key] { return fd }
            let fd = envyro_openat2_beneath(d.fd, file, (write ? O_WRONLY : O_RDONLY) | O_CLOEXEC, 0)
            s.fds[key] = fd >= 0 ? fd : -errno
            return s.fds[key]
        }
        guard let fd = found else { return nil }
        if fd >= 0 { return fd }
        throw CgroupFS.openFailure(-fd, shown: d.shown(file))
    }

    /// Closes every kept descriptor; files are not kept any more.
    func closeAll() {
        let fds = state.withLock { s -> [Int32] in
            let open = s.fds.values.filter { $0 >= 0 }
            s = (false, [:])
            return open
        }
        for fd in fds { close(fd) }
    }

    deinit { closeAll() }

    /// The whole of a small cgroup file, read from offset 0 (cgroupfs makes it again).
    static func readAll(_ fd: Int32, shown: @autoclosure () -> String) throws(CgroupError) -> String {
        var out: [UInt8] = []
        var offset = 0
        let chunk = 512
        while true {
            let got: Int = withUnsafeTemporaryAllocation(byteCount: chunk, alignment: 1) { buf in
                var n = 0
                repeat { n = pread(fd, buf.baseAddress, chunk, off_t(offset)) } while n < 0 && errno == EINTR
                if n > 0 { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[0..<n])) }
                return n
            }
            if got < 0 { let e = errno; throw .from(SystemError("read", shown(), errno: e)) }
            offset += got
            // cgroupfs fills the whole buffer when it can: a short read was the end (one pread
            // for a small file instead of a second one that returns 0).
            if got < chunk { return String(decoding: out, as: UTF8.self) }
            if offset > 1 << 20 { throw .from(SystemError("read", shown(), errno: EFBIG)) }
        }
    }
}

extension ContainerCgroup {
    /// Reads `file` in `d`: through its kept descriptor once the cgroup is pooled.
    func readFile(_ d: CgroupDirectory, _ file: String) throws(CgroupError) -> String {
        if let fd = try openFiles.descriptor(d, file, write: false) { return try CgroupOpenFiles.readAll(fd, shown: d.shown(file)) }
        return try CgroupFS.read(d.fd, file, shown: d.shown(file))
    }

    /// Writes `value` to `file` in `d`: through its kept descriptor once the cgroup is pooled.
    func writeFile(_ d: CgroupDirectory, _ file: String, _ value: String) throws(CgroupError) {
        if let fd = try openFiles.descriptor(d, file, write: true) { return try CgroupFS.writeOnce(fd, value, shown: d.shown(file)) }
        try CgroupFS.write(d.fd, file, value, shown: d.shown(file))
    }

    /// A descriptor (O_WRONLY, close-on-exec) of `d`'s join file for a child to write itself
    /// into, and whether the caller owns it: once the cgroup is pooled it is the kept one, which
    /// the caller must not close (it stays open as long as this cgroup). fd -1 with errno set on
    /// failure.
    public func openJoinFile(_ d: CgroupDirectory) -> (fd: Int32, owned: Bool) {
        do {
            if let fd = try openFiles.descriptor(d, d.joinFile, write: true) { return (fd, false) }
        } catch {
            if case .system(let e, _) = error { errno = e.errno } else { errno = ELOOP }
            return (-1, false)
        }
        return (envyro_openat2_beneath(d.fd, d.joinFile, O_WRONLY, 0), true)
    }
}
