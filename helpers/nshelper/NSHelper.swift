// envyro-nshelper: the only Envyro process that may hold privileges.
//
// It serves one supervisor over the SOCK_SEQPACKET socket it inherits as fd 3, answers a closed
// set of verbs (see Dispatcher.swift), re-validates every request against the policy it loads
// itself, writes one audit line per call before replying, and exits when the supervisor goes
// away, killing whatever it created. It does not import Foundation.
import CEnvyro
import EnvyroAudit
import EnvyroCgroup
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// Prints `message` to stderr and exits with `code`.
func die(_ message: String, code: Int32 = 2) -> Never {
    let line = "envyro-nshelper: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(code)
}

/// Without a usable policy or audit log the helper can serve nothing: it answers the first
/// request with the reason (the supervisor shows it) and exits with `code`. Nothing is printed
/// here, so a supervisor that already reported the same problem is not echoed.
func refuseFirstRequest(_ socket: SeqPacketSocket, step: String, message: String, code: Int32) -> Never {
    if let packet = try? socket.receive(capacity: ProtocolLimits.defaultMaxFrameBytes + 1, maxFDs: 5) {
        for fd in packet.fds { close(fd) }
        let id = (try? FrameHeader.decode(packet.bytes))?.requestID ?? 0
        try? socket.send(Codec.encode(.failed(Failure(errno: EINVAL, step: step, message: message)), requestID: id))
    }
    exit(code)
}

/// `envyro setup --user NAME`: as root, delegate `envyro/u<uid>` in every cgroup hierarchy to
/// the user, so their runs can have limits. Exits.
func setupUser(_ who: String) -> Never {
    guard getuid() == 0 else {
        die("envyro setup must run as root (it hands a cgroup subtree to a user): sudo envyro setup --user \(who)", code: 77)
    }
    var pwd = passwd()
    var result: UnsafeMutablePointer<passwd>? = nil
    var buf = [CChar](repeating: 0, count: 4096)
    if let uid = UInt32(who) { getpwuid_r(uid, &pwd, &buf, buf.count, &result) } else { getpwnam_r(who, &pwd, &buf, buf.count, &result) }
    guard result != nil else { die("no such user: \(who)", code: 67) }
    let uid = pwd.pw_uid, gid = pwd.pw_gid
    do {
        let hierarchy = try CgroupHierarchy.detect()
        let paths = try CgroupDelegation.delegate(hierarchy: hierarchy, uid: uid, gid: gid)
        for p in paths { print("delegated \(p) to uid \(uid)") }
        let rootLog = AuditLog.defaultPath(uid: 0, allowEnvironment: false)
        if let key = try? AuditKey.loadOrCreate(path: AuditKey.defaultPath(forLog: rootLog)),
           let audit = try? AuditLog(path: rootLog, key: key) {
            _ = try? audit.append(AuditRecord(verb: "setup", callerUID: 0, callerPID: getpid(), argumentDigest: Digest.sha256(Array(who.utf8)),
                                              decision: .allowed, result: "ok", durationMicros: 0, detail: "delegated cgroup subtree to uid \(uid)"))
        }
        exit(0)
    } catch {
        die("cannot delegate a cgroup subtree to \(who): \(error)", code: 1)
    }
}

/// Whether a privileged helper may trust a policy file.
enum PolicyTrust {
    /// Why `path` is refused: a privileged helper only reads policy files (and their
    /// directory) that are owned by root and not writable by group or others.
    static func refusal(_ path: String) -> String? {
        for p in [path, Files.directory(of: path)] {
            var st = stat()
            guard stat(p, &st) == 0 else { return "cannot stat \(p)" }
            if st.st_uid != 0 { return "\(p) is not owned by root; an installed (privileged) helper only trusts root-owned policy files" }
            if st.st_mode & (S_IWGRP | S_IWOTH) != 0 { return "\(p) is writable by group or others; an installed helper refuses it" }
        }
        return nil
    }
}

@main
struct NSHelperMain {
    static func main() {
        // Terminal signals are the supervisor's business: it forwards what the workload needs.
        signal(SIGINT, SIG_IGN)
        signal(SIGQUIT, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        // A file-size limit makes an audit write fail with EFBIG instead of killing the helper.
        signal(SIGXFSZ, SIG_IGN)

        var policyName = "default"
        var socketFD: Int32 = 3
        var fuzzFrames = 0
        var benchIterations = 0
        var fuzzSeed: UInt64 = 1
        var args = CommandLine.arguments.dropFirst()
        while let arg = args.popFirst() {
            switch arg {
            case "--policy":
                guard let v = args.popFirst() else { die("--policy needs a value") }
                policyName = v
            case "--setup-user":
                guard let v = args.popFirst() else { die("--setup-user needs a user name or uid") }
                setupUser(v)
            case "--bench":
                guard let v = args.popFirst(), let n = Int(v), n > 0 else { die("--bench needs an iteration count") }
                benchIterations = n
            case "--fuzz":
                guard let v = args.popFirst(), let n = Int(v), n > 0 else { die("--fuzz needs a frame count") }
                fuzzFrames = n
            case "--seed":
                guard let v = args.popFirst(), let n = UInt64(v) else { die("--seed needs a number") }
                fuzzSeed = n
            case "--fd":
                guard let v = args.popFirst(), let n = Int32(v), n >= 3 else { die("--fd needs a descriptor number >= 3") }
                socketFD = n
            default:
                die("unknown argument '\(arg)' (envyro-nshelper is started by envyro, not by hand)")
            }
        }

        // Privilege next (only the arguments were read), before any thread exists: keep only
        // CAP_SETUID and CAP_SETGID (for multi-range id maps; root also CAP_SETFCAP), nothing
        // inheritable or ambient, and become non-dumpable so the caller can't ptrace or read
        // this process. A helper with file capabilities, or run by root, is "privileged": it
        // then ignores its environment entirely.
        // Root of another user namespace (rootless podman runs its runtime in one) is not.
        let privileged = UserNamespace.isInitial && (geteuid() == 0 || envyro_effective_capabilities() != 0)
        // Root's single-id map puts host uid 0 in the container, which the kernel allows only
        // with CAP_SETFCAP (verify_root_map); no other caller can map host root.
        let setidCaps: UInt64 = (1 << 6) | (1 << 7) | (geteuid() == 0 ? (1 << 31) : 0)   // SETGID, SETUID, SETFCAP
        // Root keeps its set until the policy is read (below): a policy that lets root run
        // containers without a user namespace (runc's behaviour, the `oci` policy) needs more.
        if geteuid() != 0, envyro_keep_capabilities(setidCaps) != 0 {
            die("cannot drop capabilities: \(SystemError.current("capset"))")
        }
        _ = envyro_prctl(4 /* PR_SET_DUMPABLE */, 0, 0)

        if benchIterations > 0 {
            let dirs = PolicyLoader.searchDirectories(executablePath: Files.executablePath(), allowEnvironment: true)
            guard let policy = try? PolicyLoader.load(policyName, searchDirectories: dirs) else { die("--bench: policy \(policyName) not found") }
            HelperBench.run(iterations: benchIterations, policy: policy)
        }
        if fuzzFrames > 0 {
            // The fuzz target: this helper's own decoder and dispatcher, fed through a socket
            // pair it holds both ends of, with creates checked but not carried out.
            var pair: [Int32] = [-1, -1]
            guard envyro_seqpacket_pair(&pair) == 0, dup2(pair[0], 3) == 3 else { die("cannot make the fuzz socket pair") }
            if pair[0] != 3 { close(pair[0]) }
            socketFD = 3
            FuzzDriver.peer = pair[1]
            FuzzDriver.frames = fuzzFrames
            FuzzDriver.seed = fuzzSeed
        }

        // The socket must be a SEQPACKET socket: refuse to run on anything else.
        var type: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(socketFD, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != Int32(SOCK_SEQPACKET.rawValue) {
            die("fd \(socketFD) is not a SOCK_SEQPACKET socket (envyro-nshelper is started by envyro, not by hand)")
        }
        _ = fcntl(socketFD, F_SETFD, FD_CLOEXEC)

        let socket = SeqPacketSocket(fd: socketFD)
        let policy: Policy
        do {
            let dirs = PolicyLoader.searchDirectories(executablePath: Files.executablePath(), allowEnvironment: !privileged)
            policy = try PolicyLoader.load(policyName, searchDirectories: dirs)
            if privileged, let why = PolicyTrust.refusal(policy.sourcePath) {
                throw PolicyError.invalidValue(path: policy.sourcePath, key: "", reason: why)
            }
        } catch {
            refuseFirstRequest(socket, step: "policy", message: "\(error)", code: 78)
        }

        if geteuid() == 0 {
            // A container without a user namespace is built with the host's root: creating
            // namespaces and mounts (SYS_ADMIN), device nodes (MKNOD), lo (NET_ADMIN), dropping
            // its bounding set (SETPCAP), rlimits and oom_score_adj (SYS_RESOURCE), ownership
            // and paths in the rootfs (CHOWN, DAC_OVERRIDE, FOWNER), and the capabilities the
            // policy lets such a container keep. Otherwise root keeps only the id-map set, plus,
            // when the policy pools network namespaces (NetnsPool), what making and entering
            // them takes (SYS_ADMIN, NET_ADMIN). A root helper compromised would hold root's
            // files either way: the capability set is defence in depth, not the boundary.
            let rootContainers = !policy.namespaces.contains(.user)
            let rootSet: UInt64 = (1 << 21) | (1 << 27) | (1 << 12) | (1 << 8) | (1 << 24) | (1 << 0) | (1 << 1) | (1 << 3)
                | CapabilityNames.mask(policy.capabilities.keep)
            let poolSet: UInt64 = policy.pools.networkNamespaces > 0 && policy.namespaces.contains(.network) ? (1 << 21) | (1 << 12) : 0
            if envyro_keep_capabilities(setidCaps | (rootContainers ? rootSet : poolSet)) != 0 {
                die("cannot drop capabilities: \(SystemError.current("capset"))")
            }
        }

        let auditPath = policy.audit.path ?? AuditLog.defaultPath(uid: getuid(), allowEnvironment: !privileged)
        let audit: AuditLog
        do {
            try Files.makeDirectories(Files.directory(of: auditPath), mode: 0o700)
        } catch {
            refuseFirstRequest(socket, step: "audit", message: "cannot open the audit log: \(error)", code: 74)
        }
        // Every line is MACed with a key only this uid can read (made on first use, beside the
        // log): a process that can append to the log but can't read the key can't forge lines.
        let key: AuditKey
        do { key = try AuditKey.loadOrCreate(path: AuditKey.defaultPath(forLog: auditPath)) } catch {
            refuseFirstRequest(socket, step: "audit", message: "\(error)", code: 74)
        }
        do {
            audit = try AuditLog(path: auditPath, maxBytes: policy.audit.maxBytes, keep: policy.audit.keep, sync: policy.audit.fsync, key: key)
        } catch {
            refuseFirstRequest(socket, step: "audit", message: "cannot open the audit log: \(error)", code: 74)
        }

        let seccomp: SeccompCache
        do { seccomp = try SeccompCache(policy: policy, privileged: privileged) } catch {
            refuseFirstRequest(socket, step: "policy", message: "policy \(policy.name): \(error)", code: 78)
        }

        var pid: pid_t = 0, uid: uid_t = 0, gid: gid_t = 0
        if envyro_peer_credentials(socketFD, &pid, &uid, &gid) != 0 {
            die("cannot read the caller's credentials: \(SystemError.current("getsockopt", "SO_PEERCRED"))")
        }
        // Serve only a caller with our own real uid.
        if uid != getuid() {
            die("caller uid \(uid) is not this helper's uid \(getuid())", code: 77)
        }

        if FuzzDriver.frames > 0 {
            let server = HelperServer(socket: socket, policy: policy, audit: audit, caller: Caller(uid: getuid(), gid: getgid(), pid: getpid()), seccomp: seccomp)
            exit(FuzzDriver.run(server))
        }
        let server = HelperServer(
            socket: socket, policy: policy, audit: audit,
            caller: Caller(uid: uid, gid: gid, pid: pid), seccomp: seccomp)
        exit(server.serve())
    }
}
