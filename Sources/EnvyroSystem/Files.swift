import CEnvyro
import Glibc

/// Small file helpers on raw descriptors; every failure names the call and the path.
public enum Files {
    /// Reads a whole regular file of at most `limit` bytes.
    public static func read(_ path: String, limit: Int = 1 << 20) throws(SystemError) -> [UInt8] {
        let fd = try retryingEINTR("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var st = stat()
        try retryingEINTR("fstat", path) { fstat(fd, &st) }
        if (st.st_mode & S_IFMT) != S_IFREG { throw SystemError("read", path, errno: EINVAL) }
        if Int(st.st_size) > limit { throw SystemError("read", path, errno: EFBIG) }
        return try readAll(fd, subject: path, limit: limit)
    }

    /// Reads from `fd` until EOF, at most `limit` bytes.
    public static func readAll(_ fd: Int32, subject: String, limit: Int) throws(SystemError) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8192)
        while true {
            var n = 0
            repeat {
                n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            } while n < 0 && errno == EINTR
            if n < 0 { throw SystemError.current("read", subject) }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit { throw SystemError("read", subject, errno: EFBIG) }
        }
    }

    /// Writes all of `bytes` to `fd`.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], subject: String) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            var n = 0
            repeat {
                n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            } while n < 0 && errno == EINTR
            if n < 0 { throw SystemError.current("write", subject) }
            offset += n
        }
    }

    /// Writes `text` to an existing file (used for /proc files such as uid_map, which must be
    /// written in one write call).
    public static func writeOnce(_ path: String, _ text: String) throws(SystemError) {
        let fd = try retryingEINTR("open", path) { open(path, O_WRONLY | O_CLOEXEC) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        var n = 0
        repeat {
            n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        } while n < 0 && errno == EINTR
        if n < 0 { throw SystemError.current("write", path) }
        if n != bytes.count { throw SystemError("write", path, errno: EIO) }
    }

    /// Creates `path` and its missing parents with `mode`.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o700) throws(SystemError) {
        var current = ""
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            current += "/" + part
            if mkdir(current, mode) != 0 && Glibc.errno != EEXIST {
                throw SystemError.current("mkdir", current)
            }
        }
    }

    /// `lstat` kinds that matter for validation.
    public enum Kind: Sendable, Equatable { case missing, directory, regular, symlink, other }

    /// What `path` is, without following a final symlink.
    public static func kind(_ path: String) -> Kind {
        var st = stat()
        if lstat(path, &st) != 0 { return .missing }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFREG: return .regular
        case S_IFLNK: return .symlink
        default: return .other
        }
    }

    /// `realpath(3)`.
    public static func realPath(_ path: String) throws(SystemError) -> String {
        guard let p = realpath(path, nil) else { throw SystemError.current("realpath", path) }
        defer { free(p) }
        return String(cString: p)
    }

    /// The path of the running executable (`/proc/self/exe`).
    public static func executablePath() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        if n <= 0 { return CommandLine.arguments.first ?? "" }
        let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // A helper started from a sealed memfd copy (envyro_spawn_sealed_helper) was given its
        // binary's path as argv[0] by its own user's supervisor.
        if exe.hasPrefix("/memfd:") { return CommandLine.arguments.first ?? exe }
        return exe
    }

    /// The last component of `path` ("envyro-runc" for "/usr/local/bin/envyro-runc").
    public static func baseName(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init) ?? path
    }

    /// The directory part of `path`.
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// The names in directory `path` (without "." and ".."), unsorted.
    public static func listDirectory(_ path: String) throws(SystemError) -> [String] {
        guard let dir = opendir(path) else { throw SystemError.current("opendir", path) }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { p in
                p.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }

    /// The current working directory.
    public static func currentDirectory() throws(SystemError) -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil else { throw SystemError.current("getcwd", nil) }
        return String(cString: buf)
    }
}

/// The process environment, read without Foundation.
/// The user namespace this process runs in.
public enum UserNamespace {
    /// Whether it is the host's (initial) one: /proc/self/uid_map maps all 2^32 ids to
    /// themselves. Root in another user namespace (rootless podman runs its OCI runtime in one)
    /// has no privilege over the host.
    public static let isInitial: Bool = {
        guard let bytes = try? Files.read("/proc/self/uid_map", limit: 4096) else { return true }
        let fields = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        return fields == ["0", "0", "4294967295"]
    }()

    /// The host uid this process's uid maps to (from /proc/self/uid_map), or nil.
    public static var hostUID: uid_t? {
        guard let bytes = try? Files.read("/proc/self/uid_map", limit: 4096) else { return nil }
        let me = UInt64(getuid())
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let f = line.split(separator: " ").compactMap { UInt64($0) }
            if f.count == 3, me >= f[0], me < f[0] + f[2] { return uid_t(truncatingIfNeeded: f[1] + (me - f[0])) }
        }
        return nil
    }

    /// Root of the host: uid 0 in the initial user namespace.
    public static var isHostRoot: Bool { geteuid() == 0 && isInitial }
}

public enum Environment {
    /// The value of `name`, or nil.
    public static func get(_ name: String) -> String? {
        guard let v = getenv(name) else { return nil }
        return String(cString: v)
    }

    /// The user name of `uid` from the passwd database.
    public static func userName(uid: uid_t) -> String? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        var buf = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &pwd, &buf, buf.count, &result) == 0, result != nil, let n = pwd.pw_name else { return nil }
        return String(cString: n)
    }

    /// `user`'s (or `id`'s) ranges in a subordinate-id file (`/etc/subuid`, `/etc/subgid`:
    /// lines `name:start:count` or `id:start:count`), in file order. In both files a numeric
    /// owner is a uid (shadow's newuidmap and newgidmap both match the user's name, then the
    /// user's uid): pass the caller's uid as `id` for /etc/subgid too.
    public static func subordinateRanges(_ path: String, user: String?, id: UInt32) -> [(start: UInt64, count: UInt64)] {
        guard let bytes = try? Files.read(path, limit: 1 << 20) else { return [] }
        return subordinateRanges(text: String(decoding: bytes, as: UTF8.self), user: user, id: id)
    }

    /// The matching alone, on a file's text (pure, for unit tests).
    public static func subordinateRanges(text: String, user: String?, id: UInt32) -> [(start: UInt64, count: UInt64)] {
        var out: [(start: UInt64, count: UInt64)] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count == 3, let start = UInt64(f[1]), let count = UInt64(f[2]), count > 0 else { continue }
            if f[0] == String(id) || (user != nil && f[0] == user!) { out.append((start, count)) }
        }
        return out
    }

    /// The home directory of `uid` from the passwd database.
    public static func homeDirectory(uid: uid_t) -> String? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        var buf = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &pwd, &buf, buf.count, &result) == 0, result != nil, let dir = pwd.pw_dir else { return nil }
        return String(cString: dir)
    }
}
