import CEnvyro
import EnvyroSystem
import Glibc

/// Compiled BPF programs kept on disk, for processes that start per container (the embedded
/// helper's policy filter, an OCI `create`'s bundle filter) and would otherwise compile the same
/// profile with libseccomp every time.
///
/// The directory belongs to the user who reads it; an entry is used only if it is a regular file
/// owned by that user, not readable or writable by anyone else, and a whole number of BPF
/// instructions (at most the kernel's 4096). Entries are written to a temporary file (O_EXCL,
/// O_NOFOLLOW, 0600) and renamed into place. A key names everything the program depends on:
/// ``key(_:)``.
public struct SeccompDiskCache: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// The cache of this process's user: host root's `/var/cache/envyro/seccomp`, an ordinary
    /// user's `~/.cache/envyro/seccomp`. None for a process with file capabilities
    /// (`privileged`: its user could write what it would trust), nor for root of another user
    /// namespace (whose home that is can't be told).
    public static func forThisUser(privileged: Bool) -> SeccompDiskCache? {
        if UserNamespace.isHostRoot { return SeccompDiskCache(directory: "/var/cache/envyro/seccomp") }
        guard !privileged, geteuid() != 0, let home = Environment.homeDirectory(uid: geteuid()) else { return nil }
        return SeccompDiskCache(directory: home + "/.cache/envyro/seccomp")
    }

    /// SHA-256 (hex) of `parts` and what every filter depends on besides its profile and
    /// capabilities: the architecture, the kernel release and libseccomp's version.
    public static func key(_ parts: [String]) -> String {
        let text = (parts + ["\(SeccompArchitecture.native)", KernelVersion.running.map { "\($0)" } ?? "?", SeccompCompiler.libseccompVersion])
            .joined(separator: "|")
        var out = [UInt8](repeating: 0, count: 32)
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { envyro_sha256($0.baseAddress, $0.count, &out) }
        return hex(out)
    }

    /// The program stored under `key`, if it passes the checks above.
    public func load(_ key: String, suffix: String = ".bpf") -> [UInt8]? {
        let path = "\(directory)/\(key)\(suffix)"
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid == geteuid(), st.st_mode & 0o077 == 0,
              st.st_size % 8 == 0, st.st_size <= 4096 * 8 else { return nil }
        guard let bytes = try? Files.readAll(fd, subject: path, limit: 4096 * 8), bytes.count == Int(st.st_size) else { return nil }
        return bytes
    }

    /// True when an entry `key` + `suffix` exists as a regular file of ours.
    public func has(_ key: String, suffix: String) -> Bool {
        var st = stat()
        return lstat("\(directory)/\(key)\(suffix)", &st) == 0 && st.st_mode & S_IFMT == S_IFREG && st.st_uid == geteuid()
    }

    /// Stores `bpf` under `key` (best effort: a cache that can't be written is no cache).
    public func store(_ key: String, _ bpf: [UInt8], suffix: String = ".bpf") {
        guard (try? Files.makeDirectories(directory, mode: 0o700)) != nil else { return }
        let tmp = "\(directory)/.\(key).\(getpid()).tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if fd < 0 { return }
        let ok = (try? Files.writeAll(fd, bpf, subject: tmp)) != nil
        close(fd)
        if !ok || rename(tmp, "\(directory)/\(key)\(suffix)") != 0 { unlink(tmp) }
    }
}
