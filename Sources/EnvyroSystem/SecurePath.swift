import CEnvyro
import Glibc

/// What a privileged reader learned about one component of a path: `fstat` and `fstatfs` of
/// the descriptor it opened for it (never of a path it looked up again).
public struct PathComponent: Sendable, Equatable {
    /// The path up to and including this component (for messages).
    public var path: String
    /// The owner.
    public var uid: uid_t
    /// `st_mode`: type and permission bits.
    public var mode: mode_t
    /// The file system's magic number (`statfs.f_type`).
    public var fileSystem: Int64

    /// Facts about one component.
    public init(path: String, uid: uid_t, mode: mode_t, fileSystem: Int64) {
        self.path = path
        self.uid = uid
        self.mode = mode
        self.fileSystem = fileSystem
    }

    var isDirectory: Bool { mode & S_IFMT == S_IFDIR }
    var isRegular: Bool { mode & S_IFMT == S_IFREG }
    var writableByOthers: Bool { mode & (S_IWGRP | S_IWOTH) != 0 }
    var sticky: Bool { mode & S_ISVTX != 0 }
}

/// Why a file is not trusted: the component, and what is wrong with it.
public struct UntrustedPath: Error, Sendable, Equatable, CustomStringConvertible {
    /// The offending component (or the whole path when it could not be opened).
    public var path: String
    /// What is wrong, and what to do.
    public var reason: String

    /// A refusal.
    public init(_ path: String, _ reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { reason.hasPrefix(path) ? reason : "\(path) \(reason)" }
}

/// Reading a file that someone else must not be able to choose, as OpenSSH's
/// `secure_filename` checks `authorized_keys`: every component from `/` down is owned by a
/// trusted owner and not writable by group or others, so nobody else can rename, replace or
/// redirect any of them.
///
/// Differences from OpenSSH, and why:
/// - The walk opens each component with `O_PATH | O_NOFOLLOW` relative to the one before and
///   judges the descriptor (`fstat`, `fstatfs`), so nothing can be swapped between the check
///   and the read: a symlink appearing in the middle makes the walk fail, it is never followed.
///   Symlinks in the caller's path are resolved once (`realpath`) before the walk.
/// - A group- or world-writable directory is accepted only when it is sticky (`/tmp`, mode
///   1777): there only an entry's owner or root can rename or remove the entry, and the entry
///   below must itself pass (trusted owner, not writable by others). OpenSSH refuses those; the
///   integration tests keep policies in a root-owned directory under `/tmp`.
/// - A component on a FUSE file system is refused whatever it claims: a user's FUSE mount can
///   report any owner and mode, uid 0 included.
public enum SecurePath {
    /// FUSE_SUPER_MAGIC.
    public static let fuseMagic: Int64 = 0x6573_5546

    /// Why the chain (`/` first, the file last) is not trustworthy for `owners`, or nil.
    /// Pure: the unit tests judge made-up chains.
    public static func refusal(_ chain: [PathComponent], owners: Set<uid_t>) -> UntrustedPath? {
        let who = owners.sorted().map { $0 == 0 ? "root" : "uid \($0)" }.joined(separator: " or ")
        for (i, c) in chain.enumerated() {
            let last = i == chain.count - 1
            if c.fileSystem == fuseMagic {
                return UntrustedPath(c.path, "is on a FUSE file system, whose owners and modes are whatever its user says; move the file to a local, root-owned directory")
            }
            if !owners.contains(c.uid) {
                return UntrustedPath(c.path, "is owned by uid \(c.uid), not \(who); whoever owns it could replace what it leads to")
            }
            if last {
                if !c.isRegular { return UntrustedPath(c.path, "is not a regular file") }
                if c.writableByOthers {
                    return UntrustedPath(c.path, "is writable by group or others (mode \(octal(c.mode))); make it 0644 or stricter")
                }
            } else {
                if !c.isDirectory { return UntrustedPath(c.path, "is not a directory") }
                if c.writableByOthers && !c.sticky {
                    return UntrustedPath(c.path, "is writable by group or others (mode \(octal(c.mode))) and not sticky; anyone who can write it could replace what is below it")
                }
            }
        }
        return nil
    }

    /// Opens `path` for reading after checking every component (see the type's comment);
    /// returns the descriptor (close-on-exec), whose owner and mode are the ones judged.
    /// `within`: when given, the file (after resolving symlinks once) must be directly in one of
    /// these directories (themselves given resolved), or it is refused before anything is read.
    public static func open(_ path: String, owners: Set<uid_t>, within: [String]? = nil) throws(UntrustedPath) -> Int32 {
        guard let resolved = realpath(path, nil) else {
            throw UntrustedPath(path, "cannot be resolved: \(Errno.describe(errno))")
        }
        let real = String(cString: resolved)
        free(resolved)
        if let within, !within.contains(Files.directory(of: real)) {
            throw UntrustedPath(path, "\(path) (\(real)) is not in \(within.joined(separator: ", "))")
        }
        let names = real.split(separator: "/").map(String.init)
        guard !names.isEmpty else { throw UntrustedPath(path, "is a directory") }
        var dir = envyro_openat_component(AT_FDCWD, "/", 1)
        guard dir >= 0 else { throw UntrustedPath("/", "cannot be opened: \(Errno.describe(errno))") }
        var chain: [PathComponent] = []
        var shown = ""
        func facts(_ fd: Int32, _ shown: String) throws(UntrustedPath) -> PathComponent {
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw UntrustedPath(shown, "cannot be examined (fstat): \(Errno.describe(errno))") }
            return PathComponent(path: shown, uid: st.st_uid, mode: st.st_mode, fileSystem: envyro_fs_magic(fd))
        }
        do throws(UntrustedPath) {
            chain.append(try facts(dir, "/"))
            for (i, name) in names.enumerated() {
                shown += "/" + name
                let last = i == names.count - 1
                let next = last ? openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
                                : envyro_openat_component(dir, name, 1)
                if next < 0 {
                    let e = errno
                    throw UntrustedPath(shown, e == ELOOP || e == ENOTDIR
                        ? "changed into a symlink or something else while it was being checked (\(Errno.describe(e)))"
                        : "cannot be opened: \(Errno.describe(e))")
                }
                close(dir)
                dir = next
                chain.append(try facts(next, shown))
            }
        } catch {
            close(dir)
            throw error
        }
        if let why = refusal(chain, owners: owners) {
            close(dir)
            throw why
        }
        return dir
    }

    /// Reads a whole file of at most `limit` bytes through `open(_:owners:)`.
    public static func read(_ path: String, owners: Set<uid_t>, within: [String]? = nil, limit: Int) throws(UntrustedPath) -> [UInt8] {
        let fd = try open(path, owners: owners, within: within)
        defer { close(fd) }
        do { return try Files.readAll(fd, subject: path, limit: limit) } catch {
            throw UntrustedPath(path, "\(error)")
        }
    }

    static func octal(_ mode: mode_t) -> String {
        let s = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }
}

/// A private runtime directory for sockets and state (`/tmp/envyro-UID`, `$XDG_RUNTIME_DIR/envyro`):
/// envyro uses one only when it is a real directory (not a symlink) owned by this user with no
/// permission for anyone else, checked with `lstat`. A directory another user made first in a
/// shared place (`/tmp`) is refused, never used: its owner could plant sockets and files there.
public enum RuntimeDirectory {
    /// Why `path` is not a private directory of this user, or nil.
    public static func refusal(_ path: String, uid: uid_t = geteuid()) -> String? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return "\(path): \(Errno.describe(errno))" }
        return refusal(path, owner: st.st_uid, mode: st.st_mode, uid: uid)
    }

    /// The judgement alone (pure, for unit tests).
    public static func refusal(_ path: String, owner: uid_t, mode: mode_t, uid: uid_t) -> String? {
        if mode & S_IFMT == S_IFLNK { return "\(path) is a symlink; it must be a directory that belongs to you and is private (mode 0700): remove it" }
        if mode & S_IFMT != S_IFDIR { return "\(path) is not a directory; remove it" }
        if owner != uid {
            let name = Environment.userName(uid: owner).map { " (\($0))" } ?? ""
            return "\(path) belongs to uid \(owner)\(name), not to you (uid \(uid)): another user made it and could plant a socket or state there; it must belong to you and be private (mode 0700): remove it (as root), or set XDG_RUNTIME_DIR"
        }
        if mode & 0o077 != 0 {
            return "\(path) has mode \(SecurePath.octal(mode)); it must belong to you and be private (mode 0700): chmod 700 \(path)"
        }
        return nil
    }

    /// Creates `path` (mode 0700; parents as needed, each also 0700 when made here) or accepts
    /// an existing one, then checks it; throws the refusal.
    public static func prepare(_ path: String) throws(UntrustedPath) {
        do { try Files.makeDirectories(path, mode: 0o700) } catch {
            throw UntrustedPath(path, "cannot be created: \(error)")
        }
        if let why = refusal(path) { throw UntrustedPath(path, why) }
    }
}
