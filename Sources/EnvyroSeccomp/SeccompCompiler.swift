import CEnvyro
import CSeccomp
import EnvyroSystem
import Glibc

/// A profile compiled to classic BPF, ready for `seccomp(SECCOMP_SET_MODE_FILTER)` in the
/// container init (after `prctl(PR_SET_NO_NEW_PRIVS)`, right before execve).
public struct CompiledFilter: Sendable, Equatable {
    /// The `struct sock_filter` array, 8 bytes per instruction, in native byte order.
    public var bpf: [UInt8]
    /// The number of BPF instructions (`bpf.count / 8`).
    public var instructionCount: Int
    /// What was skipped or could not be honoured, e.g. system calls this libseccomp doesn't
    /// know. Each names the profile and the entry.
    public var warnings: [String]
    /// The `flags` argument for seccomp(2), from the profile's `flags`.
    public var installFlags: UInt32
}

/// Compiles `SeccompProfile`s to BPF with libseccomp (binary-tree optimisation).
public enum SeccompCompiler {
    /// The kernel refuses filters longer than this (`BPF_MAXINSNS`).
    public static let maxInstructions = 4096

    /// Compiles `profile` for a container holding `capabilities`.
    ///
    /// - `includes`/`excludes` are resolved against `capabilities` (names such as
    ///   `CAP_SYS_ADMIN`), the native architecture and `kernel`.
    /// - The filter covers the native architecture, the profile's `architectures`, and the
    ///   sub-architectures `archMap` lists for the native one. A system call from any other
    ///   architecture kills the process.
    /// - A rule whose action equals the default action is left out (libseccomp refuses it).
    /// - System calls libseccomp 2.5.4 doesn't know yet are skipped with a warning.
    /// - When one argument is compared more than once in a rule, each comparison becomes a
    ///   rule of its own, as in runc and crun.
    ///
    /// - Parameters:
    ///   - kernel: the kernel release `minKernel` is compared with; the running one by
    ///     default. With nil, a rule that `includes` a `minKernel` is left out.
    /// - Throws: `SeccompError` naming the profile and the entry, for an unknown capability
    ///   in `capabilities`, a rule libseccomp refuses, or a filter too long for the kernel.
    public static func compile(_ profile: SeccompProfile, capabilities: Set<String>,
                               kernel: KernelVersion? = KernelVersion.running) throws(SeccompError) -> CompiledFilter {
        var caps = Set<String>()
        for name in capabilities {
            guard let canonical = Capabilities.canonical(name) else {
                throw SeccompError(path: profile.path, entry: nil, reason: "unknown capability '\(name)' in the container's capability set")
            }
            caps.insert(canonical)
        }
        var warnings: [String] = []
        func warn(_ entry: String?, _ text: String) {
            warnings.append(SeccompError(path: profile.path, entry: entry, reason: text).description)
        }

        guard let ctx = seccomp_init(profile.defaultAction.rawValue) else {
            throw SeccompError(path: profile.path, entry: "defaultAction",
                               reason: "seccomp_init refused \(profile.defaultAction)")
        }
        defer { seccomp_release(ctx) }

        if seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) != 0 {
            warn(nil, "this libseccomp can't build a binary-tree filter; using a linear one")
        }
        // A system call made through an architecture the filter doesn't cover (an int 0x80
        // call from a 64-bit process, say) kills the whole process, not just the thread.
        if seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SeccompAction.killProcess.rawValue) != 0 {
            warn(nil, "this libseccomp can't kill the process on a foreign architecture; it kills the thread")
        }

        let native = SeccompArchitecture.native
        var extra: [(name: String, entry: String)] = []
        for (i, name) in profile.architectures.enumerated() { extra.append((name, "architectures[\(i)]")) }
        for (i, entry) in profile.archMap.enumerated() where SeccompArchitecture.token(for: entry.architecture) == native {
            for (j, sub) in entry.subArchitectures.enumerated() {
                extra.append((sub, "archMap[\(i)].subArchitectures[\(j)]"))
            }
        }
        for (name, entry) in extra {
            guard let token = SeccompArchitecture.token(for: name) else {
                throw SeccompError(path: profile.path, entry: entry, reason: "libseccomp can't build a filter for '\(name)'")
            }
            if token == native { continue }
            let rc = seccomp_arch_add(ctx, token)
            if rc != 0 && rc != -EEXIST {
                throw SeccompError(path: profile.path, entry: entry, reason: "seccomp_arch_add(\(name)): \(Errno.describe(-rc))")
            }
        }

        let defaultRaw = profile.defaultAction.rawValue
        for (i, rule) in profile.syscalls.enumerated() {
            let entry = "syscalls[\(i)]"
            guard rule.applies(capabilities: caps, nativeArchitecture: native, kernel: kernel) else {
                if kernel == nil && rule.includes.minKernel != nil {
                    warn(entry, "left out: the kernel release is unknown and the rule needs \(rule.includes.minKernel?.description ?? "")")
                }
                continue
            }
            if rule.action.rawValue == defaultRaw { continue }

            // One call with every comparison (all must hold), or one call per comparison
            // when an argument is compared twice (any may hold).
            var counts = [Int](repeating: 0, count: 6)
            for arg in rule.args { counts[Int(arg.index)] += 1 }
            let comparisons = rule.args.map {
                scmp_arg_cmp(arg: $0.index, op: $0.op.compare, datum_a: $0.value, datum_b: $0.valueTwo)
            }
            let groups: [[scmp_arg_cmp]] = counts.contains { $0 > 1 } ? comparisons.map { [$0] } : [comparisons]

            for (j, name) in rule.names.enumerated() {
                let number = seccomp_syscall_resolve_name(name)
                if number == -1 {
                    warn("\(entry).names[\(j)]", "skipped '\(name)': a Linux system call libseccomp \(libseccompVersion) doesn't know")
                    continue
                }
                for group in groups {
                    let rc = group.withUnsafeBufferPointer { buffer in
                        seccomp_rule_add_array(ctx, rule.action.rawValue, number, UInt32(buffer.count), buffer.baseAddress)
                    }
                    if rc != 0 {
                        throw SeccompError(path: profile.path, entry: "\(entry).names[\(j)]",
                                           reason: "libseccomp refused the rule for '\(name)' (\(rule.action)): \(Errno.describe(-rc))")
                    }
                }
            }
        }

        let bpf = try export(ctx, path: profile.path)
        let count = bpf.count / 8
        guard bpf.count % 8 == 0, count > 0 else {
            throw SeccompError(path: profile.path, entry: nil, reason: "libseccomp exported \(bpf.count) bytes, not a whole BPF program")
        }
        guard count <= maxInstructions else {
            throw SeccompError(path: profile.path, entry: nil,
                               reason: "the filter has \(count) instructions; the kernel accepts at most \(maxInstructions)")
        }
        let flags = profile.flags.reduce(UInt32(0)) { $0 | $1.bit }
        // No digest of the profile here: canonicalising and hashing it was 9% of an OCI create's
        // CPU with a 400-rule profile, for a field nothing read (a cache key is
        // SeccompProfile.digest plus the capabilities, the architecture and the kernel release).
        return CompiledFilter(bpf: bpf, instructionCount: count, warnings: warnings, installFlags: flags)
    }

    /// libseccomp's version, e.g. "2.5.4".
    public static var libseccompVersion: String {
        guard let v = seccomp_version() else { return "?" }
        return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.micro)"
    }

    /// Exports the filter into a memfd (libseccomp 2.5 writes BPF only to a descriptor) and
    /// reads the bytes back.
    private static func export(_ ctx: scmp_filter_ctx, path: String) throws(SeccompError) -> [UInt8] {
        let fd = envyro_memfd_create("envyro-seccomp-bpf", 1) // MFD_CLOEXEC
        if fd < 0 {
            throw SeccompError(path: path, entry: nil, reason: SystemError.current("memfd_create", "seccomp BPF").description)
        }
        defer { close(fd) }
        let rc = seccomp_export_bpf(ctx, fd)
        if rc != 0 {
            throw SeccompError(path: path, entry: nil, reason: "seccomp_export_bpf: \(Errno.describe(-rc))")
        }
        if lseek(fd, 0, SEEK_SET) < 0 {
            throw SeccompError(path: path, entry: nil, reason: SystemError.current("lseek", "seccomp BPF memfd").description)
        }
        do {
            return try Files.readAll(fd, subject: "seccomp BPF memfd", limit: (maxInstructions + 1) * 8 * 16)
        } catch {
            throw SeccompError(path: path, entry: nil, reason: error.description)
        }
    }
}

extension SeccompRule {
    /// True if the rule is part of the filter for a container holding `capabilities`
    /// (canonical names) on `nativeArchitecture` (a libseccomp token) under `kernel`.
    ///
    /// As in moby: any `excludes` part that holds leaves the rule out (an excluded capability
    /// that is held, the native architecture among the excluded ones, a kernel at least
    /// `excludes.minKernel`); then every `includes` part must hold (all its capabilities held,
    /// the native architecture among its arches, a kernel at least `includes.minKernel`).
    public func applies(capabilities: Set<String>, nativeArchitecture: UInt32,
                        kernel: KernelVersion?) -> Bool {
        func isNative(_ names: [String]) -> Bool {
            names.contains { SeccompArchitecture.token(for: $0) == nativeArchitecture }
        }
        if excludes.caps.contains(where: capabilities.contains) { return false }
        if !excludes.arches.isEmpty && isNative(excludes.arches) { return false }
        if let min = excludes.minKernel, let kernel, kernel >= min { return false }

        if !includes.caps.allSatisfy(capabilities.contains) { return false }
        if !includes.arches.isEmpty && !isNative(includes.arches) { return false }
        if let min = includes.minKernel {
            guard let kernel, kernel >= min else { return false }
        }
        return true
    }
}
