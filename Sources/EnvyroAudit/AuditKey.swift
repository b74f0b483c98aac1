import EnvyroSystem
import Glibc

extension Digest {
    /// SHA-256's block size in bytes.
    static let blockSize = 64

    /// HMAC-SHA256 (RFC 2104) of `message` under `key`, on top of libmd's SHA-256: a key longer
    /// than a block is hashed first, then `H((K ^ opad) || H((K ^ ipad) || message))`.
    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var k = key.count > blockSize ? sha256(key) : key
        k += [UInt8](repeating: 0, count: blockSize - k.count)
        let inner = sha256(k.map { $0 ^ 0x36 } + message)
        return sha256(k.map { $0 ^ 0x5c } + inner)
    }

    /// Compares two byte strings in time that depends only on their lengths.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    /// Bytes from lower-case or upper-case hex, or nil.
    public static func bytes(hex: some StringProtocol) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let hi = value(digits[i]), let lo = value(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}

/// Why an audit key can't be used: the file, what is wrong, and what to do.
public struct AuditKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The key file.
    public var path: String
    /// What is wrong with it, and what to do.
    public var reason: String
    /// The errno behind it, or 0.
    public var errno: Int32

    public init(_ path: String, _ reason: String, errno: Int32 = 0) {
        self.path = path
        self.reason = reason
        self.errno = errno
    }

    public var description: String { "audit key \(path): \(reason)" }
}

/// The secret that keys an audit chain: each line carries an HMAC-SHA256 of itself under this
/// key, so a process that can append to the log (an fd leaked into a container, another
/// process of the user) but can't read the key can't add or change a line that verifies.
///
/// One key per log directory (`<dir>/audit.key`, shared by the rotated files), 32 random bytes
/// as hex, created 0600 by the helper that first writes the log and readable only by its owner.
public struct AuditKey: Sendable, Equatable {
    /// The key file it was read from.
    public let path: String
    /// The secret.
    public let bytes: [UInt8]

    /// A key held in memory (tests, and keys read by `load`).
    public init(path: String, bytes: [UInt8]) {
        self.path = path
        self.bytes = bytes
    }

    /// The key file of the log at `logPath`: `audit.key` in the log's directory.
    public static func defaultPath(forLog logPath: String) -> String {
        Files.directory(of: logPath) + "/audit.key"
    }

    /// The MAC of `body` under this key, as hex.
    public func mac(_ body: [UInt8]) -> String {
        Digest.hex(Digest.hmacSHA256(key: bytes, message: body))
    }

    /// Reads the key at `path`. It must be a regular file (not a symlink), readable by nobody
    /// but its owner, and owned by `owner` (the helper's own uid) or, when `owner` is nil, by
    /// the caller or anyone when the caller is root (`envyro audit verify` run by root).
    public static func load(path: String, owner: uid_t? = geteuid()) throws(AuditKeyError) -> AuditKey {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)
        if fd < 0 {
            let e = errno
            if e == ELOOP { throw AuditKeyError(path, "is a symbolic link; the key must be a regular file (remove the link)", errno: e) }
            throw AuditKeyError(path, "cannot open: \(Errno.describe(e))", errno: e)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw AuditKeyError(path, "fstat: \(Errno.describe(errno))", errno: errno) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw AuditKeyError(path, "is not a regular file (remove it; the helper makes a new one)") }
        if let owner, st.st_uid != owner {
            throw AuditKeyError(path, "is owned by uid \(st.st_uid), not \(owner): a key someone else made proves nothing (remove it; the helper makes a new one)")
        }
        if owner == nil, st.st_uid != geteuid(), geteuid() != 0 {
            throw AuditKeyError(path, "is owned by uid \(st.st_uid): only its owner or root may read it", errno: EACCES)
        }
        if st.st_mode & 0o077 != 0 {
            throw AuditKeyError(path, "is readable or writable by group or others (mode \(String(st.st_mode & 0o777, radix: 8))): anyone who can read it can forge the log; `chmod 600` it, or remove it and start a new log")
        }
        let text: [UInt8]
        do { text = try Files.readAll(fd, subject: path, limit: 256) } catch {
            throw AuditKeyError(path, "\(error)", errno: error.errno)
        }
        let hex = String(decoding: text, as: UTF8.self).trimmingTrailingNewline
        guard hex.utf8.count == 64, let bytes = Digest.bytes(hex: hex) else {
            throw AuditKeyError(path, "is not 64 hex digits (32 bytes); remove it and the helper makes a new one")
        }
        return AuditKey(path: path, bytes: bytes)
    }

    /// Reads the key at `path`, or creates it (32 bytes from the kernel's random pool, mode
    /// 0600, owned by this process's uid). The new key is written to a temporary file made with
    /// O_EXCL|O_NOFOLLOW and linked into place, so a concurrent helper never reads half a key
    /// and a planted file or symlink is never written through.
    public static func loadOrCreate(path: String) throws(AuditKeyError) -> AuditKey {
        if Files.kind(path) != .missing { return try load(path: path) }
        var secret = [UInt8](repeating: 0, count: 32)
        let random = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        guard random >= 0 else { throw AuditKeyError(path, "cannot open /dev/urandom: \(Errno.describe(errno))", errno: errno) }
        let n = secret.withUnsafeMutableBytes { read(random, $0.baseAddress, 32) }
        close(random)
        guard n == 32 else { throw AuditKeyError(path, "cannot read 32 random bytes from /dev/urandom") }
        let tmp = "\(path).new-\(getpid())-\(Digest.hex(Array(secret.prefix(4))))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AuditKeyError(path, "cannot create \(tmp): \(Errno.describe(errno))", errno: errno) }
        defer { unlink(tmp) }
        do { try Files.writeAll(fd, Array((Digest.hex(secret) + "\n").utf8), subject: tmp) } catch {
            close(fd)
            throw AuditKeyError(path, "\(error)", errno: error.errno)
        }
        if fsync(fd) != 0 {
            let e = errno
            close(fd)
            throw AuditKeyError(path, "fsync(\(tmp)): \(Errno.describe(e))", errno: e)
        }
        close(fd)
        // link(2) fails with EEXIST when another helper won the race: its key is the key.
        if link(tmp, path) != 0 && errno != EEXIST {
            throw AuditKeyError(path, "cannot create: \(Errno.describe(errno))", errno: errno)
        }
        return try load(path: path)
    }
}

extension String {
    var trimmingTrailingNewline: String {
        var s = Substring(self)
        while s.last == "\n" || s.last == "\r" { s = s.dropLast() }
        return String(s)
    }
}
