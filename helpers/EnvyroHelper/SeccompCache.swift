import CEnvyro
import EnvyroAudit
import EnvyroPolicy
import EnvyroSeccomp
import EnvyroSystem
import Glibc

/// The policy's seccomp filter, compiled by this helper itself (it trusts no BPF for the
/// policy's own filter) and kept: in memory for the helper's lifetime, and on disk so that
/// helpers started per run (embedded mode) load it instead of compiling it again.
///
/// The disk cache lives in a directory owned by the helper's user (`~/.cache/envyro/seccomp`, or
/// `/var/cache/envyro/seccomp` for root); an entry is used only if it is a regular file owned by
/// that user, not readable or writable by anyone else, and a whole number of BPF instructions.
/// Its name is the SHA-256 of everything the program depends on: the profile's digest, the
/// capability set, the architecture, the kernel release and libseccomp's version. A helper with
/// file capabilities (not root) keeps no disk cache: its user could write one.
/// A BPF program ready to install.
struct SeccompProgram {
    var bpf: [UInt8]
    var installFlags: UInt32
}

package final class SeccompCache {
    /// The profile's path, and its bytes' SHA-256 (the cache key; the JSON is parsed only when
    /// a program has to be compiled).
    let profilePath: String?
    private(set) var profileDigest = ""
    private var parsed: SeccompProfile?
    /// A privileged helper's profile bytes, read once through PolicyTrust (never by path again).
    private var trustedBytes: [UInt8]?
    /// Where compiled programs are kept (SeccompDiskCache), or nil for none.
    let disk: SeccompDiskCache?
    private let privileged: Bool
    /// Whether the profile has been read (at init, or on first use when deferred).
    private var read = false
    private var memory: [UInt64: SeccompProgram] = [:]
    private(set) var compiles = 0
    private(set) var diskHits = 0

    /// The policy's filters, compiled on first use (cached on disk where that is safe).
    /// The profile is read (and, unless these exact bytes compiled before, parsed) now, so a
    /// broken or untrusted profile stops the helper before it serves anything; `deferred` reads
    /// it on the first `filter` call instead, for a helper whose caller will most likely never
    /// get the policy's filter (a trusted host root's OCI containers get the bundle's own
    /// only): its start then skips reading and hashing the profile. A broken profile then fails
    /// the first request that needs the filter, with the same error.
    package init(policy: Policy, privileged: Bool, deferred: Bool = false) throws(SeccompError) {
        disk = SeccompDiskCache.forThisUser(privileged: privileged)
        profilePath = policy.seccomp.profile
        self.privileged = privileged
        if !deferred { try readProfile() }
    }

    /// Reads the profile and its digest once (see init).
    private func readProfile() throws(SeccompError) {
        guard !read else { return }
        read = true
        guard let path = profilePath else { return }
        if privileged {
            // The profile a policy names is read like the policy (PolicyTrust): one checked
            // descriptor, root's whole chain, never the path again.
            let bytes: [UInt8]
            do { bytes = try PolicyTrust.profileBytes(path) } catch {
                read = false
                throw SeccompError(path: path, entry: nil, reason: error.description)
            }
            profileDigest = Digest.hex(Digest.sha256(bytes))
            trustedBytes = bytes
            if !hasCachedProgram() { parsed = try SeccompProfile.parse(bytes: bytes, path: path) }
            return
        }
        guard let bytes = try? Files.read(path, limit: 4 << 20) else {
            // Let the parser produce the error message naming the file.
            profileDigest = ""
            parsed = try SeccompProfile.load(path: path)
            return
        }
        profileDigest = Digest.hex(Digest.sha256(bytes))
        // A broken profile is a policy error, found before anything is served; these exact
        // bytes need no second parse once they have been compiled.
        if !hasCachedProgram() { parsed = try SeccompProfile.parse(bytes: bytes, path: path) }
    }

    /// The cache file name for a container keeping `capabilities`.
    private func key(_ capabilities: UInt64) -> String {
        SeccompDiskCache.key([profileDigest, "\(capabilities)"])
    }

    /// Whether these exact profile bytes parsed before (a marker named by their digest, stored
    /// with the cached programs): an edited profile has another digest and is parsed again.
    private func hasCachedProgram() -> Bool {
        disk?.has(profileDigest, suffix: ".parsed") ?? false
    }

    func filter(capabilities: UInt64) throws(SeccompError) -> SeccompProgram? {
        guard let path = profilePath else { return nil }
        if let f = memory[capabilities] { return f }
        try readProfile()
        let names = Set(CapabilitySet(rawValue: capabilities).names)
        let key = key(capabilities)
        if let bpf = load(key) {
            diskHits += 1
            let f = SeccompProgram(bpf: bpf, installFlags: 0)
            memory[capabilities] = f
            return f
        }
        let profile: SeccompProfile
        if let p = parsed { profile = p }
        else if let b = trustedBytes { profile = try SeccompProfile.parse(bytes: b, path: path) }
        else { profile = try SeccompProfile.load(path: path) }
        parsed = profile
        let compiled = try SeccompCompiler.compile(profile, capabilities: names)
        compiles += 1
        let f = SeccompProgram(bpf: compiled.bpf, installFlags: compiled.installFlags)
        memory[capabilities] = f
        if f.installFlags == 0 {
            store(key, f.bpf)
            store(profileDigest, [], suffix: ".parsed")
        }
        return f
    }

    private func load(_ key: String) -> [UInt8]? {
        guard let bpf = disk?.load(key), !bpf.isEmpty else { return nil }
        return bpf
    }

    private func store(_ key: String, _ bpf: [UInt8], suffix: String = ".bpf") {
        disk?.store(key, bpf, suffix: suffix)
    }
}
