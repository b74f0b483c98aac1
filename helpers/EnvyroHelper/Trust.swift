// Who started this helper, and which policy files it may trust as a result (issue 13, item 6).
import CEnvyro
import EnvyroPolicy
import EnvyroSystem
import Glibc

/// How much more privilege this helper has than whoever started it.
package enum HelperPrivilege: Equatable {
    /// An ordinary user's helper without capabilities: it may read whatever its user can.
    case none
    /// Started by root (in the host's user namespace): root chooses its own policy files, but
    /// they must be root's in a place only root can change.
    case root
    /// Started by an ordinary user with more privilege than that user (file capabilities:
    /// the loader reports AT_SECURE; or any effective capability without being root). Its
    /// caller is not trusted at all: policies only by name from the fixed directories.
    case elevated

    /// This process's privilege, read before anything else (before any capability is dropped).
    package static func current() -> HelperPrivilege {
        guard UserNamespace.isInitial else { return .none }   // root of another user namespace has no host privilege
        if envyro_at_secure() != 0 || (getuid() != 0 && envyro_effective_capabilities() != 0) { return .elevated }
        return geteuid() == 0 ? .root : .none
    }
}

/// Which policy (and seccomp profile) files a privileged helper trusts (issue 13, item 6).
///
/// - Every privileged helper opens the file through `SecurePath`: `O_NOFOLLOW` descriptors
///   from `/` down, each judged by `fstat`/`fstatfs` (owned by root, not writable by group or
///   others unless a sticky directory, nothing on FUSE), and reads the very descriptor it
///   judged. Nothing is looked up again by path after the check.
/// - An elevated helper (file capabilities) takes a policy only from the fixed directories:
///   the system ones (`/etc/envyro/policy`, ...) and the installation's own (`policy/` or
///   `share/envyro/policy/` beside the binary the kernel ran, found from `/proc/self/exe`, not
///   from anything its caller says); a path elsewhere is refused. `$ENVYRO_POLICY_DIR` is
///   ignored (as for root).
/// - Root may name any path (the integration tests keep policies in a root-owned directory
///   under `/tmp`), but the whole chain must be root's.
package enum PolicyTrust {
    /// Why a file is not trusted.
    package struct Refusal: Error, CustomStringConvertible {
        /// The reason.
        package var description: String
    }

    /// The policy `nameOrPath`, read as `privilege` allows.
    package static func load(_ nameOrPath: String, privilege: HelperPrivilege) throws -> Policy {
        let dirs = PolicyLoader.searchDirectories(executablePath: Files.executablePath(), allowEnvironment: privilege == .none)
        if privilege == .none { return try PolicyLoader.load(nameOrPath, searchDirectories: dirs) }
        let path = try PolicyLoader.locate(nameOrPath, searchDirectories: dirs)
        // The fixed-directory rule is checked on the same resolution the read uses (SecurePath),
        // so a symlink swapped in between can't point the read elsewhere.
        let fixed = privilege == .elevated ? dirs.compactMap { try? Files.realPath($0) } : nil
        let bytes: [UInt8]
        do { bytes = try SecurePath.read(path, owners: [0], within: fixed, limit: PolicyLoader.maxFileBytes) } catch {
            if fixed != nil, error.reason.contains(" is not in ") {
                throw Refusal(description: "policy \(path): an installed (privileged) envyro-nshelper reads policies only by name from \(dirs.joined(separator: ", ")); ask an admin to install this policy there, or use a name (default, strict)")
            }
            throw Refusal(description: "policy \(path) is not trusted by a privileged helper: \(error)")
        }
        return try PolicyLoader.parse(bytes, path: path)
    }

    /// The policy's seccomp profile, read the same way (a privileged helper only).
    static func profileBytes(_ path: String) throws(Refusal) -> [UInt8] {
        do { return try SecurePath.read(path, owners: [0], limit: 4 << 20) } catch {
            throw Refusal(description: "seccomp profile \(path) is not trusted by a privileged helper: \(error)")
        }
    }
}

