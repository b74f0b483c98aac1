import CEnvyro
import EnvyroSystem
import Glibc

/// Validation of cgroup paths and names, done before any system call.
public enum CgroupPath {
    /// Splits a relative cgroup path like `envyro/u1000` into checked components. Refuses
    /// absolute paths, empty components (`a//b`, a trailing `/`), `.` and `..`, and any byte
    /// outside `[A-Za-z0-9_.-]`.
    public static func components(_ path: String) throws(CgroupError) -> [String] {
        if path.isEmpty { throw .unsafePath(path, reason: "the path is empty") }
        if path.hasPrefix("/") { throw .unsafePath(path, reason: "absolute paths are refused; give a path relative to the hierarchy, like envyro/u1000") }
        var out: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: false) {
            try checkName(String(part), in: path)
            out.append(String(part))
        }
        if out.count > 16 { throw .unsafePath(path, reason: "more than 16 components") }
        return out
    }

    /// Checks one component (a container cgroup name). `path` is what the error shows.
    public static func checkName(_ name: String, in path: String? = nil) throws(CgroupError) {
        let shown = path ?? name
        if name.isEmpty { throw .unsafePath(shown, reason: "an empty component ('//' or a trailing '/')") }
        if name == "." || name == ".." { throw .unsafePath(shown, reason: "'\(name)' components are refused") }
        if name.utf8.count > 128 { throw .unsafePath(shown, reason: "component '\(name.prefix(16))...' is longer than 128 bytes") }
        for byte in name.utf8 where !isAllowed(byte) {
            let what = byte == UInt8(ascii: "/") ? "'/'" : (byte >= 0x20 && byte < 0x7f ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))")
            throw .unsafePath(shown, reason: "component '\(name)' contains \(what)")
        }
    }

    static func isAllowed(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)
            || b == UInt8(ascii: "_") || b == UInt8(ascii: ".") || b == UInt8(ascii: "-")
            || b == UInt8(ascii: "@")   // systemd's user@UID.service
    }
}

/// Raw file operations beneath a directory fd. Every open goes through
/// `envyro_openat2_beneath` (RESOLVE_BENEATH | NO_SYMLINKS | NO_MAGICLINKS | NO_XDEV), so a
/// symlink or a mount crossing anywhere on the path fails instead of being followed.
enum CgroupFS {
    /// Opens `path` beneath `dirfd`; `shown()` is the full path for messages.
    static func open(_ dirfd: Int32, _ path: String, _ flags: Int32, shown: @autoclosure () -> String) throws(CgroupError) -> Int32 {
        let fd = envyro_openat2_beneath(dirfd, path, flags, 0)
        if fd >= 0 { return fd }
        throw openFailure(errno, shown: shown())
    }

    /// The error an open beneath a directory that failed with `e` throws.
    static func openFailure(_ e: Int32, shown: @autoclosure () -> String) -> CgroupError {
        if e == ELOOP { return .unsafePath(shown(), reason: "a symlink was found on the path (openat2 RESOLVE_NO_SYMLINKS)") }
        if e == EXDEV { return .unsafePath(shown(), reason: "the path leaves the hierarchy or crosses a mount (openat2 RESOLVE_BENEATH|RESOLVE_NO_XDEV)") }
        return .from(SystemError("openat2", shown(), errno: e))
    }

    /// Opens a directory beneath `dirfd`.
    static func openDirectory(_ dirfd: Int32, _ path: String, shown: @autoclosure () -> String) throws(CgroupError) -> Int32 {
        try open(dirfd, path, O_RDONLY | O_DIRECTORY, shown: shown())
    }

    /// Reads a small cgroup file.
    static func read(_ dirfd: Int32, _ name: String, shown: @autoclosure () -> String) throws(CgroupError) -> String {
        let fd = try open(dirfd, name, O_RDONLY, shown: shown())
        defer { close(fd) }
        do {
            return String(decoding: try Files.readAll(fd, subject: shown(), limit: 1 << 20), as: UTF8.self)
        } catch {
            throw .from(error)
        }
    }

    /// Writes `value` in one write(2) call, as cgroup files need.
    static func write(_ dirfd: Int32, _ name: String, _ value: String, shown: @autoclosure () -> String) throws(CgroupError) {
        let fd = try open(dirfd, name, O_WRONLY, shown: shown())
        defer { close(fd) }
        try writeOnce(fd, value, shown: shown())
    }

    /// One write of `value` to an open cgroup file, at offset 0 (pwrite): a file kept open and
    /// written every run (CgroupOpenFiles) is written the same way as a fresh one.
    static func writeOnce(_ fd: Int32, _ value: String, shown: @autoclosure () -> String) throws(CgroupError) {
        var text = value
        let n = text.withUTF8 { buf -> Int in
            var r = 0
            repeat { r = pwrite(fd, buf.baseAddress, buf.count, 0) } while r < 0 && errno == EINTR
            return r == buf.count || r < 0 ? r : -2
        }
        if n == -2 { throw .from(SystemError("write", shown(), errno: EIO)) }
        if n < 0 { let e = errno; throw .from(SystemError("write", shown(), errno: e)) }
    }

    /// True when `name` exists in `dirfd` (no symlink following).
    static func exists(_ dirfd: Int32, _ name: String) -> Bool {
        var st = Glibc.stat()
        return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0
    }

    /// mkdirat; returns false when it already existed.
    @discardableResult
    static func mkdir(_ dirfd: Int32, _ name: String, mode: UInt32 = 0o755, shown: @autoclosure () -> String) throws(CgroupError) -> Bool {
        if envyro_mkdirat(dirfd, name, mode) == 0 { return true }
        if errno == EEXIST { return false }
        let e = errno
        throw .from(SystemError("mkdirat", shown(), errno: e))
    }

    /// rmdir beneath `dirfd`, retrying EBUSY briefly (the kernel may still be tearing down a
    /// task that just left). Returns false when it was already gone.
    @discardableResult
    static func rmdir(_ dirfd: Int32, _ name: String, shown: @autoclosure () -> String) throws(CgroupError) -> Bool {
        var attempts = 0
        while true {
            if envyro_rmdirat(dirfd, name) == 0 { return true }
            let e = errno
            if e == ENOENT { return false }
            if e == EINTR { continue }
            if e == EBUSY && attempts < 200 {
                attempts += 1
                usleep(1000)
                continue
            }
            throw .from(SystemError("rmdir", shown(), errno: e))
        }
    }

    /// Names of the subdirectories of `dirfd` (a duplicate fd is used, so `dirfd` stays put).
    static func subdirectories(_ dirfd: Int32, shown: @autoclosure () -> String) throws(CgroupError) -> [String] {
        let fd = try openDirectory(dirfd, ".", shown: shown())
        guard let dir = fdopendir(fd) else {
            let e = errno
            close(fd)
            throw .from(SystemError("fdopendir", shown(), errno: e))
        }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
            let name = withUnsafePointer(to: entry.pointee.d_name) { p in
                p.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out.sorted()
    }

    /// fstat of an open fd.
    static func stat(_ fd: Int32, shown: @autoclosure () -> String) throws(CgroupError) -> Glibc.stat {
        var st = Glibc.stat()
        if fstat(fd, &st) != 0 { let e = errno; throw .from(SystemError("fstat", shown(), errno: e)) }
        return st
    }

    /// fchownat without following symlinks.
    static func chown(_ dirfd: Int32, _ name: String, uid: uid_t, gid: gid_t, shown: @autoclosure () -> String) throws(CgroupError) {
        if fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 { let e = errno; throw .from(SystemError("fchownat", shown(), errno: e)) }
    }
}
