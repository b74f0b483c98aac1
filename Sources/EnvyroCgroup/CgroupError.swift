import EnvyroSystem
import Glibc

/// Everything that can go wrong in the cgroup drivers. Each description names the call or check
/// that failed, the cgroup path it was applied to, and what to do about it.
public enum CgroupError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A cgroup path or name was refused before any system call: absolute, `..`, an empty or
    /// badly spelled component, or a symlink found while resolving it.
    case unsafePath(String, reason: String)
    /// The subtree directory at `path` belongs to `owner`, not to the caller.
    case notYourSubtree(path: String, owner: UInt32, caller: UInt32)
    /// A limit value is out of range or malformed.
    case invalidLimit(field: String, value: String, reason: String)
    /// A controller the request needs is not available where it was looked for.
    case controllerUnavailable(CgroupController, detail: String)
    /// The delegated subtree does not exist (or can't be opened) at `path`.
    case noSubtree(path: String, detail: String)
    /// A system call failed on a cgroup file or directory; `advice` says what to do.
    case system(SystemError, advice: String)
    /// The cgroup at `path` still holds processes after the bounded wait.
    case stillPopulated(path: String, pids: [Int32])
    /// A cgroup file held text that doesn't parse.
    case malformed(file: String, text: String)

    public var description: String {
        switch self {
        case let .unsafePath(path, reason):
            return "refused cgroup path '\(path)': \(reason); use a relative path of components made of A-Z a-z 0-9 _ . - (no '.', '..', '/' or symlinks)"
        case let .notYourSubtree(path, owner, caller):
            return "refused cgroup subtree \(path): it is owned by uid \(owner), not by the caller (uid \(caller)); use your own subtree (sudo envyro setup --user NAME creates it)"
        case let .invalidLimit(field, value, reason):
            return "invalid cgroup limit \(field)=\(value): \(reason)"
        case let .controllerUnavailable(controller, detail):
            return "cgroup controller '\(controller.rawValue)' is not available: \(detail)"
        case let .noSubtree(path, detail):
            return "no delegated cgroup subtree at \(path): \(detail); run 'sudo envyro setup --user NAME' to create it"
        case let .system(error, advice):
            return "\(error) (\(advice))"
        case let .stillPopulated(path, pids):
            let shown = pids.prefix(8).map(String.init).joined(separator: ", ")
            return "cgroup \(path) still holds processes [\(shown)\(pids.count > 8 ? ", ..." : "")] after the bounded wait; kill them (envyro gc) and retry"
        case let .malformed(file, text):
            let shown = text.count > 80 ? String(text.prefix(80)) + "..." : text
            return "cgroup file \(file) holds text that does not parse: '\(shown)'; check the kernel's cgroup file format"
        }
    }
}

extension CgroupError {
    /// Wraps the current errno for `call` on `path`, with advice chosen from the errno.
    static func current(_ call: String, _ path: String) -> CgroupError {
        from(SystemError.current(call, path))
    }

    /// Wraps `error` with advice chosen from its errno.
    static func from(_ error: SystemError) -> CgroupError {
        let advice: String
        switch error.errno {
        case EACCES, EPERM: advice = "permission denied: the cgroup is not delegated to you; run 'sudo envyro setup --user NAME' or use your own subtree"
        case ENOENT: advice = "the cgroup or file does not exist: the controller may not be enabled here, or the cgroup was already removed"
        case EBUSY: advice = "the cgroup is busy: it still holds processes or children; kill them (envyro gc) and retry"
        case EINVAL: advice = "the kernel refused the value: check the limit against the parent's and the kernel's ranges"
        case ENOSPC: advice = "no space: cpuset.cpus/mems may be empty, or the cgroup depth or count limit was hit"
        case ELOOP, EXDEV: advice = "a symlink or mount crossing was found on the path; cgroup paths must resolve strictly beneath the hierarchy"
        case ESRCH: advice = "the process is gone"
        default: advice = "unexpected error from the cgroup filesystem"
        }
        return .system(error, advice: advice)
    }
}
